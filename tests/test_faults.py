"""The fault matrix, against live twins on loopback (real Gradio servers, real gradio_client traffic).

Each test states its expected outcome in its docstring (tests/RELIABILITY.md has the same table) and asserts it:
either success through a wait or a mirror (the Waiting / Waking / Fallback events of ``session.stream`` prove the
path), or exactly one typed janusflux error carrying the Space's text, its space_id and endpoint, with the
gradio_client / httpx exception chained as ``__cause__``. Nothing may hang: every test has a 30 s timeout.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from PIL import Image

import janusflux
from janusflux import (
    Done,
    Fallback,
    GenerationTimeoutError,
    NoGPUAvailableError,
    QuotaExceededError,
    SpaceAppError,
    SpaceBusyError,
    SpaceError,
    SpaceUnavailableError,
    Waiting,
    Waking,
)
from janusflux.session import CANCEL_GRACE

pytestmark = [pytest.mark.live, pytest.mark.timeout(30)]

DEV, DEV_MIRROR = "black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev"
SCHNELL = "black-forest-labs/FLUX.1-schnell"
SMALL = {"width": 256, "height": 256, "steps": 2}
QUOTA_WINDOW = 8.0
# the quota fleets keep the numbers these rows prove (75 s asked, "Space app has reached its GPU limit" for callers
# without identity); tests/test_generations.py covers production's factor 1.5 and IP identity
UNSCALED_IDENTITYLESS = {"hardware_factor": 1.0, "anonymous": "space"}
RETURNS_WITHIN = CANCEL_GRACE + 1.5  # past its deadline a call cancels the job, waiting up to the cancel grace


def run(session: janusflux.Session, model: str = "flux", prompt: str = "a lighthouse", **kw: Any):
    """Consume ``session.stream``; return (events, result, error, seconds). Exactly one of result/error is set."""
    params = {**SMALL, **kw} if model.startswith("flux") else kw
    events: list[Any] = []
    t0 = time.monotonic()
    try:
        for ev in session.stream(model, prompt, **params):
            events.append(ev)
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return events, None, e, time.monotonic() - t0
    assert isinstance(events[-1], Done)
    return events, events[-1].result, None, time.monotonic() - t0


def of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def joins(fleet: Any, space: str | None = None) -> list[Any]:
    return [r for r in fleet.requests if r.path.endswith("/queue/join") and (space is None or r.server == space)]


def assert_typed(err: BaseException | None, cls: type, *, space_id: str, endpoint: str = "/infer",
                 text: str | None = None, cause: bool = True) -> None:
    """Exactly one typed error with the Space's text, its Space and endpoint, and the cause chained. ``cause=False``
    where janusflux itself detects the condition (a Hub stage, its own deadline): there is no exception to chain,
    and none may be: an unrelated one would be a leak of internals. Errors raised before the Space is
    connected (a Hub stage, ``/config``) name the call's endpoint too.)"""
    assert err is not None, "expected an error, the call succeeded"
    assert isinstance(err, cls), f"expected {cls.__name__}, got {type(err).__name__}: {err}"
    assert isinstance(err, SpaceError)
    assert err.space_id == space_id, (err.space_id, space_id)
    assert err.endpoint == endpoint, (err.endpoint, endpoint)
    if text is not None:
        assert text in str(err), f"{text!r} not in {str(err)!r}"
    if cause:
        assert err.__cause__ is not None, "the original exception must be chained (raise ... from e)"
    else:
        assert err.__cause__ is None, f"unexpected cause {err.__cause__!r}"


def new_session(fleet: Any, token: Any, tmp_path: Any, **kw: Any) -> janusflux.Session:
    kw.setdefault("max_wait", 30)
    return janusflux.Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path / "cache"), **kw)


@pytest.fixture(scope="module")
def quota_fleet():
    """A fleet with a small quota (100 GPU s; FLUX.1-dev asks 75 s per call) and a QUOTA_WINDOW quota window: long
    enough that it cannot roll over between a test's first call and its second on a loaded machine (the second call
    must meet the spent quota), short enough to wait out within max_wait."""
    from janusflux.twins import start_twins

    f = start_twins(["flux-dev"], quota=100, quota_window=QUOTA_WINDOW, delay=0.002, **UNSCALED_IDENTITYLESS)
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="module")
def long_quota_fleet():
    """A fleet with a small quota and a one-hour window: the retry-after is far beyond any max_wait."""
    from janusflux.twins import start_twins

    f = start_twins(["flux-dev"], quota=100, quota_window=3600.0, delay=0.002, **UNSCALED_IDENTITYLESS)
    try:
        yield f
    finally:
        f.stop()


