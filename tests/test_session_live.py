"""The SDK end to end against live twins (real Gradio servers on loopback, real gradio_client traffic)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import janusflux
from janusflux import Session, netguard

pytestmark = pytest.mark.live

SMALL = {"width": 256, "height": 256}
REPO = Path(__file__).resolve().parents[1]


def _space_requests(fleet, space):
    return [r for r in fleet.requests if r.server == space]


@pytest.mark.parametrize("alias,space", [
    ("flux", "black-forest-labs/FLUX.1-dev"),
    ("flux-dev", "black-forest-labs/FLUX.1-dev"),
    ("flux-schnell", "black-forest-labs/FLUX.1-schnell"),
])
@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
def test_flux_aliases_end_to_end(session, alias, space, mode):
    kw = dict(SMALL, seed=1234, steps=3)
    if mode == "sync":
        result = session.generate(alias, "a red fox", **kw)
        events = []
    elif mode == "async":
        result = asyncio.run(session.agenerate(alias, "a red fox", **kw))
        events = []
    else:
        events = list(session.stream(alias, "a red fox", **kw))
        assert isinstance(events[-1], janusflux.Done)
        result = events[-1].result
    assert isinstance(result, janusflux.ImageResult)
    assert result.space_id == space and result.seed == 1234 and result.model == alias
    assert result.image.size == (256, 256)
    if mode == "stream":
        kinds = [e.type for e in events]
        assert "started" in kinds
        if alias != "flux-schnell":  # FLUX.1-dev is a generator: a preview per step
            previews = [e for e in events if isinstance(e, janusflux.Preview)]
            assert len(previews) >= 3
            assert previews[0].image.image.size == (256, 256)


def test_same_seed_same_image_other_seed_other_image(session):
    a = session.generate("flux-schnell", "a lighthouse", seed=5, **SMALL)
    b = session.generate("flux-schnell", "a lighthouse", seed=5, **SMALL)
    c = session.generate("flux-schnell", "a lighthouse", seed=6, **SMALL)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.image.tobytes() != c.image.tobytes()


def test_seed_is_drawn_and_reported(session):
    r = session.generate("flux-schnell", "a cat", **SMALL)
    assert isinstance(r.seed, int) and 0 <= r.seed <= 2147483647


def test_aspect_ratio_snapped(session):
    r = session.generate("flux-schnell", "wide", aspect_ratio="16:9", seed=1)
    assert r.image.size == (1376, 768) and (r.width, r.height) == (1376, 768)


def test_janus_image_gallery(session):
    images = session.generate("janus-pro-7b-image", "a fox", seed=3)
    assert isinstance(images, janusflux.ImageList) and len(images) == 5
    assert all(i.image.size == (768, 768) for i in images)
    assert images.seed == 3


@pytest.mark.parametrize("kind", ["path", "bytes", "pil"])
def test_vision_chat_uploads_image(session, tmp_path, kind):
    im = Image.new("RGB", (40, 30), (255, 0, 0))
    path = tmp_path / "red.png"
    im.save(path)
    image = {"path": str(path), "bytes": path.read_bytes(), "pil": im}[kind]
    answer = session.generate("janus-pro-7b", "what colour is it?", image=image)
    assert isinstance(answer, janusflux.TextResult) and isinstance(answer, str)
    assert "40x30" in answer and "red" in answer.lower()
    assert answer.space_id == "deepseek-ai/Janus-Pro-7B"


def test_vision_chat_folds_conversation(session, fleet):
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Describe the picture"}]
    answer = session.generate("janus-pro-7b", messages=msgs, image=Image.new("RGB", (32, 32), "white"))
    assert answer.question.startswith("User: Hi\nAssistant: Hello!\nUser: Describe the picture")
    assert "Describe the picture" in answer


def test_clients_reused_and_jwt_fetched_once(session, fleet):
    fleet.clear_requests()
    for _ in range(3):
        session.generate("flux-schnell", "x", seed=1, **SMALL)
    hub = [r.path for r in fleet.requests if r.server == "hub"]
    assert hub.count("/api/spaces/black-forest-labs/FLUX.1-schnell/jwt") == 1
    assert hub.count("/api/spaces/black-forest-labs/FLUX.1-schnell") == 1
    configs = [r for r in _space_requests(fleet, "black-forest-labs/FLUX.1-schnell") if r.path == "/config"]
    assert len(configs) == 1
    joins = [r for r in _space_requests(fleet, "black-forest-labs/FLUX.1-schnell") if r.path.endswith("/queue/join")]
    assert len(joins) == 3 and all("x-zerogpu-token" in r.headers and "x-zerogpu-uuid" in r.headers for r in joins)


def test_jwt_refreshed_after_expiry(session, fleet):
    session.generate("flux-schnell", "x", seed=1, **SMALL)
    fleet.clear_requests()
    clock = session._jwt._clock
    session._jwt._clock = lambda: clock() + 3600  # an hour later: the cached token has expired
    session.generate("flux-schnell", "x", seed=1, **SMALL)
    hub = [r.path for r in fleet.requests if r.server == "hub"]
    assert hub.count("/api/spaces/black-forest-labs/FLUX.1-schnell/jwt") == 1


def test_token_never_reaches_loopback_twin_unless_opted_in(fleet, token, tmp_path):
    fleet.clear_requests()
    with Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path)) as s:
        s.generate("flux-schnell", "x", seed=1, **SMALL).data
    space_reqs = _space_requests(fleet, "black-forest-labs/FLUX.1-schnell")
    assert space_reqs and not any(token in v for r in space_reqs for v in r.headers.values())
    hub_reqs = [r for r in fleet.requests if r.server == "hub"]
    assert any(token in v for r in hub_reqs for v in r.headers.values())

    fleet.clear_requests()
    port = fleet.url("black-forest-labs/FLUX.1-schnell").rsplit(":", 1)[1]
    with Session(hf_endpoint=fleet.hub_url, token=token, send_token_to=[f"127.0.0.1:{port}"],
                 cache_dir=str(tmp_path)) as s:
        s.generate("flux-schnell", "x", seed=1, **SMALL)
    space_reqs = _space_requests(fleet, "black-forest-labs/FLUX.1-schnell")
    assert any(r.headers.get("x-hf-authorization") == f"Bearer {token}" for r in space_reqs)


def test_anonymous_session_sends_no_token_and_no_jwt(fleet, tmp_path):
    fleet.clear_requests()
    with Session(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path)) as s:
        s.generate("flux-schnell", "x", seed=1, **SMALL)
    assert not any(r.path.endswith("/jwt") for r in fleet.requests)
    assert not any("authorization" in r.headers or "x-hf-authorization" in r.headers for r in fleet.requests)


def test_fallback_to_mirror_then_cooldown(session, fleet):
    fleet.set_fault("black-forest-labs/FLUX.1-dev", queue_full=True)
    events = list(session.stream("flux-dev", "x", seed=2, steps=2, **SMALL))
    fb = [e for e in events if isinstance(e, janusflux.Fallback)]
    assert fb and fb[0].from_space == "black-forest-labs/FLUX.1-dev" and fb[0].to_space == "roxky/FLUX.1-dev"
    assert events[-1].result.space_id == "roxky/FLUX.1-dev"
    # The official Space cools down: the next call goes straight to the mirror even though it is healthy again.
    fleet.clear_faults()
    fleet.clear_requests()
    r = session.generate("flux-dev", "x", seed=2, steps=2, **SMALL)
    assert r.space_id == "roxky/FLUX.1-dev"
    assert not _space_requests(fleet, "black-forest-labs/FLUX.1-dev")


ROLLOVER_WINDOW = 8.0  # s: a quota window that rolls over by itself; two calls fit in it many times over, even loaded
LONG_WINDOW = 60.0  # s: a window that cannot roll over during a test


def test_user_quota_waits_retry_after_then_succeeds(tmp_path):
    from janusflux.twins import start_twins

    with start_twins(["flux-schnell"], quota=60, quota_window=ROLLOVER_WINDOW, delay=0.0,
                     hardware_factor=1.0) as f:  # 60 s asked, as printed
        with Session(hf_endpoint=f.hub_url, token="hf_quota" + "q" * 24, cache_dir=str(tmp_path),
                     max_wait=2 * ROLLOVER_WINDOW) as s:
            s.generate("flux-schnell", "first", seed=1, **SMALL)  # books the 60 s: nothing left for the window
            events = list(s.stream("flux-schnell", "second", seed=1, **SMALL))
        waits = [e for e in events if isinstance(e, janusflux.Waiting)]
        assert waits and 0 < waits[0].seconds <= ROLLOVER_WINDOW + 1 and "retry-after" in waits[0].reason
        assert isinstance(events[-1], janusflux.Done)
        f.zero.ledger.window = LONG_WINDOW  # the second call must meet the spent quota, however slow the machine
        with Session(hf_endpoint=f.hub_url, token="hf_quota" + "r" * 24, cache_dir=str(tmp_path), max_wait=0.5) as s:
            s.generate("flux-schnell", "first", seed=1, **SMALL)
            with pytest.raises(janusflux.QuotaExceededError) as e:
                s.generate("flux-schnell", "second", seed=1, **SMALL)
        err = e.value
        assert err.scope == "user" and err.requested == 60 and err.left == 0
        assert 0.5 < err.retry_after <= LONG_WINDOW  # more than max_wait: that is why it raised
        assert err.space_id == "black-forest-labs/FLUX.1-schnell" and err.endpoint == "/infer"
        assert type(err.__cause__).__name__ == "AppError"


def test_space_limit_for_anonymous_falls_back(fleet, tmp_path):
    fleet.set_fault("black-forest-labs/FLUX.1-dev", space_limit=True)
    with Session(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path)) as s:
        events = list(s.stream("flux", "x", seed=1, steps=2, **SMALL))
    assert any(isinstance(e, janusflux.Fallback) for e in events)
    assert events[-1].result.space_id == "roxky/FLUX.1-dev"


def test_sleeping_space_is_woken(session, fleet):
    fleet.set_stage("black-forest-labs/FLUX.1-schnell", "SLEEPING", wake_after=0.5)
    events = list(session.stream("flux-schnell", "x", seed=1, **SMALL))
    assert any(isinstance(e, janusflux.Waking) for e in events)
    assert isinstance(events[-1], janusflux.Done)


def test_paused_space_without_mirror_is_unavailable(session, fleet):
    fleet.set_stage("black-forest-labs/FLUX.1-schnell", "PAUSED")
    with pytest.raises(janusflux.SpaceUnavailableError) as e:
        session.generate("flux-schnell", "x", seed=1, **SMALL)
    assert e.value.stage == "PAUSED"


def test_point_alias_at_url(fleet, tmp_path):
    url = fleet.url("roxky/FLUX.1-dev")
    janusflux.register_model("twin-flux", like="flux-dev", spaces=[url])
    try:
        with Session(token=False, cache_dir=str(tmp_path), hf_endpoint="http://127.0.0.1:9") as s:
            r = s.generate("twin-flux", "x", seed=9, steps=2, **SMALL)
        assert r.image.size == (256, 256) and r.seed == 9
    finally:
        janusflux.unregister_model("twin-flux")


def test_register_any_space_by_id_maps_parameters(session):
    janusflux.register_model("schnell-auto", spaces="black-forest-labs/FLUX.1-schnell")
    try:
        r = session.generate("schnell-auto", "auto mapped", seed=11, width=256, height=256)
        assert r.image.size == (256, 256) and r.seed == 11
    finally:
        janusflux.unregister_model("schnell-auto")


def test_module_level_functions_use_default_session(fleet, tmp_path):
    janusflux.configure(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path))
    try:
        r = janusflux.generate("flux-schnell", "default session", seed=3, **SMALL)
        assert r.image.size == (256, 256)
        assert asyncio.run(janusflux.agenerate("flux-schnell", "x", seed=3, **SMALL)).seed == 3
    finally:
        janusflux.close()


def test_session_close_leaves_no_clients(fleet, tmp_path):
    s = Session(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path))
    s.generate("flux-schnell", "x", seed=1, **SMALL)
    s.close()
    assert s._conns == {}
    with pytest.raises(janusflux.InvalidInputError):
        s.generate("flux-schnell", "x")


def test_stream_rejects_bad_input_before_iterating(session, fleet):
    n = len(fleet.requests)
    with pytest.raises(janusflux.InvalidInputError) as e:
        session.stream("flux", "x", width=5000)
    assert e.value.param == "width" and len(fleet.requests) == n


def test_astream_reports_progress_then_done(session):
    async def run():
        return [e async for e in session.astream("flux-dev", "x", seed=1, steps=3, **SMALL)]

    events = asyncio.run(run())
    progress = [e for e in events if isinstance(e, janusflux.Progress)]
    assert progress and progress[-1].total == 3
    assert events[-1].type == "done" and events[-1].result.image.size == (256, 256)


def test_progress_counts_steps(session):
    events = list(session.stream("flux-dev", "x", seed=1, steps=4, **SMALL))
    steps = [(e.step, e.total) for e in events if isinstance(e, janusflux.Progress)]
    assert steps[-1] == (4, 4) and steps[0][0] >= 1


def test_one_preview_per_step_and_image_result_as_input(session):
    events = list(session.stream("flux-dev", "x", seed=1, steps=4, **SMALL))
    assert sum(isinstance(e, janusflux.Preview) for e in events) == 4
    answer = session.generate("janus-pro-7b", "describe", image=events[-1].result)
    assert "256x256" in answer


def test_concurrent_calls_spread_over_mirrors(session, fleet):
    async def run():
        return await asyncio.gather(*(session.agenerate("flux-dev", f"p{i}", seed=i, steps=6, **SMALL)
                                      for i in range(4)))

    spaces = sorted(r.space_id for r in asyncio.run(run()))
    assert spaces == ["black-forest-labs/FLUX.1-dev"] * 2 + ["roxky/FLUX.1-dev"] * 2
    assert session.generate("flux-dev", "alone", seed=1, steps=1, **SMALL).space_id == "black-forest-labs/FLUX.1-dev"


# -- nothing leaves for a host the user did not configure ------------------------------------------------------------
OUTSIDE_CHILD = '''
import sys
import janusflux
from huggingface_hub.utils import _telemetry

janusflux.configure(hf_endpoint=sys.argv[1], token=sys.argv[2], cache_dir=sys.argv[3], max_wait=30)
r = janusflux.generate("flux", "a cat", width=256, height=256, steps=1, seed=3)
assert r.space_id == "black-forest-labs/FLUX.1-dev", r.space_id
janusflux.close()
_telemetry._TELEMETRY_QUEUE.join()  # telemetry queued meanwhile has been sent (or refused) by now
print("OK")
'''


def test_no_request_to_a_host_the_user_did_not_configure(fleet, token, tmp_path):
    """A fresh process as a user runs it (no HF_HUB_DISABLE_TELEMETRY, no GRADIO_ANALYTICS_ENABLED, no HF_ENDPOINT,
    an empty HF_HOME), every non-loopback lookup and connection refused and recorded: janusflux.generate through a
    session whose Hub is the Hub twin touches no host outside loopback."""
    log = tmp_path / "outside.jsonl"
    env = netguard.child_env(tmp_path / "guard", log, {
        k: v for k, v in os.environ.items()
        if k not in ("HF_HUB_DISABLE_TELEMETRY", "DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED", "HF_ENDPOINT",
                     "HF_HUB_OFFLINE", "HF_TOKEN")})
    env.update(PYTHONPATH=os.pathsep.join([env["PYTHONPATH"], str(REPO)]), HF_HOME=str(tmp_path / "hf-home"))
    p = subprocess.run([sys.executable, "-c", OUTSIDE_CHILD, fleet.hub_url, token, str(tmp_path / "cache")], env=env,
                       capture_output=True, text=True, timeout=90, cwd=str(tmp_path))
    assert p.returncode == 0 and "OK" in p.stdout, p.stderr[-3000:]
    attempts = netguard.read_log(log)
    assert attempts == [], "\n".join(f"{a['kind']} {a['host']} from\n{''.join(a['stack'])}" for a in attempts)


def test_outside_guard_records_what_leaves(tmp_path):
    """The guard of the test above is not blind: a lookup of an outside name is refused and recorded."""
    log = tmp_path / "outside.jsonl"
    env = netguard.child_env(tmp_path / "guard", log)
    code = ("import socket\ntry:\n    socket.create_connection(('huggingface.co', 443), timeout=3)\n"
            "except OSError as e:\n    print(type(e).__name__)\n"
            "try:\n    socket.socket().connect(('10.255.255.1', 443))\n"
            "except OSError as e:\n    print(type(e).__name__)\n")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert p.stdout.split() == ["gaierror", "ConnectionRefusedError"], p.stdout + p.stderr
    kinds = [(a["kind"], a["host"]) for a in netguard.read_log(log)]
    assert kinds == [("lookup", "huggingface.co"), ("connect", "10.255.255.1")]


# -- session options and entry points --------------------------------------------------------------------------------
DEV = "black-forest-labs/FLUX.1-dev"
SCHNELL = "black-forest-labs/FLUX.1-schnell"


def _joins(fleet, since, space=None):
    return [r for r in fleet.requests[since:]
            if r.path.endswith("/queue/join") and (space is None or r.server == space)]


def test_space_urls_route_without_the_hub(fleet, token, tmp_path):
    """``space_urls={space: url}`` serves that Space from the URL: no Hub look-up for it, the result names the Space,
    and the token (the URL is not a token host) is not sent there."""
    mark = len(fleet.requests)
    with Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path), zerogpu=False,
                 space_urls={SCHNELL: fleet.url(SCHNELL)}) as s:
        r = s.generate("flux-schnell", "a boat", seed=2, steps=1, **SMALL)
        assert s.stats["hub_calls"] == 0
    assert r.space_id == SCHNELL and r.seed == 2
    seen = fleet.requests[mark:]
    assert not [q for q in seen if q.server == "hub"], [(q.server, q.path) for q in seen]
    assert _joins(fleet, mark, SCHNELL)
    assert not [q for q in seen if any(token in v for v in q.headers.values())]


def test_zerogpu_false_sends_no_zerogpu_identity(fleet, token, tmp_path):
    """``zerogpu=False``: no ZeroGPU token is fetched and no ``x-zerogpu-*`` header reaches a Space."""
    mark = len(fleet.requests)
    with Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path), zerogpu=False) as s:
        s.generate("flux-schnell", "a boat", steps=1, **SMALL)
        assert s.stats["jwt_fetches"] == 0
    spaces = [q for q in fleet.requests[mark:] if q.server != "hub"]
    assert spaces and not [q for q in spaces if any(h.startswith("x-zerogpu") for h in q.headers)]
    # and the default does send it (the test above would pass on a session that never sends one)
    mark = len(fleet.requests)
    with Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path / "2")) as s:
        s.generate("flux-schnell", "a boat", steps=1, **SMALL)
    assert [q for q in fleet.requests[mark:] if q.server == SCHNELL and "x-zerogpu-token" in q.headers]


def test_ip_token_is_passed_to_the_space(fleet, tmp_path):
    """``ip_token=...`` goes to the Space as ``x-ip-token`` (the header a Gradio app forwards for its visitor)."""
    mark = len(fleet.requests)
    with Session(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path),
                 ip_token="ipt_" + "7" * 24) as s:
        s.generate("flux-schnell", "a boat", steps=1, **SMALL)
    joins = _joins(fleet, mark, SCHNELL)
    assert joins and all("x-ip-token" in q.headers for q in joins)
    assert not [q for q in fleet.requests[mark:] if q.server == "hub" and "x-ip-token" in q.headers]


def test_running_out_of_max_attempts(fleet, token, tmp_path):
    """A retryable fault that persists (pending ZeroGPU credits) on a Space without a mirror, max_wait large:
    ``max_attempts=2`` ends the call after two joins with the last typed error."""
    fleet.set_fault(SCHNELL, pending_credits=True)
    mark = len(fleet.requests)
    with Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path), max_wait=60,
                 max_attempts=2) as s, pytest.raises(janusflux.QuotaExceededError) as info:
        s.generate("flux-schnell", "a boat", steps=1, **SMALL)
    assert info.value.scope == "pending" and info.value.space_id == SCHNELL
    assert len(_joins(fleet, mark, SCHNELL)) == 2


def test_async_with_session(fleet, token, tmp_path):
    """``async with Session(...)``: usable inside, closed after (a call then is an InvalidInputError)."""

    async def main() -> Session:
        async with Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path)) as s:
            r = await s.agenerate("flux-schnell", "a boat", seed=4, steps=1, **SMALL)
            assert r.seed == 4
        return s

    s = asyncio.run(main())
    with pytest.raises(janusflux.InvalidInputError) as info:
        s.generate("flux-schnell", "x", steps=1, **SMALL)
    assert info.value.param == "session"


def test_module_astream(fleet, token, tmp_path):
    """``janusflux.astream`` on the default session: events, then Done with the result."""
    janusflux.configure(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path))

    async def main() -> list:
        return [ev async for ev in janusflux.astream("flux", "a fox", seed=9, steps=3, **SMALL)]

    try:
        events = asyncio.run(main())
    finally:
        janusflux.close()
    assert isinstance(events[-1], janusflux.Done) and events[-1].result.seed == 9
    assert [e for e in events if isinstance(e, janusflux.Preview)], [e.type for e in events]


# -- production token routing (unit: no request is made) -------------------------------------------------------------
@pytest.mark.parametrize("url,allowed", [
    ("https://huggingface.co/api/spaces/x/y", True),
    ("https://black-forest-labs-flux-1-dev.hf.space/gradio_api/info", True),
    ("https://api-inference.huggingface.co/x", True),
    ("http://huggingface.co/api", False),  # plain http
    ("http://black-forest-labs-flux-1-dev.hf.space/", False),
    ("https://evilhuggingface.co/", False),
    ("https://huggingface.co.evil.example/", False),
    ("https://hf.space.evil.example/", False),
    ("https://evil-hf.space/", False),
    ("https://example.org/", False),
    ("file:///etc/passwd", False),
    ("not a url", False),
])
def test_production_token_routing(url, allowed):
    """With the default Hub (huggingface.co), the token goes to Hugging Face hosts over https only."""
    with Session(token="hf_" + "r" * 30) as s:
        assert s.hf_endpoint.rstrip("/") == "https://huggingface.co"
        assert s.is_token_host(url) is allowed
        assert s.token_for(url) == ("hf_" + "r" * 30 if allowed else None)


@pytest.mark.parametrize("url", ["https://huggingface.co:8443/", "https://x.hf.space:8443/"])
def test_production_token_routing_only_port_443(url):
    with Session(token="hf_" + "r" * 30) as s:
        assert s.token_for(url) is None


def test_no_token_means_no_token_anywhere():
    with Session(token=False) as s:
        assert not s.has_token
        assert s.token_for("https://huggingface.co/") is None
