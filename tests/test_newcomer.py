"""A newcomer's first hour, as a newcomer has it (issue 14, "Tests see what users see").

Every command runs in a child process with a plain environment: none of the test-only variables
(HF_HUB_DISABLE_TELEMETRY, GRADIO_ANALYTICS_ENABLED, ...), no HF_TOKEN, no HF_ENDPOINT unless the recipe exports it,
and an empty HF_HOME (so huggingface_hub fetches and caches its agent-harness registry as on a fresh machine). The
commands are the venv's own `janusflux` console script with this checkout first on PYTHONPATH (the set-up commands
that make the venv are checked by tests/test_readme.py).

1. The README's offline recipe: `janusflux serve all` in the background, export the HF_ENDPOINT it prints, run the
   README's Python examples (three lines, then async and streamed) as a script.
2. The README's first screen: `janusflux generate flux "a lighthouse at dawn" --local -o lighthouse.png`.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEST_ONLY = ("HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED", "HF_TOKEN", "HF_ENDPOINT", "DO_NOT_TRACK",
             "DISABLE_TELEMETRY", "HF_HUB_DISABLE_IMPLICIT_TOKEN", "HF_HUB_OFFLINE", "JANUSFLUX_LOCAL")
START_TIMEOUT = 180.0  # seconds for `serve all` to print its HF_ENDPOINT on a loaded 2-core machine


def janusflux_command() -> list[str]:
    """The venv's `janusflux` console script (what the README's commands run)."""
    script = Path(sys.executable).parent / "janusflux"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from janusflux.cli import main; sys.exit(main())"]


def plain_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
    env.update(PYTHONPATH=str(ROOT), HF_HOME=str(home), **extra)
    return env


@pytest.fixture
def served(tmp_path) -> Iterator[str]:
    """`janusflux serve all --port 0` in the background; yields the HF_ENDPOINT it prints, stops it with Ctrl-C."""
    proc = subprocess.Popen([*janusflux_command(), "serve", "all", "--port", "0"],
                            env=plain_env(tmp_path / "serve-home"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=tmp_path)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=START_TIMEOUT)
            assert line is not None, "serve all ended before printing HF_ENDPOINT:\n" + "".join(seen)
            seen.append(line)
            m = re.match(r"export HF_ENDPOINT=(\S+)", line.strip())
            if m:
                break
        yield m.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    rest = []
    while (line := lines.get(timeout=10)) is not None:
        rest.append(line)
    assert "twins stopped" in "".join(rest), "".join(seen + rest)


def readme_python() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)


def test_offline_recipe_runs_the_readme_examples_in_a_plain_environment(served, tmp_path):
    three_lines, async_and_stream = readme_python()[:2]
    script = tmp_path / "first.py"
    script.write_text(three_lines + "\n" + async_and_stream)
    proc = subprocess.run([sys.executable, str(script)], env=plain_env(tmp_path / "home", HF_ENDPOINT=served),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with Image.open(tmp_path / "lighthouse.png") as im:  # aspect_ratio="16:9" at FLUX's default area
        assert im.size == (1376, 768) and im.text["prompt"] == "a lighthouse at dawn"
    assert "1376x768" in proc.stdout and "done" in proc.stdout  # Janus described the picture; the stream ended
    with Image.open(tmp_path / "fox.png") as im:
        assert im.size == (512, 512) and im.text["seed"] == "42"


def test_first_screen_command_in_a_plain_environment(tmp_path):
    head = README.read_text().split("---", 1)[0]
    first = re.findall(r"```bash\n(.*?)```", head, re.DOTALL)[0].strip()
    words = shlex.split(first.split("&&")[-1])  # `.venv/bin/janusflux generate flux "..." --local -o lighthouse.png`
    assert words[0] == ".venv/bin/janusflux" and "--local" in words, first
    proc = subprocess.run([*janusflux_command(), *words[1:]], env=plain_env(tmp_path / "home"), capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path / words[words.index("-o") + 1]
    with Image.open(out) as im:
        assert im.size == (1024, 1024) and im.text["prompt"] == words[words.index("flux") + 1]