# --- ZeroGPU quota --------------------------------------------------------------------------------------------------
def test_user_quota_retry_after_within_max_wait(quota_fleet, token, tmp_path):
    """User quota, token set, retry-after (<= QUOTA_WINDOW) within max_wait -> a Waiting event, then success on the same
    Space (quota is per user: switching Spaces would not help)."""
    quota_fleet.reset_quota()
    with new_session(quota_fleet, token, tmp_path) as s:
        first = s.generate("flux", "one", **SMALL)  # books 75 of 100 s
        assert first.space_id == DEV
        events, result, err, _ = run(s, prompt="two")
    assert err is None, f"expected success after waiting, got {err!r}"
    waits = of(events, Waiting)
    assert waits and "quota" in waits[0].reason.lower()
    assert 0 < waits[0].seconds <= QUOTA_WINDOW + 1
    assert not of(events, Fallback), "a user quota must not switch Spaces"
    assert result.space_id == DEV


def test_user_quota_beyond_max_wait_raises_once(long_quota_fleet, token, tmp_path):
    """User quota, retry-after (~1 h) beyond max_wait -> exactly one QuotaExceededError(scope="user") with
    requested=75, left=25 and the parsed retry_after; one join only (no retry, no switch)."""
    long_quota_fleet.reset_quota()
    with new_session(long_quota_fleet, token, tmp_path, max_wait=5) as s:
        s.generate("flux", "one", **SMALL)
        long_quota_fleet.clear_requests()
        events, result, err, secs = run(s, prompt="two")
    assert_typed(err, QuotaExceededError, space_id=DEV, text="You have exceeded your free ZeroGPU quota")
    assert err.scope == "user"
    assert err.requested == 75 and err.left == 25
    assert err.retry_after is not None and 3500 <= err.retry_after <= 3600
    assert not of(events, Fallback) and not of(events, Waiting)
    assert len(joins(long_quota_fleet)) == 1
    assert secs < 5


def test_anonymous_quota_falls_back_to_mirror(quota_fleet, tmp_path):
    """No token (token=False): the Space answers with its own limit ("Space app has reached its GPU limit") ->
    janusflux switches to the mirror (a Fallback event). Anonymous quota is per address across Spaces, so the mirror
    answers the same until the window rolls over; the call then succeeds within max_wait."""
    quota_fleet.reset_quota()
    with new_session(quota_fleet, False, tmp_path) as s:
        s.generate("flux", "one", **SMALL)  # the address's 75 of 100 s
        quota_fleet.clear_requests()
        events, result, err, _ = run(s, prompt="two")
    hdrs = [r.headers for r in quota_fleet.requests]
    assert not any("x-zerogpu-token" in h or "x-hf-authorization" in h for h in hdrs)
    falls = of(events, Fallback)
    assert falls and falls[0].from_space == DEV and falls[0].to_space == DEV_MIRROR
    assert falls[0].reason == "Space GPU limit", falls[0].reason  # janusflux's reason for the Space's own limit
    assert err is None, f"expected success once the window rolled over, got {err!r}"


def test_anonymous_quota_exhausted_everywhere_raises_space_scope(long_quota_fleet, tmp_path):
    """No token, the address's quota spent on every mirror (1 h window), small max_wait -> after trying the mirror,
    exactly one QuotaExceededError(scope="space") with the Space's text."""
    long_quota_fleet.reset_quota()
    with new_session(long_quota_fleet, False, tmp_path, max_wait=2) as s:
        s.generate("flux", "one", **SMALL)
        events, result, err, secs = run(s, prompt="two")
    assert of(events, Fallback), "the mirror must be tried"
    assert err is not None and isinstance(err, QuotaExceededError), repr(err)
    assert err.scope == "space"
    assert "Space app has reached its GPU limit" in str(err)
    assert err.space_id in (DEV, DEV_MIRROR) and err.endpoint == "/infer" and err.__cause__ is not None
    assert secs < 10


