"""Cancellation: cancelling an async generation (or leaving a stream early) cancels the job on the Space and frees
its GPU slot, so that with one slot (concurrency 1) the next call starts at once instead of waiting.

The fleet here has one GPU slot per Space and a slow FLUX.1-dev (0.2 s per step): a 40-step job holds the slot for
8 s. Without a real cancellation the next call would wait for that slot (and the Space would say "Waiting for a GPU
to become available"); with it, the next 2-step call is done in well under 3 s.

A Gradio limit shapes these tests: a generator job cancelled while its *first* step runs (before its first yield;
for a ZeroGPU Space that includes the wait for a GPU) is never closed by the Gradio server, so its GPU slot stays
held (reproduced with plain gradio_client against the twin). The tests cancel mid-run (after the first preview),
which Gradio does stop; the early cancel is tested separately, on its own fleet, and marked xfail.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import time
from typing import Any, Iterator

import pytest

import janusflux
from janusflux import Log, Preview, Progress, Waiting

pytestmark = [pytest.mark.live, pytest.mark.timeout(30)]

DEV = "black-forest-labs/FLUX.1-dev"
LONG = {"width": 256, "height": 256, "steps": 40}  # 8 s of GPU time at 0.2 s per step
SHORT = {"width": 256, "height": 256, "steps": 2}
PROMPT_AFTER = 3.0  # seconds the next call may take


@pytest.fixture(scope="module")
def slow_fleet() -> Iterator[Any]:
    from janusflux.twins import start_twins

    f = start_twins(["flux-dev"], quota=1e9, delay=0.2, concurrency=1)
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(autouse=True)
def _slot_free_at_start(request: pytest.FixtureRequest) -> None:
    if "slow_fleet" in request.fixturenames:
        assert slot_free(request.getfixturevalue("slow_fleet"), within=10.0), "a previous test leaked the GPU slot"


@pytest.fixture
def s(slow_fleet, token, tmp_path) -> Iterator[janusflux.Session]:
    with janusflux.Session(hf_endpoint=slow_fleet.hub_url, token=token, cache_dir=str(tmp_path), max_wait=20) as ses:
        ses.generate("flux", "warm", width=256, height=256, steps=1)  # connected: timings below are the job's
        yield ses


def slot_free(fleet: Any, space: str = DEV, within: float = 3.0) -> bool:
    """True once the Space twin's only GPU slot is free again (polls for up to ``within`` seconds)."""
    sem = fleet.states[space].slots
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if sem.acquire(blocking=False):
            sem.release()
            return True
        time.sleep(0.05)
    return False


def wait_busy(fleet: Any, space: str = DEV, within: float = 5.0, then: float = 0.7) -> None:
    """Wait until the job holds the slot (it is running on the Space), then ``then`` seconds more so that it is past
    its first step (see the module docstring)."""
    sem = fleet.states[space].slots
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if sem.acquire(blocking=False):
            sem.release()
            time.sleep(0.05)
            continue
        time.sleep(then)
        return
    raise AssertionError("the job never started on the Space")


def next_call(session: janusflux.Session) -> tuple[float, list[Any]]:
    t0 = time.monotonic()
    events = list(session.stream("flux", "next", **SHORT))
    return time.monotonic() - t0, events


def waited_for_gpu(events: list[Any]) -> bool:
    return any(isinstance(e, Log) and "Waiting for a GPU" in e.message for e in events)


def cancels(fleet: Any, since: int) -> list[Any]:
    return [r for r in fleet.requests[since:] if r.server == DEV and "cancel" in r.path]


