"""The README's Python examples run as written (against the twins, through the default session)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

import janusflux

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_first_screen_has_exactly_two_commands():
    head = README.read_text().split("---", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", head, re.S)
    assert len(commands) == 2 and all(len(c.strip().splitlines()) == 1 for c in commands)
    assert "--local" in commands[0] and "pytest" in commands[1]
    assert commands[1].strip() in Path(README.parent, ".ci", "run").read_text()


@pytest.mark.live
def test_three_lines_then_async_and_stream(fleet, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    janusflux.configure(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path / "cache"))
    try:
        three, async_and_stream = blocks()[0], blocks()[1]
        exec(compile(three, "README:three-lines", "exec"), {})
        with Image.open(tmp_path / "lighthouse.png") as im:
            assert im.size == (1376, 768) and im.text["prompt"] == "a lighthouse at dawn"
        exec(compile(async_and_stream, "README:async-stream", "exec"), {})
        out = capsys.readouterr().out
        assert "1376x768" in out and "done" in out
        with Image.open(tmp_path / "fox.png") as im:
            assert im.size == (512, 512) and im.text["seed"] == "42"
    finally:
        janusflux.close()