def test_runs_limit_raises_at_once(session, fleet):
    """The runs limit ("You have exceeded your ZeroGPU runs limit", once) with 30 s of max_wait -> the allowance is
    spent until it resets: one QuotaExceededError(scope="runs", spent) at once; one join, no wait, no mirror."""
    fleet.set_fault(DEV, runs_limit=True, times=1)
    fleet.clear_requests()
    events, result, err, secs = run(session)
    assert_typed(err, QuotaExceededError, space_id=DEV, text="runs limit")
    assert err.scope == "runs" and err.spent and err.retry_after is None
    assert "You have exceeded your ZeroGPU runs limit" in err.space_message
    assert not of(events, Waiting) and not of(events, Fallback)
    assert len(joins(fleet)) == 1
    assert secs < 5


def test_runs_limit_persistent_raises_runs_scope(fleet, token, tmp_path):
    """A runs limit that persists, max_wait smaller than the backoff -> one QuotaExceededError(scope="runs")."""
    fleet.set_fault("flux-dev", runs_limit=True)
    with new_session(fleet, token, tmp_path, max_wait=0.5) as s:
        fleet.clear_requests()
        events, result, err, _ = run(s)
    assert_typed(err, QuotaExceededError, space_id=DEV, text="runs limit")
    assert err.scope == "runs"
    assert len(joins(fleet)) == 1


def test_space_gpu_limit_falls_back_to_mirror(session, fleet):
    """The Space's own GPU limit (fault space_limit on the official Space) -> Fallback to the mirror -> success."""
    fleet.set_fault(DEV, space_limit=True)
    events, result, err, _ = run(session)
    assert err is None, repr(err)
    falls = of(events, Fallback)
    assert len(falls) == 1 and (falls[0].from_space, falls[0].to_space) == (DEV, DEV_MIRROR)
    assert result.space_id == DEV_MIRROR


def test_space_gpu_limit_no_mirror_raises(fleet, token, tmp_path):
    """The Space's own GPU limit on flux-schnell (no mirror), small max_wait -> QuotaExceededError(scope="space")."""
    fleet.set_fault(SCHNELL, space_limit=True)
    with new_session(fleet, token, tmp_path, max_wait=1) as s:
        events, result, err, secs = run(s, "flux-schnell", steps=1)
    assert_typed(err, QuotaExceededError, space_id=SCHNELL, text="Space app has reached its GPU limit")
    assert err.scope == "space"
    assert secs < 10


def test_queue_timeout_falls_back_to_mirror(session, fleet):
    """ZeroGPU queue timeout ("No GPU was available after 60s") on the official Space -> mirror -> success."""
    fleet.set_fault(DEV, queue_timeout=True)
    events, result, err, _ = run(session)
    assert err is None, repr(err)
    assert [(f.from_space, f.to_space) for f in of(events, Fallback)] == [(DEV, DEV_MIRROR)]
    assert result.space_id == DEV_MIRROR


def test_queue_timeout_everywhere_raises_no_gpu(fleet, token, tmp_path):
    """Queue timeout on every mirror, small max_wait -> one NoGPUAvailableError with the Space's text (HTML
    stripped)."""
    fleet.set_fault("flux-dev", queue_timeout=True)
    with new_session(fleet, token, tmp_path, max_wait=1) as s:
        events, result, err, secs = run(s)
    assert err is not None and isinstance(err, NoGPUAvailableError), repr(err)
    assert "No GPU was available after 60s" in str(err) and "<a" not in str(err)
    assert err.space_id in (DEV, DEV_MIRROR) and err.endpoint == "/infer" and err.__cause__ is not None
    assert secs < 10


def test_queue_full_falls_back_to_mirror(session, fleet):
    """Queue full (HTTP 503 on queue/join) on the official Space -> SpaceBusyError internally -> mirror -> success."""
    fleet.set_fault(DEV, queue_full=True)
    events, result, err, _ = run(session)
    assert err is None, repr(err)
    assert [(f.from_space, f.to_space) for f in of(events, Fallback)] == [(DEV, DEV_MIRROR)]
    assert result.space_id == DEV_MIRROR


def test_queue_full_no_mirror_raises_busy(fleet, token, tmp_path):
    """Queue full on flux-schnell (no mirror), small max_wait -> one SpaceBusyError(reason="queue full")."""
    fleet.set_fault(SCHNELL, queue_full=True)
    with new_session(fleet, token, tmp_path, max_wait=1) as s:
        events, result, err, secs = run(s, "flux-schnell", steps=1)
    assert_typed(err, SpaceBusyError, space_id=SCHNELL)
    assert err.reason == "queue full"
    assert secs < 10


