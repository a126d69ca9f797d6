"""The README's plugin example, run as written: a user's function calling janusflux and its test, in a fresh folder.

pytest runs it twice in a subprocess (the plugin is loaded from its entry point, as a user gets it): the first run
finds no cassette, starts the twins and records; the second replays with recording forbidden, the network blocked by
the plugin and gradio made unimportable (so no twin can start)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ports import free_base_port

EXAMPLE = Path(__file__).with_name("plugin_example.py")


def split_example(text: str) -> dict[str, str]:
    """The example's files: each starts at a comment line naming it (``# name.py: ...``)."""
    files: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^# (\w+\.py):", line)
        if m:
            current = m.group(1)
            files[current] = []
        if current is not None:
            files[current].append(line)
    return {name: "\n".join(lines).strip() + "\n" for name, lines in files.items()}


def run_pytest(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=110)


def test_split_example_gives_code_and_test() -> None:
    files = split_example(EXAMPLE.read_text())
    assert sorted(files) == ["test_thumbnails.py", "thumbnails.py"]
    assert "def test_thumbnail(janusflux_cassette)" in files["test_thumbnails.py"]
    assert len(EXAMPLE.read_text().splitlines()) <= 20


@pytest.mark.timeout(240)
def test_readme_plugin_example_records_then_replays_offline(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name, text in split_example(EXAMPLE.read_text()).items():
        (project / name).write_text(text)
    (project / "pytest.ini").write_text("[pytest]\n")  # keep pytest from finding janusflux's own configuration
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "JANUSFLUX_", "PYTEST_"))}
    env.update(PYTHONPATH=str(project))
    port = str(free_base_port())

    first = run_pytest(project, f"--janusflux-port={port}", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 passed" in first.stdout
    cassette = project / "cassettes" / "test_thumbnails__test_thumbnail.yaml"
    assert cassette.is_file()
    text = cassette.read_text()
    assert f"http://127.0.0.1:{int(port) + 3}/gradio_api/queue/join" in text  # FLUX.1-schnell's twin
    assert "\"data\":[\"a red fox\",7,false,256,256," in text.replace(", ", ",")

    no_gradio = tmp_path / "no_gradio"
    (no_gradio / "gradio").mkdir(parents=True)
    (no_gradio / "gradio" / "__init__.py").write_text("raise ImportError('gradio is hidden in this test')\n")
    env["PYTHONPATH"] = os.pathsep.join([str(no_gradio), str(project)])
    second = run_pytest(project, f"--janusflux-port={port}", "--janusflux-record-mode=none", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "1 passed" in second.stdout

    # The replay really depends on the cassette: without it, recording forbidden, the test fails.
    cassette.unlink()
    third = run_pytest(project, f"--janusflux-port={port}", "--janusflux-record-mode=none", env=env)
    assert third.returncode != 0
    assert "no cassette" in third.stdout


@pytest.mark.timeout(240)
def test_example_without_a_seed_replays(tmp_path: Path) -> None:
    """Without ``seed=`` the SDK draws one: under a cassette the draw is the same when recording and replaying (a
    seed source named after the test), so the replayed request matches; an unrecorded request fails the test with
    a message that says what was not in the cassette."""
    project = tmp_path / "project"
    project.mkdir()
    for name, text in split_example(EXAMPLE.read_text()).items():
        (project / name).write_text(text.replace(", seed=7", ""))
    assert "seed" not in (project / "thumbnails.py").read_text()
    (project / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "JANUSFLUX_", "PYTEST_"))}
    env.update(PYTHONPATH=str(project))
    port = str(free_base_port())

    first = run_pytest(project, f"--janusflux-port={port}", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_pytest(project, f"--janusflux-port={port}", "--janusflux-record-mode=none", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "1 passed" in second.stdout

    # A different call than the recorded one is refused, and the failure says so in plain words.
    (project / "thumbnails.py").write_text((project / "thumbnails.py").read_text().replace("256", "512"))
    third = run_pytest(project, f"--janusflux-port={port}", "--janusflux-record-mode=none", env=env)
    assert third.returncode != 0
    assert "not in the cassette" in third.stdout, third.stdout
