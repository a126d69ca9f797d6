"""Issue 11 (one house a newcomer can read): the session's parts, one parameter set, one policy, one event per step.

The pure parts (events, error mapping, policy) are tested as functions; the per-call ZeroGPU identity against the
live twins (real Gradio servers on loopback)."""

from __future__ import annotations

import concurrent.futures
from types import SimpleNamespace

import pytest

import janusflux
from janusflux import batch, errors, policy
from janusflux.compat import g4f
from janusflux.params import ACCEPTED, IMAGE_SETTINGS, UNIFIED
from janusflux.session.errormap import map_error
from janusflux.session.events import FollowState, flush, translate

SMALL = {"width": 256, "height": 256}
SCHNELL = "black-forest-labs/FLUX.1-schnell"


def _progress(step: int, total: int) -> SimpleNamespace:
    data = SimpleNamespace(index=step, length=total, desc=None)
    return SimpleNamespace(type="status", code=SimpleNamespace(value="PROGRESS"), progress_data=[data])


def _output(value: str) -> SimpleNamespace:
    return SimpleNamespace(type="output", final=False, success=True, outputs=[value, 1])


def _run(updates: list[SimpleNamespace], st: FollowState) -> list[janusflux.Event]:
    events = [e for u in updates for e in translate(u, st)]
    return events + flush(st)


def test_one_event_per_step_for_a_model_that_yields_images() -> None:
    st = FollowState(where="a/b", preview=lambda out: out[0], steps=3)  # type: ignore[arg-type,return-value]
    events = _run([u for i in (1, 2, 3) for u in (_progress(i, 3), _output(f"img{i}"))] + [_output("final")], st)
    assert [(type(e).__name__, e.step, e.total) for e in events] == [("Preview", i, 3) for i in (1, 2, 3)]
    assert [e.image for e in events] == ["img1", "img2", "img3"]  # type: ignore[attr-defined]
    assert all(isinstance(e, janusflux.Progress) for e in events)  # a Preview is the step's Progress


def test_progress_only_model_gets_every_step_once() -> None:
    st = FollowState(where="a/b", preview=lambda out: out[0], steps=4)  # type: ignore[arg-type,return-value]
    events = _run([_progress(i, 4) for i in (1, 2, 3, 4)], st)
    assert [(type(e).__name__, e.step) for e in events] == [("Progress", i) for i in (1, 2, 3, 4)]
    st = FollowState(where="a/b")  # an adapter without previews: nothing held
    assert [type(e).__name__ for e in translate(_progress(1, 2), st)] == ["Progress"]


def test_errormap_is_pure() -> None:
    from gradio_client.utils import QueueError

    e = map_error(QueueError("full"), space_id="a/b", endpoint="/infer")
    assert isinstance(e, janusflux.SpaceBusyError) and e.reason == "queue full" and e.space_id == "a/b"
    e = map_error(concurrent.futures.CancelledError(), space_id="a/b", endpoint="/infer")
    assert isinstance(e, janusflux.SpaceBusyError) and e.reason == "stream closed"
    assert isinstance(map_error(RuntimeError("boom"), space_id="a/b", endpoint="/infer"), janusflux.SpaceAppError)


def test_policy_holds_the_loops_special_cases() -> None:
    gone = janusflux.SpaceUnavailableError("paused", stage="PAUSED")
    d = policy.decide(gone, 1, 10.0, others_free=False)
    assert d.action == "raise" and d.cooldown == policy.UNAVAILABLE_COOLDOWN and d.reason == "no other Space to try"
    assert policy.decide(gone, 1, 10.0).action == "switch"
    switch = policy.Decision("switch", cooldown=30.0)
    assert policy.pause(switch, 1, 0.0, 10.0) == 0.0  # another Space is free: switch at once
    assert policy.pause(switch, 3, 25.0, 10.0) == 4.0  # every Space cools: back off, within the budget
    assert policy.pause(policy.Decision("wait", seconds=9.0), 1, 0.0, 5.0) == 5.0


def test_one_parameter_set() -> None:
    assert UNIFIED == ("prompt", "messages", "image", "seed", "aspect_ratio", "width", "height", "steps", "guidance",
                       "temperature", "top_p")
    assert batch.PARAMS == IMAGE_SETTINGS == ("seed", "aspect_ratio", "width", "height", "steps", "guidance")
    assert {"steps", "guidance", "temperature", "top_p", "image", "timeout", "max_wait"} == g4f._PASSED_KWARGS
    assert {"zerogpu_token", "zerogpu_uuid", "timeout", "max_wait"} <= ACCEPTED


def test_everything_raised_is_a_janusflux_error(tmp_path) -> None:
    s = janusflux.Session(token=False, hf_endpoint="http://127.0.0.1:9", cache_dir=str(tmp_path))
    s.close()
    with pytest.raises(janusflux.SessionClosedError) as e:
        s.generate("flux", "x")
    assert isinstance(e.value, janusflux.InvalidInputError) and e.value.param == "session"
    with pytest.raises(FileNotFoundError) as gone:
        janusflux.ImageResult(path=str(tmp_path / "missing.png")).data
    assert isinstance(gone.value, errors.ResultGoneError) and isinstance(gone.value, janusflux.JanusfluxError)
    with pytest.raises(ValueError) as bad:
        janusflux.ImageResult()
    assert isinstance(bad.value, janusflux.JanusfluxError)
    from janusflux.zerogpu import ExpiredProxyToken

    assert ExpiredProxyToken is errors.ExpiredProxyToken


@pytest.mark.live
def test_per_call_zerogpu_identity(session, fleet, token) -> None:
    key = fleet.issue_token(SCHNELL, user_token=token)
    fleet.clear_requests()
    session.generate("flux-schnell", "x", seed=1, zerogpu_token=key, zerogpu_uuid="call-uuid", **SMALL)
    (join,) = [r for r in fleet.requests if r.server == SCHNELL and r.path.endswith("/queue/join")]
    assert join.headers["x-zerogpu-token"] == key and join.headers["x-zerogpu-uuid"] == "call-uuid"
    assert not [r for r in fleet.requests if r.path.endswith("/jwt")]  # the call's own token: none fetched
    fleet.clear_requests()
    session.generate("flux-schnell", "x", seed=1, **SMALL)  # the session's own identity again
    (join,) = [r for r in fleet.requests if r.server == SCHNELL and r.path.endswith("/queue/join")]
    assert join.headers["x-zerogpu-token"] != key and join.headers["x-zerogpu-uuid"] == session._zerogpu_uuid
    with pytest.raises(janusflux.InvalidInputError) as e:
        session.generate("flux-schnell", "x", zerogpu_token="has space")
    assert e.value.param == "zerogpu_token" and "has space" not in str(e.value)