def test_config_429_falls_back_to_mirror(session, fleet):
    """HTTP 429 on the official Space's /config (at connect) -> mirror -> success."""
    fleet.set_fault(DEV, config_429=True)
    events, result, err, _ = run(session)
    assert err is None, repr(err)
    assert [(f.from_space, f.to_space) for f in of(events, Fallback)] == [(DEV, DEV_MIRROR)]
    assert result.space_id == DEV_MIRROR


def test_config_429_no_mirror_raises_busy(fleet, token, tmp_path):
    """429 on /config of flux-schnell (no mirror), small max_wait -> one SpaceBusyError(reason="429") with the
    TooManyRequestsError chained."""
    fleet.set_fault(SCHNELL, config_429=True)
    with new_session(fleet, token, tmp_path, max_wait=1) as s:
        events, result, err, secs = run(s, "flux-schnell", steps=1)
    assert_typed(err, SpaceBusyError, space_id=SCHNELL)
    assert err.reason == "429"
    assert type(err.__cause__).__name__ == "TooManyRequestsError"


def test_gpu_task_aborted_retried_once_on_mirror(session, fleet):
    """ZeroGPU worker error "GPU task aborted" (once, on the official Space) -> retried once on the mirror
    (a Fallback event) -> success; two joins in the fleet's log."""
    session.generate("flux", "warm", **SMALL)
    fleet.set_fault(DEV, worker_error="GPU task aborted", times=1)
    fleet.clear_requests()
    events, result, err, _ = run(session)
    assert err is None, repr(err)
    assert [(f.from_space, f.to_space) for f in of(events, Fallback)] == [(DEV, DEV_MIRROR)]
    assert "aborted" in of(events, Fallback)[0].reason
    assert [r.server for r in joins(fleet)] == [DEV, DEV_MIRROR]
    assert result.space_id == DEV_MIRROR


def test_gpu_task_aborted_twice_raises(session, fleet):
    """"GPU task aborted" on every mirror -> one retry (on the mirror), then exactly one GPUTaskAbortedError (a
    SpaceAppError) with the title and text, the AppError chained; two joins, not a storm."""
    session.generate("flux", "warm", **SMALL)
    fleet.set_fault("flux-dev", worker_error="GPU task aborted")
    fleet.clear_requests()
    events, result, err, _ = run(session)
    assert_typed(err, janusflux.GPUTaskAbortedError, text="GPU task aborted", space_id=DEV_MIRROR)
    assert isinstance(err, SpaceAppError)
    assert err.title == "ZeroGPU worker error" and "ZeroGPU worker error" in str(err)
    assert type(err.__cause__).__name__ == "AppError"
    assert len(joins(fleet)) == 2, [(r.server, r.path) for r in joins(fleet)]


def test_janus_missing_image_worker_error(session, fleet):
    """Janus' own worker error class name (AttributeError) -> SpaceAppError, not retried (worker_error knob)."""
    fleet.set_fault("janus-pro-7b", worker_error="AttributeError")
    fleet.clear_requests()
    events, result, err, _ = run(session, "janus-pro-7b", "what is this?", image=Image.new("RGB", (32, 32), "white"))
    assert_typed(err, SpaceAppError, space_id="deepseek-ai/Janus-Pro-7B", endpoint="/multimodal_understanding",
                 text="AttributeError")
    assert len(joins(fleet)) == 1


def test_illegal_duration_is_not_retried(session, fleet):
    """ZeroGPU illegal duration -> one SpaceAppError titled "ZeroGPU illegal duration" with the Space's text."""
    fleet.set_fault("flux-dev", illegal_duration=True)
    fleet.clear_requests()
    events, result, err, _ = run(session)
    # the shared fleet has production's hardware factor: 75 s x 1.5
    assert_typed(err, SpaceAppError, space_id=DEV, text="The requested GPU duration (112s) is larger than the maximum")
    assert err.title == "ZeroGPU illegal duration"
    assert len(joins(fleet)) == 1


def test_pending_credits_backs_off_then_succeeds(session, fleet):
    """ZeroGPU pending credits (once) -> back off (Waiting), then success on the same Space."""
    fleet.set_fault(DEV, pending_credits=True, times=1)
    events, result, err, _ = run(session)
    assert err is None, repr(err)
    assert of(events, Waiting)
    assert result.space_id == DEV


