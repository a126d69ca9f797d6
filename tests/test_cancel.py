"""Cancellation: cancelling an async generation (or leaving a stream early) cancels the job on the Space and frees
its GPU slot, so that with one slot (concurrency 1) the next call starts at once instead of waiting.

The fleet here has one GPU slot per Space and a slow FLUX.1-dev (0.2 s per step): a 40-step job holds the slot for
8 s. Without a real cancellation the next call would wait for that slot (and the Space would say "Waiting for a GPU
to become available"); with it, the next 2-step call is done within 5 s (``PROMPT_AFTER``).

A Gradio limit shapes these tests: a generator job cancelled while its *first* step runs (before its first yield;
for a ZeroGPU Space that includes the wait for a GPU) is never closed by the Gradio server, so its GPU slot stays
held (reproduced with plain gradio_client against the twin). The tests cancel mid-run (after the first preview),
which Gradio does stop; the early cancel is tested separately, on its own fleet: janusflux's part (the cancel is
sent, the caller is released) is a normal test, only the slot release (the Gradio server's part) is xfail.

Timing: the tests wait for states, not for time. The Space twins run in this process, so :func:`steps` counts the
steps each twin has begun (a wrapper around the twins' per-step function): "past the first step" means "the Space has
begun step 2". Time limits are the session's own cancel grace (``CANCEL_GRACE``) plus a margin.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import janusflux
from janusflux import Log, Preview, Progress, Waiting
from janusflux.session import CANCEL_GRACE
from janusflux.twins import apps

pytestmark = [pytest.mark.live, pytest.mark.timeout(30)]

DEV = "black-forest-labs/FLUX.1-dev"
LONG = {"width": 256, "height": 256, "steps": 40}  # 8 s of GPU time at 0.2 s per step
SHORT = {"width": 256, "height": 256, "steps": 2}
# seconds the next call may take: a 2-step job is 0.4 s of GPU; behind the cancelled 40-step job it would be ~8 s
PROMPT_AFTER = 5.0
RETURNS_PROMPTLY = CANCEL_GRACE + 1.5  # a cancelled call waits up to CANCEL_GRACE for its worker, then returns


class StepCounter:
    """How many steps each Space twin (keyed by its state object) has begun: the twins' ``_step`` wrapped."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.cond = threading.Condition()
        self.holds: dict[tuple[int, int], threading.Event] = {}

    def hold(self, fleet: Any, n: int, space: str = DEV) -> threading.Event:
        """Step ``n`` of the Space (counted as by :meth:`begun`) waits, once begun, until the returned event is set
        (at most 20 s): a job can be kept inside a step for as long as a test needs."""
        release = threading.Event()
        with self.cond:
            self.holds[(id(fleet.states[space]), n)] = release
        return release

    def begun(self, fleet: Any, space: str = DEV) -> int:
        with self.cond:
            return self.counts.get(id(fleet.states[space]), 0)

    def wait(self, fleet: Any, n: int, space: str = DEV, within: float = 15.0) -> None:
        """Wait until the Space has begun ``n`` steps in all."""
        key = id(fleet.states[space])
        with self.cond:
            if not self.cond.wait_for(lambda: self.counts.get(key, 0) >= n, timeout=within):
                raise AssertionError(f"the Space never began step {n} (at {self.counts.get(key, 0)})")


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> StepCounter:
    counter = StepCounter()
    real = apps._step

    def step(twin: Any) -> None:
        with counter.cond:
            n = counter.counts[id(twin.state)] = counter.counts.get(id(twin.state), 0) + 1
            counter.cond.notify_all()
            release = counter.holds.get((id(twin.state), n))
        if release is not None:
            release.wait(20)
        real(twin)

    monkeypatch.setattr(apps, "_step", step)
    return counter


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


def wait_for(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.02)


def next_call(session: janusflux.Session) -> tuple[float, list[Any]]:
    t0 = time.monotonic()
    events = list(session.stream("flux", "next", **SHORT))
    return time.monotonic() - t0, events


def waited_for_gpu(events: list[Any]) -> bool:
    return any(isinstance(e, Log) and "Waiting for a GPU" in e.message for e in events)


def cancels(fleet: Any, since: int) -> list[Any]:
    return [r for r in fleet.requests[since:] if r.server == DEV and "cancel" in r.path]


