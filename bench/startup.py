"""Start-up: ``import janusflux`` against ``import gradio_client`` (fresh interpreters, interleaved), and the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

from .common import interleave, median, paired_ratio


def _run(args: list[str]) -> None:
    p = subprocess.run(args, capture_output=True, text=True, env={**os.environ}, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {p.stderr.strip()[-300:]}")


def cli_command() -> list[str] | None:
    try:
        import janusflux.cli  # noqa: F401
    except ImportError:
        return None
    exe = shutil.which("janusflux", path=os.path.dirname(sys.executable)) or shutil.which("janusflux")
    return [exe, "--help"] if exe else [sys.executable, "-m", "janusflux.cli", "--help"]


def measure(rounds: int) -> dict[str, Any]:
    py = sys.executable
    variants = {
        "python -c pass": lambda: _run([py, "-c", "pass"]),
        "import gradio_client": lambda: _run([py, "-c", "import gradio_client"]),
        "import janusflux": lambda: _run([py, "-c", "import janusflux"]),
    }
    cli = cli_command()
    if cli:
        variants["janusflux --help"] = lambda: _run(cli)
    t = interleave(variants, rounds, warmup=1)
    out: dict[str, Any] = {k: median(v) for k, v in t.items()}
    out["ratio"] = paired_ratio(t["import janusflux"], t["import gradio_client"])
    base = t["python -c pass"]
    out["ratio_net"] = paired_ratio([a - b for a, b in zip(t["import janusflux"], base, strict=True)],
                                    [a - b for a, b in zip(t["import gradio_client"], base, strict=True)])
    out["cli"] = " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cli)) if cli else None
    # what importing janusflux pulls in (does it import gradio_client/httpx eagerly?)
    p = subprocess.run([py, "-c", "import sys, janusflux; print(' '.join(m for m in ('gradio_client', 'httpx', "
                        "'huggingface_hub', 'PIL', 'tenacity') if m in sys.modules))"],
                       capture_output=True, text=True, env={**os.environ})
    out["janusflux_imports"] = p.stdout.strip()
    return out
