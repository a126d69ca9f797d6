"""ZeroGPU warnings and a full queue, seen from the session (issue 12 §4, §6), against live twins.

- A refused ZeroGPU token (the Space's `Falling back to IP-based quotas (InvalidRepoToken)` toast) becomes a
  `Warned` event ("warning") and a logged warning, once per Space per session.
- `Waiting for a GPU slot on this Space` and `Waiting for a GPU to become available` are told apart (`Log.kind`).
- gradio 6's `max_size=1` queue on a ZeroGPU Space (`queue_max_size=1`): concurrent calls see `Queue is full`; the
  session backs off or uses the mirror (no storm of joins) and every call succeeds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

import janusflux
from janusflux import Done, Log, Warned
from janusflux.session.events import FollowState, translate

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

DEV, DEV_MIRROR = "black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev"
SMALL = {"width": 256, "height": 256, "steps": 1}
FORGED = "1764355200:Zm9yZ2Vk:bm90LXNpZ25lZA=="  # not issued by the Hub twin: the Space falls back to IP quota


def _log_update(text: str, level: str = "warning") -> Any:
    return SimpleNamespace(type="status", code=SimpleNamespace(value="LOG"), log=(text, level))


@pytest.mark.parametrize("text,kind", [
    ("Falling back to IP-based quotas (InvalidRepoToken)", "quota-fallback"),
    ("Waiting for a GPU slot on this Space", "waiting-slot"),
    ("Waiting for a GPU to become available", "waiting-gpu"),
    ("No GPU was available after 60s", "no-gpu"),
    ("Successfully acquired a GPU", None),
    ("Loading the model", None),
])
def test_toast_kinds(text, kind):
    events = translate(_log_update(text), FollowState(where=DEV))
    assert isinstance(events[0], Log) and events[0].kind == kind and events[0].message == text
    warned = [e for e in events if isinstance(e, Warned)]
    assert len(warned) == (kind == "quota-fallback")
    if warned:
        assert warned[0].type == "warning" and warned[0].code == "InvalidRepoToken"
        assert "not applied" in warned[0].message and "token" in warned[0].message


def _events(s: janusflux.Session, **kw: Any) -> list[Any]:
    events = list(s.stream("flux", "a lighthouse", **SMALL, **kw))
    assert isinstance(events[-1], Done)
    return events


def test_refused_zerogpu_token_warns_once_per_space(fleet, tmp_path, caplog):
    """The fallback toast on every call; the warning event and log line once per Space per session."""
    caplog.set_level(logging.WARNING, logger="janusflux")
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=False, zerogpu_token=FORGED,
                           cache_dir=str(tmp_path / "c")) as s:
        runs = [_events(s) for _ in range(2)]
        fleet.set_fault(DEV, queue_full=True, times=1)  # the next call goes to the mirror: a second warning
        runs.append(_events(s))
    fallbacks = [[e for e in run if isinstance(e, Log) and e.kind == "quota-fallback"] for run in runs]
    assert all(len(f) == 1 for f in fallbacks), fallbacks  # the Space's toast is relayed each time
    warned = [(e.space_id, e.code) for run in runs for e in run if isinstance(e, Warned)]
    assert warned == [(DEV, "InvalidRepoToken"), (DEV_MIRROR, "InvalidRepoToken")]
    logged = [r.getMessage() for r in caplog.records if "InvalidRepoToken" in r.getMessage()]
    assert len(logged) == 2 and "not applied" in logged[0]
    assert FORGED not in caplog.text


@pytest.mark.parametrize("toast,kind", [("slot", "waiting-slot"), ("gpu", "waiting-gpu")])
def test_waiting_for_a_slot_is_told_from_waiting_for_a_gpu(fleet, session, toast, kind):
    """The waiting toast before a queue timeout keeps its kind; the call then succeeds on the mirror."""
    fleet.set_zerogpu(DEV, waiting_toast=toast)
    fleet.set_fault(DEV, queue_timeout=True, times=1)
    try:
        events = _events(session)
    finally:
        fleet.set_zerogpu(DEV, waiting_toast="gpu")
    kinds = [e.kind for e in events if isinstance(e, Log) and e.space_id == DEV]
    assert kind in kinds and ({"waiting-slot", "waiting-gpu"} - {kind}).isdisjoint(kinds)
    assert events[-1].result.space_id == DEV_MIRROR


# --- a queue of max_size 1 (gradio 6 on a ZeroGPU Space) ------------------------------------------------------------
CALLS = 8
MAX_JOINS_PER_SPACE = 12  # 8 calls over 2 Spaces; each refusal costs one extra join: far below a storm


def test_queue_full_is_calm(tmp_path):
    """8 concurrent agenerate on FLUX.1-dev and its mirror, one GPU slot and a queue of one per Space: some joins
    get `Queue is full`; the session cools that Space down, uses the mirror or backs off, and all 8 succeed."""
    from janusflux.twins import start_twins

    with start_twins(["flux-dev"], concurrency=1, queue_max_size=1, delay=0.05, quota=1e9) as f:
        async def main() -> list[Any]:
            with janusflux.Session(hf_endpoint=f.hub_url, token=False, max_wait=120,
                                   cache_dir=str(tmp_path / "c")) as s:
                return await asyncio.gather(*(s.agenerate("flux", f"fox {i}", seed=i, width=256, height=256,
                                                          steps=4) for i in range(CALLS)))

        results = asyncio.run(main())
        joins = Counter(r.server for r in f.requests if r.path.endswith("/queue/join"))
    assert len(results) == CALLS and all(r.space_id in (DEV, DEV_MIRROR) for r in results)
    assert sum(joins.values()) > CALLS, "no call met 'Queue is full': the test proves nothing"
    assert all(n <= MAX_JOINS_PER_SPACE for n in joins.values()), joins