def joins(fleet: Any, since: int) -> list[Any]:
    return [r for r in fleet.requests[since:] if r.server == DEV and r.path.endswith("/queue/join")]


def test_cancel_agenerate_frees_the_slot(s, slow_fleet, steps):
    """task.cancel() on agenerate -> CancelledError for the caller, the job is cancelled on the Space (a cancel
    request reaches the twin and its GPU slot is free again), and the next call starts at once."""
    mark = len(slow_fleet.requests)
    unhandled: list[dict[str, Any]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
        begun = steps.begun(slow_fleet)
        task = asyncio.create_task(s.agenerate("flux", "slow", **LONG))
        await loop.run_in_executor(None, steps.wait, slow_fleet, begun + 2)  # past the first step
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - t0 < RETURNS_PROMPTLY, "cancel() must return promptly"
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
    """asyncio.wait_for(agenerate(...), 2) -> asyncio.TimeoutError after ~2 s (mid-run: 10 of 40 steps), the job is
    cancelled on the Space and the slot is freed."""
    mark = len(slow_fleet.requests)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(s.agenerate("flux", "slow", **LONG), timeout=2.0)

    t0 = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - t0 < 2.0 + RETURNS_PROMPTLY
    assert slot_free(slow_fleet)
    assert cancels(slow_fleet, mark), "no cancel request reached the Space"
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


def test_close_stream_explicitly(s, slow_fleet, steps):
    """``gen.close()`` on a stream held in a variable (so leaving the loop does not drop it) cancels the job too."""
    mark = len(slow_fleet.requests)
    begun = steps.begun(slow_fleet)
    gen = s.stream("flux", "slow", **LONG)
    for ev in gen:
        if isinstance(ev, Preview):
            break
    steps.wait(slow_fleet, begun + 3)  # well past Gradio's registration of the running iterator (module docstring)
    gen.close()
    assert slot_free(slow_fleet)
    assert cancels(slow_fleet, mark), "no cancel request reached the Space"
    took, events = next_call(s)
    assert not waited_for_gpu(events) and took < PROMPT_AFTER, took


def test_astream_aclose_frees_the_slot(s, slow_fleet, steps):
    """``await agen.aclose()`` on ``session.astream(...)`` after the first progress cancels the job."""
    mark = len(slow_fleet.requests)
    begun = steps.begun(slow_fleet)

    async def main() -> None:
        agen = s.astream("flux", "slow", **LONG)
        async for ev in agen:
            if isinstance(ev, Preview):
                break
        # well past Gradio's registration of the running iterator (module docstring)
        await asyncio.get_running_loop().run_in_executor(None, steps.wait, slow_fleet, begun + 3)
        await agen.aclose()

    asyncio.run(main())
    assert slot_free(slow_fleet)
    assert cancels(slow_fleet, mark), "no cancel request reached the Space"
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


def test_cancel_while_waiting_for_the_gpu(fresh_slow_fleet, token, tmp_path, steps):
    """A second job waiting for the only GPU slot (behind a running one) is cancelled: the caller gets CancelledError
    at once, a cancel request reaches the Space, and the first job -- a sibling on the same gradio_client Client --
    still finishes normally (it must not hang)."""
    f = fresh_slow_fleet
    one = janusflux.get_model("flux-dev").replace(spaces=(DEV,))  # no mirror to spread to: both wait for one GPU
    with janusflux.Session(hf_endpoint=f.hub_url, token=token, cache_dir=str(tmp_path), max_wait=20) as ses:
        ses.generate(one, "warm", width=256, height=256, steps=1)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            begun = steps.begun(f)
            first = asyncio.create_task(ses.agenerate(one, "first", width=256, height=256, steps=10))  # 2 s
            await loop.run_in_executor(None, steps.wait, f, begun + 1)  # the first job holds the only slot
            mark = len(f.requests)
            second = asyncio.create_task(ses.agenerate(one, "second", **LONG))
            # the second job has joined the Space's queue (where it waits for the GPU the first one holds)
            await loop.run_in_executor(None, wait_for, lambda: joins(f, mark), 10.0, "the second job never joined")
            assert steps.begun(f) < begun + 10, "the first job ended before the second one could wait for it"
            t0 = time.monotonic()
            second.cancel()
            with pytest.raises(asyncio.CancelledError):
                await second
            assert time.monotonic() - t0 < RETURNS_PROMPTLY
            result = await asyncio.wait_for(first, 15)
            assert result.seed is not None
            assert cancels(f, mark), "no cancel request reached the Space"

        asyncio.run(main())


def _cancel_during_first_step(f: Any, steps: StepCounter, token: str, tmp_path: Any) -> int:
    """Start a 40-step job and cancel it during its first step on the Space: the step is held until the cancel has
    reached the Space (and a second more for Gradio to act on it), so the cancel always lands inside the first step,
    however loaded the machine. Returns the request-log mark."""
    with janusflux.Session(hf_endpoint=f.hub_url, token=token, cache_dir=str(tmp_path), max_wait=20) as ses:
        ses.generate("flux", "warm", width=256, height=256, steps=1)
        begun = steps.begun(f)
        release = steps.hold(f, begun + 1)  # the job's first step
        try:
            async def main() -> int:
                loop = asyncio.get_running_loop()
                task = asyncio.create_task(ses.agenerate("flux", "slow", **LONG))
                await loop.run_in_executor(None, steps.wait, f, begun + 1)  # step 1 runs (and is held)
                mark = len(f.requests)
                t0 = time.monotonic()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert time.monotonic() - t0 < RETURNS_PROMPTLY, "cancel() must return promptly"
                await loop.run_in_executor(None, wait_for, lambda: cancels(f, mark), RETURNS_PROMPTLY,
                                           "janusflux did not send the cancel")
                assert steps.begun(f) == begun + 1  # the cancel reached the Space inside the job's first step
                await asyncio.sleep(1.0)  # for the Space to act on it while the step still runs
                return mark

            return asyncio.run(main())
        finally:
            release.set()


def test_early_cancel_sends_the_cancel(fresh_slow_fleet, token, tmp_path, steps):
    """Cancelled while its first step runs: the caller gets CancelledError at once and janusflux sends the cancel to
    the Space (janusflux's part of the early cancel)."""
    _cancel_during_first_step(fresh_slow_fleet, steps, token, tmp_path)


@pytest.mark.xfail(strict=True, reason="Gradio limit (twin and real Spaces), outside janusflux: a generator job "
                                       "cancelled during its first step is never closed by the Gradio server, so its "
                                       "GPU slot stays held until the job ends (janusflux's cancel is checked by "
                                       "test_early_cancel_sends_the_cancel)")
def test_early_cancel_frees_the_slot(fresh_slow_fleet, token, tmp_path, steps):
    """Cancel while the job's first step runs: the slot should be free again soon after (the job has ~7 s to go)."""
    _cancel_during_first_step(fresh_slow_fleet, steps, token, tmp_path)
    assert slot_free(fresh_slow_fleet, within=4.0), "the early-cancelled job still holds the GPU slot"


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
                assert time.monotonic() - t0 < RETURNS_PROMPTLY
                return mark

            mark = asyncio.run(main())
            time.sleep(3.5)  # a negative check needs a window: longer than the next backoffs (1 s, 2 s)
        finally:
            slow_fleet.set_fault(DEV, pending_credits=False)
        later = joins(slow_fleet, mark)
        assert not later, "janusflux kept retrying after the stream was closed"


def test_close_cancels_running_jobs(slow_fleet, token, tmp_path, steps):
    """session.close() while an async job runs on the Space cancels it and returns promptly (it does not wait out the
    8 s job); the awaiting task ends with a cancellation (not an error, not a result), a cancel request reaches the
    Space, and the slot is freed."""
    ses = janusflux.Session(hf_endpoint=slow_fleet.hub_url, token=token, cache_dir=str(tmp_path), max_wait=20)
    ses.generate("flux", "warm", width=256, height=256, steps=1)
    mark = len(slow_fleet.requests)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        begun = steps.begun(slow_fleet)
        task = asyncio.create_task(ses.agenerate("flux", "slow", **LONG))
        await loop.run_in_executor(None, steps.wait, slow_fleet, begun + 2)  # past the first step
        t0 = time.monotonic()
        await loop.run_in_executor(None, ses.close)
        assert time.monotonic() - t0 < 5.0, "close() waited for the running job"
        with pytest.raises((asyncio.CancelledError, concurrent.futures.CancelledError)):
            await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert cancels(slow_fleet, mark), "close() did not cancel the job on the Space"
    assert slot_free(slow_fleet, within=4.0)
