"""Shared fixtures: one fleet of live twins per test session (real Gradio servers on loopback) and sessions on it.

The HF flags are set here, before anything imports huggingface_hub or gradio_client (the janusflux.testing plugin
sets them too, as it loads first)."""

from __future__ import annotations

import os

os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.pop("HF_TOKEN", None)  # tests pass tokens explicitly

import secrets  # noqa: E402
from typing import Iterator  # noqa: E402

import pytest  # noqa: E402

import janusflux  # noqa: E402


@pytest.fixture(scope="session")
def fleet() -> Iterator["object"]:
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