def test_pending_credits_persistent_raises(fleet, token, tmp_path):
    """Pending credits that persist, max_wait below the backoff -> one QuotaExceededError(scope="pending")."""
    fleet.set_fault("flux-dev", pending_credits=True)
    with new_session(fleet, token, tmp_path, max_wait=0.5) as s:
        events, result, err, _ = run(s)
    assert_typed(err, QuotaExceededError, space_id=DEV, text="too many ZeroGPU credits")
    assert err.scope == "pending"


# --- Space lifecycle ------------------------------------------------------------------------------------------------
def test_sleeping_space_wakes(session, fleet):
    """A SLEEPING Space -> a Waking event, janusflux pokes it, waits, and the call succeeds on that Space."""
    fleet.set_stage(DEV, "SLEEPING", wake_after=1.0)
    events, result, err, secs = run(session)
    assert err is None, repr(err)
    wakes = of(events, Waking)
    assert wakes and wakes[0].stage == "SLEEPING" and wakes[0].space_id == DEV
    assert result.space_id == DEV
    assert not of(events, Fallback)


@pytest.mark.parametrize("stage", ["PAUSED", "RUNTIME_ERROR"])
def test_unavailable_space_falls_back_to_mirror(session, fleet, stage):
    """A PAUSED or RUNTIME_ERROR official Space -> Fallback to the mirror -> success."""
    fleet.set_stage(DEV, stage)
    events, result, err, _ = run(session)
    assert err is None, repr(err)
    falls = of(events, Fallback)
    assert [(f.from_space, f.to_space) for f in falls] == [(DEV, DEV_MIRROR)]
    assert stage in falls[0].reason
    assert result.space_id == DEV_MIRROR


@pytest.mark.parametrize("stage", ["PAUSED", "RUNTIME_ERROR"])
def test_unavailable_space_without_mirror_raises(session, fleet, stage):
    """A PAUSED / RUNTIME_ERROR flux-schnell (no mirror) -> one SpaceUnavailableError with .stage, quickly."""
    fleet.set_stage(SCHNELL, stage)
    events, result, err, secs = run(session, "flux-schnell", steps=1)
    assert_typed(err, SpaceUnavailableError, space_id=SCHNELL, text=stage, cause=False)
    assert err.stage == stage
    assert secs < 5


def test_building_space_falls_back_to_mirror(session, fleet):
    """A BUILDING official Space (a build takes minutes) -> Fallback to the mirror within a few seconds -> success,
    rather than waiting out wake_timeout (300 s) on the building one."""
    fleet.set_stage(DEV, "BUILDING")
    events, result, err, secs = run(session)
    assert err is None, repr(err)
    assert [(f.from_space, f.to_space) for f in of(events, Fallback)] == [(DEV, DEV_MIRROR)]
    assert result.space_id == DEV_MIRROR
    assert secs < 10


def test_building_space_without_mirror_raises_after_wake_timeout(fleet, token, tmp_path):
    """A BUILDING flux-schnell (no mirror), wake_timeout=1 -> a Waking event, then one SpaceUnavailableError
    (stage BUILDING) soon after the wake timeout."""
    fleet.set_stage(SCHNELL, "BUILDING")
    with new_session(fleet, token, tmp_path, wake_timeout=1, max_wait=1) as s:
        events, result, err, secs = run(s, "flux-schnell", steps=1)
    assert_typed(err, SpaceUnavailableError, space_id=SCHNELL, text="BUILDING", cause=False)
    assert err.stage == "BUILDING"
    assert of(events, Waking)
    assert secs < 8


# --- connections ------------------------------------------------------------------------------------------------------
def test_dropped_event_stream_falls_back_to_mirror(session, fleet):
    """The SSE stream of the official Space is cut mid-run -> the mirror serves the call (one Fallback event, the
    result from the mirror). Never a raw httpx/gradio_client exception, never a hang."""
    session.generate("flux", "warm", **SMALL)
    fleet.set_fault(DEV, drop_stream=True)
    events, result, err, secs = run(session, steps=4)
    assert err is None, repr(err)
    assert [(f.from_space, f.to_space) for f in of(events, Fallback)] == [(DEV, DEV_MIRROR)]
    assert result.space_id == DEV_MIRROR


