"""The twins are quiet unless asked: nothing from gradio or the servers on stdout/stderr; a busy port is explained."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAIN = ("HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED", "HF_TOKEN")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PLAIN}
    env.update(PYTHONPATH=str(ROOT), HF_HOME=str(tmp_path / "hf-home"), PYTHONUNBUFFERED="1",
               GRADIO_EXAMPLES_CACHE=str(tmp_path / "examples"))  # a fresh cache: gradio prints more the first time
    return env


START_STOP = """
import httpx
from janusflux.twins import start_twins
with start_twins(port=0, delay=0.0{extra}) as fleet:
    httpx.get(fleet.url("black-forest-labs/FLUX.1-dev") + "/config").raise_for_status()
"""


def _start_stop(tmp_path: Path, extra: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", START_STOP.format(extra=extra)], env=_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)


def test_start_twins_prints_nothing(tmp_path):
    proc = _start_stop(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "" and proc.stderr == ""


def test_start_twins_verbose_lets_gradio_speak(tmp_path):
    proc = _start_stop(tmp_path, ", verbose=True")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Will cache examples" in proc.stdout


def _serve(tmp_path: Path, *args: str) -> subprocess.Popen:
    code = "import sys; from janusflux.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, "serve", *args], env=_env(tmp_path), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_prints_only_its_addresses(tmp_path):
    proc = _serve(tmp_path, "all", "--port", "0")
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:  # wait for the state "ready" (the export line), not for a time
        lines.append(line)
        if line.startswith("export HF_ENDPOINT="):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    lines += out.splitlines(keepends=True)
    text = "".join(lines)
    assert proc.returncode == 0, err
    assert err == ""
    assert "Will cache" not in text
    assert [ln.split()[0] for ln in text.splitlines()] == [
        "Hub", "black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev", "black-forest-labs/FLUX.1-schnell",
        "deepseek-ai/Janus-Pro-7B", "roxky/Janus-Pro-7B", "export", "twins"]


def test_serve_on_a_busy_port_names_it_and_says_what_to_do(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _serve(tmp_path, "flux-schnell", "--port", str(port))
        out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert f"port {port} on 127.0.0.1 (the Hub twin) is already in use" in err
    assert "--port 0" in err and "Traceback" not in err
