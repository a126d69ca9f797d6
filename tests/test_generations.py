"""Fault-matrix rows per generation of ZeroGPU texts (issue 12 §7), against live twins, for sync, async and stream.

The twins speak each generation of the `spaces` package (`zerogpu_wording`) with production's hardware factor (1.5:
FLUX.1-dev's 75 s asks for 112 s) and anonymous identity (an IP identity, "ip"). For every wording x mode:

- ``quota``: a PRO user whose quota does not fit, with a wait (the quota window is 1 s here) that fits max_wait ->
  one Waiting, then success on the same Space (two joins, no mirror). The plain-text generation says "runnning out of
  daily ZeroGPU quotas" instead, which is a spent allowance -> the ``spent`` expectations.
- ``spent``: the daily allowance is spent (fault ``daily_spent``) -> exactly one join, one QuotaExceededError with
  ``.spent``, and its ``retry_after`` / ``resets_at`` from the Hub twin's quota API (asked once).
- ``no_gpu``: no GPU on the official Space (queue timeout) -> success on the mirror.

And the anonymous path (no token) per wording: the user-quota text with a wait beyond max_wait (or none) and the runs
limit are raised at once: one join, no mirror, no quota lookup (no token to ask with), never "space" scope.

The long window (a day) of the ``spent`` and anonymous rows cannot roll over mid-test.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import janusflux
from janusflux import Done, Fallback, QuotaExceededError, Waiting

pytestmark = [pytest.mark.live, pytest.mark.timeout(30)]

DEV, DEV_MIRROR = "black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev"
ALICE, BOB = "hf_alice_generations", "hf_bob_generations"  # a free user, a PRO user
USERS = {ALICE: {"name": "alice", "plan": "free"}, BOB: {"name": "bob", "plan": "pro"}}
SMALL = {"width": 256, "height": 256, "steps": 1}
WORDINGS = ("0.51", "2025", "2025-plain", "2024", "2024-html")
MODES = ("sync", "async", "stream")
ROWS = ("quota", "spent", "no_gpu")
WINDOW = 1.0  # seconds: the quota row's window, so its wait prints as 0:00:01 (the other rows keep a day)
QUOTA_PATH = "/api/spaces/zero-gpu/quota"
#: what each generation's "does not fit" text means (the plain-text form only says the daily quota is running out)
QUOTA_OUTCOME = {"0.51": "wait", "2025": "wait", "2024": "wait", "2024-html": "wait", "2025-plain": "spent"}
#: the anonymous caller's "does not fit" text: a wait beyond max_wait (user), none at all (2024-html), or spent
ANON_QUOTA_SCOPE = {"0.51": "user", "2025": "user", "2024": "user", "2024-html": "user", "2025-plain": "daily"}
ANON_RUNS_SCOPE = {"0.51": "runs", "2025": "runs", "2024": "daily", "2024-html": "daily", "2025-plain": "daily"}


@pytest.fixture(scope="module")
def gen_fleet():
    from janusflux.twins import start_twins

    with start_twins(["flux-dev"], users=USERS, quota=300, quota_window=86400, hardware_factor=1.5,
                     anonymous="ip", delay=0.0) as f:
        yield f


@pytest.fixture(scope="module")
def sessions(gen_fleet, tmp_path_factory):
    """One session per caller, shared by the rows that cool no Space down (their connections stay warm)."""
    made: dict[Any, janusflux.Session] = {}

    def get(token: str | bool) -> janusflux.Session:
        if token not in made:
            made[token] = session(gen_fleet, token, tmp_path_factory.mktemp("gen"))
        return made[token]

    yield get
    for s in made.values():
        s.close()


@pytest.fixture(autouse=True)
def _fresh(gen_fleet):
    gen_fleet.reset_quota()
    gen_fleet.clear_faults()
    gen_fleet.clear_requests()
    yield
    gen_fleet.set_zerogpu(None, wording="0.51")


def run(s: janusflux.Session, mode: str) -> tuple[Any, BaseException | None, list[Any]]:
    """(result, error, events) of one call in ``mode``; events only in stream mode."""
    events: list[Any] = []
    try:
        if mode == "sync":
            return s.generate("flux", "a fox", **SMALL), None, events
        if mode == "async":
            return asyncio.run(s.agenerate("flux", "a fox", **SMALL)), None, events
        for ev in s.stream("flux", "a fox", **SMALL):
            events.append(ev)
        assert isinstance(events[-1], Done)
        return events[-1].result, None, events
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return None, e, events


def joins(fleet: Any, space: str | None = None) -> int:
    return sum(1 for r in fleet.requests if r.path.endswith("/queue/join") and space in (None, r.server))


def quota_lookups(fleet: Any) -> int:
    return sum(1 for r in fleet.requests if r.server == "hub" and r.path == QUOTA_PATH)


def session(fleet: Any, token: str | bool, tmp_path: Any) -> janusflux.Session:
    return janusflux.Session(hf_endpoint=fleet.hub_url, token=token, max_wait=20, cache_dir=str(tmp_path / "c"))


def assert_spent(err: BaseException | None, fleet: Any, identity: str) -> None:
    """One refusal, raised at once, its reset time from the quota API (asked once)."""
    assert isinstance(err, QuotaExceededError) and err.spent, repr(err)
    assert joins(fleet) == 1, "a spent allowance must not be retried"
    assert quota_lookups(fleet) == 1
    resets = fleet.zero.ledger.resets_at(identity)
    assert err.resets_at is not None and abs(err.resets_at.timestamp() - resets) < 0.01
    assert err.retry_after is not None and 0 <= err.retry_after <= resets - time.time() + 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wording", WORDINGS)
def test_quota_that_does_not_fit(gen_fleet, sessions, monkeypatch, wording, mode):
    gen_fleet.set_zerogpu(None, wording=wording)
    s = sessions(BOB)
    s.generate("flux", "warm-up", **SMALL)  # connected: the refused call reaches the Space within its window
    gen_fleet.reset_quota()
    gen_fleet.clear_requests()
    monkeypatch.setattr(gen_fleet.zero.ledger, "window", WINDOW)
    gen_fleet.zero.ledger.book("user:bob", gen_fleet.zero.ledger.base("user:bob") - 50)  # 50 s left, 112 asked
    result, err, events = run(s, mode)
    if QUOTA_OUTCOME[wording] == "spent":
        assert isinstance(err, QuotaExceededError) and err.spent, repr(err)
        assert joins(gen_fleet) == 1 and quota_lookups(gen_fleet) == 1  # (the short window may have rolled since)
        return
    assert err is None, f"expected success after one wait, got {err!r}"
    assert result.space_id == DEV and joins(gen_fleet, DEV) == 2 and joins(gen_fleet) == 2
    assert quota_lookups(gen_fleet) == 0, "only a spent allowance asks the quota API"
    if mode == "stream":
        waits = [e for e in events if isinstance(e, Waiting)]
        assert len(waits) == 1 and 0 < waits[0].seconds <= WINDOW + 0.1 and "quota" in waits[0].reason.lower()
        assert not [e for e in events if isinstance(e, Fallback)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wording", WORDINGS)
def test_spent_allowance(gen_fleet, sessions, wording, mode):
    gen_fleet.set_zerogpu(None, wording=wording)
    gen_fleet.zero.ledger.book("user:alice", 1)  # the day's window has started: the quota API knows its reset
    gen_fleet.set_fault(None, daily_spent=True, times=1)
    _, err, events = run(sessions(ALICE), mode)
    assert_spent(err, gen_fleet, "user:alice")
    assert err.retry_after is not None and err.retry_after > 86000  # a day's window, not a wait of 0:00:00
    assert not [e for e in events if isinstance(e, (Waiting, Fallback))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wording", WORDINGS)
def test_no_gpu_goes_to_the_mirror(gen_fleet, tmp_path, wording, mode):
    gen_fleet.set_zerogpu(None, wording=wording)
    gen_fleet.set_fault(DEV, queue_timeout=True, times=1)
    with session(gen_fleet, ALICE, tmp_path) as s:  # its own: the refused Space cools down for this session
        result, err, events = run(s, mode)
    assert err is None, f"expected success on the mirror, got {err!r}"
    assert result.space_id == DEV_MIRROR and joins(gen_fleet, DEV) == 1 and joins(gen_fleet, DEV_MIRROR) == 1
    if mode == "stream":
        assert [(e.from_space, e.to_space) for e in events if isinstance(e, Fallback)] == [(DEV, DEV_MIRROR)]


# --- the anonymous path: an IP identity, as in production -------------------------------------------------------
@pytest.mark.parametrize("wording", WORDINGS)
def test_anonymous_quota_raises_at_once(gen_fleet, sessions, wording):
    gen_fleet.set_zerogpu(None, wording=wording)
    gen_fleet.zero.ledger.book("ip:127.0.0.1", 250)  # 50 s left, 112 s asked; the wait is a day away
    _, err, events = run(sessions(False), "stream")
    assert isinstance(err, QuotaExceededError) and err.scope == ANON_QUOTA_SCOPE[wording], repr(err)
    assert joins(gen_fleet) == 1 and joins(gen_fleet, DEV_MIRROR) == 0, "no mirror bouncing"
    assert quota_lookups(gen_fleet) == 0 and err.resets_at is None
    assert not [e for e in events if isinstance(e, (Waiting, Fallback))]


@pytest.mark.parametrize("wording", WORDINGS)
def test_anonymous_runs_limit_raises_at_once(gen_fleet, sessions, wording):
    gen_fleet.set_zerogpu(None, wording=wording)
    gen_fleet.set_fault(None, runs_limit=True, times=1)
    _, err, events = run(sessions(False), "stream")
    assert isinstance(err, QuotaExceededError) and err.scope == ANON_RUNS_SCOPE[wording], repr(err)
    assert err.spent and err.retry_after is None and err.resets_at is None  # no token: nothing to ask
    assert joins(gen_fleet) == 1 and joins(gen_fleet, DEV_MIRROR) == 0 and quota_lookups(gen_fleet) == 0
    assert not [e for e in events if isinstance(e, (Waiting, Fallback))]


def matrix_counts() -> dict[str, int]:
    """Tests per generation and in all, from the parametrization above (RELIABILITY.md and the README quote them)."""
    per_wording = len(ROWS) * len(MODES) + 2  # the signed-in rows in every mode, and the two anonymous rows
    return {**{w: per_wording for w in WORDINGS}, "total": per_wording * len(WORDINGS)}


if __name__ == "__main__":  # python tests/test_generations.py
    print(matrix_counts())
