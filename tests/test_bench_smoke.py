"""The benchmark harness runs end to end in its quick mode and writes a complete report (no timing assertions:
these are benchmarks, not timed tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

pytest.importorskip("gradio")


@pytest.mark.live
@pytest.mark.timeout(600)
def test_quick_run_writes_report_and_plot(tmp_path: Path) -> None:
    out, plot, raw = tmp_path / "BENCHMARKS.md", tmp_path / "concurrency.png", tmp_path / "results.json"
    env = dict(os.environ)
    p = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out), "--plot", str(plot),
                        "--json", str(raw)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=580)
    assert p.returncode == 0, p.stderr[-3000:]
    text = out.read_text()
    for heading in ("## Summary", "## 1. Warm per-call latency", "## 2. Against g4f", "## 3. Requests per call",
                    "## 4. Batch capacity", "## 5. Memory", "## 6. Start-up", "python -m bench.run --quick"):
        assert heading in text, heading
    res = json.loads(raw.read_text())
    # the figures are real measurements of real calls
    assert res["blocked"] == [], "something tried to leave loopback"
    assert all(v["median"] > 0 for v in res["latency"]["flux"].values())
    warm = res["latency"]["requests_warm"]["janusflux generate().data (flux)"]
    assert any("queue/join" in r for r in warm) and any("file=" in r for r in warm)
    assert res["capacity"]["runs"] and all(v["served"] for v in res["capacity"]["runs"].values())
    assert res["memory"].get("done") == 20, res["memory"]
    if res["g4f"]["g4f"] != "not installed":
        assert "ratio" in res["g4f"], res["g4f"].get("error")
    if plot.exists():
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from bench.common import TOKEN

    assert TOKEN not in text and TOKEN not in p.stderr and TOKEN not in p.stdout
