"""Both notebooks are executed end to end (nbclient, the venv's own kernel) against local twins they start
themselves, so they cannot rot: every cell must run, and the cells assert what they show."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run_notebook(name: str, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # "python3" is ipykernel's own spec; jupyter_client starts it with this interpreter (the venv's python).
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute(env=_kernel_env())
    return nb


def _kernel_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT", "JANUSFLUX_LOCAL")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def outputs(nb, kind: str) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
            if o.get("output_type") == kind]


@pytest.mark.live
def test_quickstart_notebook_runs(tmp_path):
    nb = run_notebook("quickstart.ipynb", tmp_path)
    assert not outputs(nb, "error")
    shown = outputs(nb, "execute_result") + outputs(nb, "display_data")
    assert any("image/png" in o.get("data", {}) for o in shown)  # the image is displayed inline
    assert any("text/html" in o.get("data", {}) and "<img" in o["data"]["text/html"] for o in shown)  # a row
    text = "".join(o.get("text", "") for o in outputs(nb, "stream") if o.get("name") == "stdout")
    assert "What is in this picture?" in text and "step 6 of 6" in text
    # progress is one display updated in place (its last state: a full bar), not printed lines, and no warning
    bars = [o["data"] for o in outputs(nb, "display_data") if "<progress" in o.get("data", {}).get("text/html", "")]
    assert [b["text/plain"] for b in bars] == ["flux: 6/6"], bars
    assert any(o["data"].get("text/plain") == "janus: done" for o in outputs(nb, "display_data"))  # chat: a status
    stderr = "".join(o.get("text", "") for o in outputs(nb, "stream") if o.get("name") == "stderr")
    assert "TqdmWarning" not in stderr and "IProgress not found" not in stderr and "%|" not in stderr
    reprs = [o["data"]["text/plain"] for o in outputs(nb, "execute_result") if "text/plain" in o.get("data", {})]
    assert any(r.startswith("TextResult(") and "seed=" in r and "timings=" in r for r in reprs)


@pytest.mark.live
def test_batch_notebook_runs(tmp_path):
    nb = run_notebook("batch.ipynb", tmp_path)
    assert not outputs(nb, "error")
    text = "".join(o.get("text", "") for o in outputs(nb, "stream") if o.get("name") == "stdout")
    assert "4 done, 0 skipped, 1 failed" in text and "0 done, 4 skipped" in text and "interrupted" in text
    assert any("image/png" in o.get("data", {}) for o in outputs(nb, "display_data"))
