"""Every scenario of Space traffic, replayed from its cassette with the network blocked and no twin running.

The same test bodies record the cassettes (``pytest tests/replay --janusflux-record``): while recording,
``janusflux_cassette.fleet`` is the live twin fleet (faults and stages are set on it); on replay it is None. Seeds are
always explicit: the SDK draws missing seeds at random and they go into the request body that replay matches on.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import janusflux
from janusflux.testing import FAKE_JWT, JanusfluxCassette

FLUX_DEV = "black-forest-labs/FLUX.1-dev"
FLUX_DEV_MIRROR = "roxky/FLUX.1-dev"
FLUX_SCHNELL = "black-forest-labs/FLUX.1-schnell"
JANUS = "deepseek-ai/Janus-Pro-7B"
QUOTA_PORT = 47880  # the quota scenario's own fleet: tiny quota, 1 s window

# alias -> (call arguments, official Space)
HAPPY: dict[str, tuple[dict[str, Any], str]] = {
    "flux": ({"prompt": "a lighthouse at dawn", "width": 256, "height": 256, "steps": 2, "seed": 11}, FLUX_DEV),
    "flux-dev": ({"prompt": "a red fox in snow", "width": 256, "height": 256, "steps": 3, "seed": 12}, FLUX_DEV),
    "flux-schnell": ({"prompt": "a paper boat", "width": 256, "height": 256, "steps": 1, "seed": 13}, FLUX_SCHNELL),
    # the 64x64 white PNG these cassettes were recorded with (janusflux used to send it when no image was given)
    "janus-pro-7b": ({"prompt": "What is in this picture?", "seed": 14, "image": Image.new("RGB", (64, 64), "white")},
                     JANUS),
    "janus-pro-7b-image": ({"prompt": "a glass of red wine", "seed": 15}, JANUS),
}
FORMS = ("sync", "async", "stream")


def _size(result: janusflux.ImageResult) -> tuple[int, int]:
    """The size decoded from the bytes the Space sent (not the requested size)."""
    with Image.open(io.BytesIO(result.data)) as im:
        return im.size


def _run(session: janusflux.Session, alias: str, kwargs: dict[str, Any], form: str) -> tuple[Any, list[Any]]:
    kwargs = dict(kwargs)
    prompt = kwargs.pop("prompt")
    if form == "sync":
        return session.generate(alias, prompt, **kwargs), []
    if form == "async":
        return asyncio.run(session.agenerate(alias, prompt, **kwargs)), []
    events = list(session.stream(alias, prompt, **kwargs))
    assert isinstance(events[-1], janusflux.Done)
    return events[-1].result, events


def _types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


@pytest.mark.parametrize(("alias", "form"), [
    pytest.param(alias, form, marks=pytest.mark.janusflux_cassette(f"{alias}__{form}"), id=f"{alias}-{form}")
    for alias in HAPPY for form in FORMS])
def test_happy_path(janusflux_cassette: JanusfluxCassette, alias: str, form: str) -> None:
    kwargs, space = HAPPY[alias]
    result, events = _run(janusflux_cassette.session, alias, kwargs, form)
    twin = not janusflux_cassette.real  # cassettes of the real Spaces (--janusflux-real) hold other texts and URLs
    if alias == "janus-pro-7b":
        assert isinstance(result, janusflux.TextResult)
        if twin:  # the twin describes the image it got
            assert "64x64 pixels" in result and "white" in result
            assert 'You asked: "What is in this picture?"' in result
        assert (result.seed, result.space_id, result.model) == (14, space, alias)
    elif alias == "janus-pro-7b-image":
        assert isinstance(result, janusflux.ImageList) and len(result) == 5
        assert [im.index for im in result] == [0, 1, 2, 3, 4]
        assert _size(result[0]) == (768, 768)
        assert (result.seed, result[0].space_id) == (15, space)
    else:
        assert isinstance(result, janusflux.ImageResult)
        assert (result.seed, result.space_id, result.model) == (kwargs["seed"], space, alias)
        assert _size(result) == (256, 256)
        assert result.url and result.url.startswith("http://127.0.0.1:" if twin else "https://")
    if form == "stream":
        types = _types(events)
        assert types[0] == "queued" and "started" in types and types[-1] == "done"
        assert types.index("queued") < types.index("started")
        assert all(e.space_id == space for e in events[:-1])
        previews = [e for e in events if e.type == "preview"]
        if alias in ("flux", "flux-dev"):  # FLUX.1-dev yields a preview per step, then the final image
            assert [p.step for p in previews] == list(range(1, len(previews) + 1))
            assert len(previews) >= kwargs["steps"]
            assert _size(previews[0].image) == (256, 256)
        else:
            assert previews == []


@pytest.mark.janusflux_cassette("janus-pro-7b__vision-chat")
def test_vision_chat_with_uploaded_image(janusflux_cassette: JanusfluxCassette, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    Image.new("RGB", (96, 64), (220, 40, 40)).save(photo)
    messages = [
        {"role": "user", "content": "Hello, I will show you a picture."},
        {"role": "assistant", "content": "Please do."},
        {"role": "user", "content": [{"type": "text", "text": "What colour is it?"}, {"type": "image"}]},
    ]
    answer = janusflux_cassette.session.generate("janus-pro-7b", messages=messages, image=str(photo), seed=3)
    assert isinstance(answer, janusflux.TextResult)
    if janusflux_cassette.real:
        assert answer.strip()
        return
    assert "96x64 pixels" in answer and "dominant colours are red" in answer
    assert "What colour is it?" in answer and "Please do." in answer  # the turns were folded into one question
    uploads = [r for r in janusflux_cassette.requests if r.path.endswith("/gradio_api/upload")]
    assert len(uploads) == 1 and b"photo.png" in uploads[0].body


@pytest.mark.janusflux_cassette("flux-dev__quota-retry-after",
                                twins={"spaces": [FLUX_DEV], "port": QUOTA_PORT, "quota": 150, "quota_window": 1.0},
                                session={"max_wait": 10.0})
def test_quota_retry_after_then_success(janusflux_cassette: JanusfluxCassette) -> None:
    session = janusflux_cassette.session
    first = session.generate("flux-dev", "first", width=256, height=256, steps=1, seed=21)  # 112 s of 150
    assert first.seed == 21
    events = list(session.stream("flux-dev", "second", width=256, height=256, steps=1, seed=22))
    types = _types(events)
    assert "retry" in types and "waiting" in types and types[-1] == "done"
    retry = next(e for e in events if e.type == "retry")
    assert "You have exceeded your free ZeroGPU quota (112s requested vs. 38s left)" in retry.error
    waiting = [e for e in events if e.type == "waiting"]
    assert waiting[0].reason == "ZeroGPU quota: retry-after"
    assert 1.0 <= waiting[0].seconds <= 1.2  # "Try again in 0:00:01" plus the policy's margin
    assert "fallback" not in types  # another Space would not help a user out of quota
    result = events[-1].result
    assert (result.seed, result.space_id) == (22, FLUX_DEV) and _size(result) == (256, 256)


@pytest.mark.janusflux_cassette("flux-dev__fallback-mirror", twins_only=True)
def test_fallback_from_full_queue_to_mirror(janusflux_cassette: JanusfluxCassette) -> None:
    if janusflux_cassette.fleet is not None:
        janusflux_cassette.fleet.set_fault(FLUX_DEV, queue_full=True)
    events = list(janusflux_cassette.session.stream("flux-dev", "a castle", width=256, height=256, steps=1, seed=31))
    fallbacks = [e for e in events if e.type == "fallback"]
    assert [(f.from_space, f.to_space) for f in fallbacks] == [(FLUX_DEV, FLUX_DEV_MIRROR)]
    assert fallbacks[0].reason == "queue full"
    result = events[-1].result
    assert (result.seed, result.space_id) == (31, FLUX_DEV_MIRROR) and _size(result) == (256, 256)
    hosts = {r.port for r in janusflux_cassette.requests if "/queue/join" in r.path}
    assert len(hosts) == 2  # one refused join on the official Space, one accepted on the mirror


@pytest.mark.janusflux_cassette("flux-schnell__sleeping-wake", twins_only=True)
def test_sleeping_space_is_woken(janusflux_cassette: JanusfluxCassette) -> None:
    if janusflux_cassette.fleet is not None:
        janusflux_cassette.fleet.set_stage(FLUX_SCHNELL, "SLEEPING", wake_after=0.3)
    events = list(janusflux_cassette.session.stream("flux-schnell", "a lamp", width=256, height=256, steps=1,
                                                    seed=41))
    wakes = [e for e in events if e.type == "waking"]
    assert [(w.stage, w.space_id) for w in wakes] == [("SLEEPING", FLUX_SCHNELL)]
    assert _types(events).index("waking") < _types(events).index("queued")
    result = events[-1].result
    assert (result.seed, result.space_id) == (41, FLUX_SCHNELL) and _size(result) == (256, 256)
    infos = [r for r in janusflux_cassette.requests if r.path == f"/api/spaces/{FLUX_SCHNELL}"]
    assert len(infos) >= 2  # asked while sleeping, then again once awake


@pytest.mark.janusflux_cassette("zerogpu__jwt")
def test_zerogpu_jwt_fetched_once_and_reused(janusflux_cassette: JanusfluxCassette) -> None:
    session = janusflux_cassette.session
    a = session.generate("flux-schnell", "one", width=256, height=256, steps=1, seed=51)
    b = session.generate("flux-schnell", "two", width=256, height=256, steps=1, seed=52)
    assert (a.seed, b.seed) == (51, 52)
    assert session.stats["jwt_fetches"] == 1
    jwt = [(r, resp) for r, resp in janusflux_cassette.cassette.data if r.path.endswith("/jwt")]
    assert len(jwt) == 1
    request, response = jwt[0]
    assert request.path == f"/api/spaces/{FLUX_SCHNELL}/jwt"
    assert dict(request.query)["include_pro_status"] == "true"
    assert FAKE_JWT.encode() in response["body"]["string"]  # the real token never reaches the cassette
    if janusflux_cassette.fleet is not None:  # recording: both calls carried the same ZeroGPU token
        joins = [r for r in janusflux_cassette.fleet.requests if r.path.endswith("/queue/join")][-2:]
        tokens = {r.headers.get("x-zerogpu-token") for r in joins}
        assert len(tokens) == 1 and None not in tokens