def test_cancel_agenerate_frees_the_slot(s, slow_fleet):
    """task.cancel() on agenerate -> CancelledError for the caller, the job is cancelled on the Space (a cancel
    request reaches the twin and its GPU slot is free again), and the next call starts at once."""
    mark = len(slow_fleet.requests)
    unhandled: list[dict[str, Any]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
        task = asyncio.create_task(s.agenerate("flux", "slow", **LONG))
        await loop.run_in_executor(None, wait_busy, slow_fleet)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - t0 < 1.0, "cancel() must return promptly"
        await asyncio.sleep(0.5)  # the worker thread ends
        del task
        gc.collect()
        await asyncio.sleep(0)

    asyncio.run(main())
    assert slot_free(slow_fleet), "the cancelled job still holds the Space's GPU slot"
    assert cancels(slow_fleet, mark), "no cancel request reached the Space"
    took, events = next_call(s)
    assert isinstance(events[-1], janusflux.Done)
    assert not waited_for_gpu(events), "the next call waited for the cancelled job's GPU"
    assert took < PROMPT_AFTER, f"the next call took {took:.1f}s: the cancelled job kept running"
    # the shielded worker future's CancelledError must be consumed, not left for asyncio to complain about
    assert not unhandled, f"asyncio reported: {[c.get('message') for c in unhandled]}"


def test_cancel_with_wait_for_timeout(s, slow_fleet):
    """asyncio.wait_for(agenerate(...), 2) -> asyncio.TimeoutError after ~2 s (mid-run), and the slot is freed."""

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(s.agenerate("flux", "slow", **LONG), timeout=2.0)

    t0 = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - t0 < 3.0
    assert slot_free(slow_fleet)
    took, events = next_call(s)
    assert not waited_for_gpu(events) and took < PROMPT_AFTER, took


def test_break_out_of_stream_frees_the_slot(s, slow_fleet):
    """Leaving ``for ev in session.stream(...)`` early (break after the first progress) cancels the job."""
    mark = len(slow_fleet.requests)
    seen = []
    for ev in s.stream("flux", "slow", **LONG):
        seen.append(ev)
        if isinstance(ev, Preview) and ev.step and ev.step >= 2:
            break
    assert any(isinstance(e, (Progress, Preview)) for e in seen)
    assert slot_free(slow_fleet), "leaving the stream did not cancel the job on the Space"
    assert cancels(slow_fleet, mark)
    took, events = next_call(s)
    assert not waited_for_gpu(events) and took < PROMPT_AFTER, took


def test_close_stream_explicitly(s, slow_fleet):
    """``gen.close()`` on a stream held in a variable (so leaving the loop does not drop it) cancels the job too."""
    gen = s.stream("flux", "slow", **LONG)
    for ev in gen:
        if isinstance(ev, Preview):
            break
    time.sleep(0.3)
    gen.close()
    assert slot_free(slow_fleet)
    took, events = next_call(s)
    assert not waited_for_gpu(events) and took < PROMPT_AFTER, took


def test_astream_aclose_frees_the_slot(s, slow_fleet):
    """``await agen.aclose()`` on ``session.astream(...)`` after the first progress cancels the job."""

    async def main() -> None:
        agen = s.astream("flux", "slow", **LONG)
        async for ev in agen:
            if isinstance(ev, Preview):
                break
        await asyncio.sleep(0.3)  # past Gradio's registration of the running iterator (module docstring)
        await agen.aclose()

    asyncio.run(main())
    assert slot_free(slow_fleet)
    took, events = next_call(s)
    assert not waited_for_gpu(events) and took < PROMPT_AFTER, took


@pytest.fixture
def fresh_slow_fleet() -> Iterator[Any]:
    """Its own one-slot fleet, for tests whose cancelled job may keep the slot (Gradio's limit, module docstring)."""
    from janusflux.twins import start_twins

    f = start_twins(["flux-dev"], quota=1e9, delay=0.2, concurrency=1)
    try:
        yield f
    finally:
        f.stop()


def test_cancel_while_waiting_for_the_gpu(fresh_slow_fleet, token, tmp_path):
    """A second job waiting for the only GPU slot (behind a running one) is cancelled: the caller gets CancelledError
    at once, a cancel request reaches the Space, and the first job -- a sibling on the same gradio_client Client --
    still finishes normally (it must not hang)."""
    f = fresh_slow_fleet
    one = janusflux.get_model("flux-dev").replace(spaces=(DEV,))  # no mirror to spread to: both wait for one GPU
    with janusflux.Session(hf_endpoint=f.hub_url, token=token, cache_dir=str(tmp_path), max_wait=20) as ses:
        ses.generate(one, "warm", width=256, height=256, steps=1)

        async def main() -> None:
            first = asyncio.create_task(ses.agenerate(one, "first", width=256, height=256, steps=10))  # 2 s
            await asyncio.get_running_loop().run_in_executor(None, wait_busy, f, DEV, 5.0, 0.0)
            mark = len(f.requests)
            second = asyncio.create_task(ses.agenerate(one, "second", **LONG))
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            second.cancel()
            with pytest.raises(asyncio.CancelledError):
                await second
            assert time.monotonic() - t0 < 1.0
            result = await asyncio.wait_for(first, 10)
            assert result.seed is not None
            assert cancels(f, mark), "no cancel request reached the Space"

        asyncio.run(main())


@pytest.mark.xfail(reason="Gradio limit (twin and real Spaces): a generator job cancelled during its first step is "
                          "never closed by the server, so its GPU slot stays held; janusflux does send the cancel",
                   strict=False)
def test_early_cancel_frees_the_slot(fresh_slow_fleet, token, tmp_path):
    """Cancel while the job's first step runs (slot just taken): the slot should be free again soon after."""
    f = fresh_slow_fleet
    with janusflux.Session(hf_endpoint=f.hub_url, token=token, cache_dir=str(tmp_path), max_wait=20) as ses:
        ses.generate("flux", "warm", width=256, height=256, steps=1)

        async def main() -> int:
            task = asyncio.create_task(ses.agenerate("flux", "slow", **LONG))
            await asyncio.get_running_loop().run_in_executor(None, wait_busy, f, DEV, 5.0, 0.0)
            mark = len(f.requests)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return mark

        mark = asyncio.run(main())
        time.sleep(0.5)
        assert cancels(f, mark), "janusflux did not send the cancel (this part is janusflux's job)"
        assert slot_free(f, within=4.0), "the early-cancelled job still holds the GPU slot"


def test_cancel_during_backoff_is_prompt(slow_fleet, token, tmp_path):
    """Cancelled while janusflux waits between attempts (the pending-credits backoff, seen as a Waiting event) ->
    the stream closes at once and no further join is sent."""
    with janusflux.Session(hf_endpoint=slow_fleet.hub_url, token=token, cache_dir=str(tmp_path), max_wait=20) as ses:
        ses.generate("flux", "warm", width=256, height=256, steps=1)
        slow_fleet.set_fault(DEV, pending_credits=True)
        try:
            async def main() -> int:
                agen = ses.astream("flux", "x", **SHORT)
                async for ev in agen:
                    if isinstance(ev, Waiting):
                        break
                else:
                    raise AssertionError("no Waiting event")
                mark = len(slow_fleet.requests)
                t0 = time.monotonic()
                await agen.aclose()
                assert time.monotonic() - t0 < 0.5
                await asyncio.sleep(3.5)  # longer than the next backoffs (1 s, 2 s)
                return mark

            mark = asyncio.run(main())
        finally:
            slow_fleet.set_fault(DEV, pending_credits=False)
        later = [r for r in slow_fleet.requests[mark:] if r.path.endswith("/queue/join")]
        assert not later, "janusflux kept retrying after the stream was closed"


def test_close_cancels_running_jobs(slow_fleet, token, tmp_path):
    """session.close() while an async job runs on the Space cancels it and returns promptly (it does not wait out the
    8 s job); the awaiting task ends with a cancellation or a janusflux error, and the slot is freed."""
    ses = janusflux.Session(hf_endpoint=slow_fleet.hub_url, token=token, cache_dir=str(tmp_path), max_wait=20)
    ses.generate("flux", "warm", width=256, height=256, steps=1)

    async def main() -> None:
        task = asyncio.create_task(ses.agenerate("flux", "slow", **LONG))
        await asyncio.get_running_loop().run_in_executor(None, wait_busy, slow_fleet)
        t0 = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, ses.close)
        assert time.monotonic() - t0 < 5.0, "close() waited for the running job"
        with pytest.raises((asyncio.CancelledError, concurrent.futures.CancelledError, janusflux.JanusfluxError)):
            await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert slot_free(slow_fleet, within=4.0)
