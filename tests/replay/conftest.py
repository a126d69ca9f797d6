"""The replay suite: one test per scenario, each with its cassette in the top-level ``cassettes/`` folder.

``pytest tests/replay`` replays them with the network blocked and no twin running; ``pytest tests/replay
--janusflux-record`` records them all again from the local twins (see :mod:`janusflux.testing`)."""

from __future__ import annotations

from pathlib import Path

import pytest

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


@pytest.fixture
def janusflux_cassette_dir() -> Path:
    return CASSETTES


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.replay)
