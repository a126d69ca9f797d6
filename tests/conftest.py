"""Shared fixtures: one fleet of live twins per test session (real Gradio servers on loopback) and sessions on it.

No test-only environment: HF_HUB_DISABLE_TELEMETRY / GRADIO_ANALYTICS_ENABLED are not set here (nor by the plugin or
.ci/run), so the suite runs the SDK the way a user's process does. The one change: a developer's HF_TOKEN is removed,
because every test passes its token explicitly (a real token must never reach the twins, and "no token" tests must
mean no token)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

import janusflux

os.environ.pop("HF_TOKEN", None)  # tests pass tokens explicitly


@pytest.fixture(scope="session")
def fleet() -> Iterator[object]:
    """All twins and the Hub twin, started once. Quota is large; tests that exercise quota use their own token
    (each token is its own user with its own quota) or their own fleet."""
    from janusflux.twins import start_twins

    f = start_twins(port=0, delay=0.002, quota=1e9)
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(autouse=True)
def _clean_fleet(request: pytest.FixtureRequest) -> Iterator[None]:
    """Leave no fault or stage behind for the next test."""
    yield
    if "fleet" in request.fixturenames:
        f = request.getfixturevalue("fleet")
        f.clear_faults()
        for space in f.urls:
            f.set_stage(space, "RUNNING")


@pytest.fixture
def token() -> str:
    """A fresh HF token: the Hub twin treats it as a new free user with a full quota."""
    return "hf_test" + secrets.token_hex(16)


@pytest.fixture
def session(fleet, token, tmp_path) -> Iterator[janusflux.Session]:
    """A session on the Hub twin with a user token (sent to the Hub twin only)."""
    s = janusflux.Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path / "cache"), max_wait=30)
    try:
        yield s
    finally:
        s.close()