def test_dropped_event_stream_no_mirror_raises_busy(fleet, token, tmp_path):
    """The SSE stream cut on flux-schnell (no mirror), small max_wait -> one SpaceBusyError."""
    fleet.set_fault(SCHNELL, drop_stream=True)
    with new_session(fleet, token, tmp_path, max_wait=1) as s:
        events, result, err, secs = run(s, "flux-schnell", steps=2)
    assert_typed(err, SpaceBusyError, space_id=SCHNELL)
    assert secs < 10


def test_server_killed_mid_job_raises_typed_no_hang(token, tmp_path):
    """The whole fleet (Hub and both Spaces) is stopped while a job runs -> one typed SpaceBusyError within a few
    seconds; no hang, no raw exception."""
    from janusflux.twins import start_twins

    f = start_twins(["flux-dev"], quota=1e9, delay=0.2)
    try:
        with new_session(f, token, tmp_path, max_wait=2) as s:
            s.generate("flux", "warm", width=256, height=256, steps=1)
            box: dict[str, Any] = {}

            mark = len(f.requests)

            def killer() -> None:  # once the job runs on the Space (it has joined the queue), stop everything
                deadline = time.monotonic() + 20
                while not [r for r in f.requests[mark:] if r.path.endswith("/queue/join")]:
                    if time.monotonic() > deadline:
                        return
                    time.sleep(0.02)
                box["stopped_at"] = time.monotonic()
                f.stop()

            threading.Thread(target=killer, daemon=True).start()
            events, result, err, secs = run(s, steps=30)  # 6 s of work
            ended = time.monotonic()
    finally:
        f.stop()
    assert err is not None, "the job cannot succeed once the server is gone"
    assert isinstance(err, SpaceBusyError), f"{type(err).__name__}: {err}"
    assert_typed(err, SpaceBusyError, space_id=err.space_id)
    assert err.space_id in (DEV, DEV_MIRROR)
    assert ended - box["stopped_at"] < 15


def test_slower_than_deadline_raises_timeout(session, fleet):
    """The Space is slower (fault slow=5 s) than the caller's timeout=1 -> one GenerationTimeoutError (also a
    TimeoutError) within the deadline + 1.5 s, carrying space_id and endpoint; not retried on the mirror."""
    session.generate("flux", "warm", **SMALL)
    fleet.set_fault(DEV, slow=5.0, times=1)
    fleet.clear_requests()
    events, result, err, secs = run(session, timeout=1)
    assert_typed(err, GenerationTimeoutError, space_id=DEV, cause=False)
    assert isinstance(err, TimeoutError)
    assert secs < 1 + RETURNS_WITHIN, secs
    assert not of(events, Fallback)
    assert len(joins(fleet)) == 1


def test_session_timeout_default_applies(fleet, token, tmp_path):
    """Session(timeout=1) is the default deadline of every call: a slow Space -> GenerationTimeoutError."""
    with new_session(fleet, token, tmp_path, timeout=1) as s:
        s.generate("flux", "warm", timeout=60, **SMALL)  # a per-call timeout: the warm-up must not race the default
        fleet.set_fault(DEV, slow=5.0, times=1)
        t0 = time.monotonic()
        with pytest.raises(GenerationTimeoutError) as info:
            s.generate("flux", "slow", **SMALL)
        assert time.monotonic() - t0 < 1 + RETURNS_WITHIN
    assert_typed(info.value, GenerationTimeoutError, space_id=DEV, cause=False)


@pytest.mark.parametrize("case", ["paused", "building", "config_429", "hub_unreachable"])
def test_errors_before_connecting_name_the_endpoint(fleet, token, tmp_path, case):
    """The typed-error contract's ``.endpoint`` for the errors of the unavailable, building, config-429 and
    server-killed (the Hub gone) cases: the endpoint the call was for."""
    kw: dict[str, Any] = {"max_wait": 1}
    if case == "paused":
        fleet.set_stage(SCHNELL, "PAUSED")
    elif case == "building":
        fleet.set_stage(SCHNELL, "BUILDING")
        kw["wake_timeout"] = 1
    elif case == "config_429":
        fleet.set_fault(SCHNELL, config_429=True)
    hub = fleet.hub_url
    if case == "hub_unreachable":
        from ports import dead_url

        hub = dead_url()
    with janusflux.Session(hf_endpoint=hub, token=token, cache_dir=str(tmp_path / "cache"), **kw) as s:
        events, result, err, secs = run(s, "flux-schnell", steps=1)
    assert isinstance(err, SpaceError), repr(err)
    assert err.space_id == SCHNELL and err.endpoint == "/infer", (err.space_id, err.endpoint)
