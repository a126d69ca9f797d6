"""The documented G4F interface (janusflux.compat) against the live twins on loopback."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import httpx
import pytest
from PIL import Image

import janusflux
from janusflux import InvalidInputError, UnknownModelError
from janusflux.compat import G4F, FluxDev, ImagePreview, ImageResponse, Reasoning
from janusflux.compat import g4f as compat

pytestmark = pytest.mark.live

CAT = [{"role": "user", "content": "generate a cat image"}]
HELLO = [{"role": "user", "content": "Hello, how are you?"}]
DEV, ROXKY_DEV = "black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev"
ROXKY_JANUS, SCHNELL = "roxky/Janus-Pro-7B", "black-forest-labs/FLUX.1-schnell"


@pytest.fixture
def g4f(session, fleet, monkeypatch):
    """G4F and FluxDev aimed at the twins (the session fixture: a user token, sent to the Hub twin only)."""
    monkeypatch.setattr(G4F, "session", session)
    monkeypatch.setattr(FluxDev, "session", session)
    fleet.clear_requests()
    return session


def collect(model: str, messages: Any = CAT, cls: type = G4F, **kw: Any) -> list[Any]:
    return asyncio.run(collect_async(model, messages, cls, **kw))


async def collect_async(model: str, messages: Any = CAT, cls: type = G4F, **kw: Any) -> list[Any]:
    return [chunk async for chunk in cls.create_async_generator(model=model, messages=messages, **kw)]


def joins(fleet) -> list[Any]:
    return [r for r in fleet.requests if r.path.endswith("/queue/join")]


def image_size(url: str) -> tuple[int, int]:
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200, url
    return Image.open(io.BytesIO(r.content)).size


def assert_no_sentinel(fleet) -> None:
    for r in fleet.requests:
        assert compat.UNSET_UUID not in r.headers.values(), (r.server, r.path)
        assert "object Object" not in r.query


def check_sequence(chunks: list[Any]) -> None:
    """Statuses only, then the result; at least one status, and 'Finished' right before the result."""
    assert len(chunks) >= 2
    assert all(type(c) is Reasoning for c in chunks[:-1]), [type(c).__name__ for c in chunks]
    assert chunks[-2].status.startswith("Finished ")


# -- the documented attributes -------------------------------------------------------------------------------------
def test_documented_attributes():
    assert G4F.label == "G4F framework"
    assert G4F.space == "roxky/Janus-Pro-7B"
    assert G4F.url == "https://huggingface.co/spaces/roxky/g4f-space"
    assert G4F.api_url == "https://roxky-janus-pro-7b.hf.space"
    assert G4F.url_flux == "https://roxky-g4f-flux.hf.space/run/predict"
    assert G4F.referer.startswith(G4F.api_url)
    assert G4F.default_model == "flux"
    assert G4F.model_aliases == {"flux-schnell": "flux"}
    assert {"flux", "flux-dev", "flux-schnell", "janus-pro-7b-image"} <= set(G4F.image_models)
    assert set(G4F.image_models) < set(G4F.models) and "janus-pro-7b" in G4F.models
    assert FluxDev.url == "https://roxky-flux-1-dev.hf.space"
    assert FluxDev.space == "roxky/FLUX.1-dev"
    assert FluxDev.referer.startswith(FluxDev.url)
    assert {"flux", "flux-dev"} <= set(FluxDev.models)
    assert G4F.session is None and FluxDev.session is None  # default: janusflux's default session
    import inspect

    sig = inspect.signature(G4F.create_async_generator)
    assert list(sig.parameters)[:11] == ["model", "messages", "proxy", "prompt", "aspect_ratio", "width", "height",
                                         "seed", "cookies", "api_key", "zerogpu_uuid"]
    assert sig.parameters["aspect_ratio"].default == "1:1"
    assert sig.parameters["zerogpu_uuid"].default == "[object Object]"
    assert inspect.isasyncgenfunction(G4F.create_async_generator.__func__)


def test_model_aliases_and_routing():
    assert G4F.get_model("flux-schnell") == "flux"  # the documented alias
    assert G4F.get_model("") == "flux" and G4F.get_model("flux-dev") == "flux-dev"
    assert FluxDev.get_model("flux") == FluxDev.default_model
    route = {name: (G4F._target(name).alias, G4F._target(name).first) for name in (
        "flux", "FLUX-dev", "flux-schnell", "janus-pro-7b", "Janus-Pro-7B", "DeepseekAI_JanusPro7b",
        "janus-pro-7b-image")}
    assert route == {
        "flux": ("flux-dev", ROXKY_DEV), "FLUX-dev": ("flux-dev", ROXKY_DEV), "flux-schnell": ("flux-schnell", None),
        "janus-pro-7b": ("janus-pro-7b", ROXKY_JANUS), "Janus-Pro-7B": ("janus-pro-7b", ROXKY_JANUS),
        "DeepseekAI_JanusPro7b": ("janus-pro-7b", ROXKY_JANUS),
        "janus-pro-7b-image": ("janus-pro-7b-image", ROXKY_JANUS)}
    # the mirror the class names first, janusflux's official Space as fallback
    assert compat._spec_for(G4F._target("flux")).spaces == (ROXKY_DEV, DEV)
    assert compat._spec_for(G4F._target("janus-pro-7b")).spaces == (ROXKY_JANUS, "deepseek-ai/Janus-Pro-7B")
    try:  # a user's own registration of the alias is respected
        janusflux.register_model("flux-dev", like="flux-dev", spaces=["http://127.0.0.1:1"], replace=True)
        assert compat._spec_for(G4F._target("flux")).spaces == ("http://127.0.0.1:1",)
    finally:
        janusflux.unregister_model("flux-dev")
    assert compat._spec_for(G4F._target("flux")).spaces == (ROXKY_DEV, DEV)
    with pytest.raises(UnknownModelError) as e:
        G4F.get_model("flux-pro")
    assert "flux" in e.value.suggestions and "janus-pro-7b" in str(e.value)
    with pytest.raises(UnknownModelError):
        FluxDev.get_model("janus-pro-7b")


# -- the two documented examples, unchanged ----------------------------------------------------------------------
def test_documented_flux_example(g4f, fleet, capsys):
    chunks: list[Any] = []

    async def example() -> None:
        async for chunk in G4F.create_async_generator(model="flux", messages=[{"role": "user", "content": "generate a cat image"}]):  # noqa: E501 - the documented example, unchanged
            print(chunk)
            chunks.append(chunk)

    asyncio.run(example())
    check_sequence(chunks)
    final = chunks[-1]
    assert type(final) is ImageResponse
    assert final.alt == "generate a cat image"
    assert final.options["space_id"] == ROXKY_DEV and final.options["model"] == "flux-dev"
    assert (final.options["width"], final.options["height"]) == (1024, 1024)  # 1:1 on FLUX.1-dev
    assert image_size(final.images) == (1024, 1024)
    assert final.result.seed == final.options["seed"]
    statuses = [c.status for c in chunks[:-1]]
    assert f"Generating on {ROXKY_DEV}" in statuses and "Step 28/28" in statuses
    steps = [s for s in statuses if s.startswith("Step ")]
    numbers = [int(s.split()[1].split("/")[0]) for s in steps]
    assert numbers == sorted(set(numbers)) and numbers[-1] == 28  # each step once (progress and preview both
    assert len(numbers) >= 20 and all(s.endswith("/28") for s in steps)  # report it), in order
    out = capsys.readouterr().out
    assert "Step 1/28" in out and "<!-- generated images start -->" in out and final.images in out
    assert [r.server for r in joins(fleet)] == [ROXKY_DEV]  # the Space FluxDev names, first
    assert joins(fleet)[0].headers.get("x-zerogpu-token")  # the session fetched a ZeroGPU token with its HF token
    assert_no_sentinel(fleet)


def test_documented_janus_example(g4f, fleet, capsys):
    chunks: list[Any] = []

    async def example() -> None:
        async for chunk in G4F.create_async_generator(model="DeepseekAI_JanusPro7b", messages=[{"role": "user", "content": "Hello, how are you?"}]):  # noqa: E501 - the documented example, unchanged
            print(chunk)
            chunks.append(chunk)

    asyncio.run(example())
    check_sequence(chunks)
    answer = chunks[-1]
    assert isinstance(answer, str) and not isinstance(answer, Reasoning) and answer.strip()
    assert "Hello, how are you?" in answer  # the twin echoes the question it got
    assert answer in capsys.readouterr().out
    assert [r.server for r in joins(fleet)] == [ROXKY_JANUS]
    assert_no_sentinel(fleet)


# -- parameters ------------------------------------------------------------------------------------------------------
def test_size_and_seed_pass_through(g4f, fleet):
    chunks = collect("flux", width=256, height=320, seed=1234, num_inference_steps=2)
    final = chunks[-1]
    assert final.options["seed"] == 1234  # the seed the Space reported using
    assert image_size(final.images) == (256, 320)
    assert "Step 2/2" in [c.status for c in chunks[:-1]]
    final = collect("flux-dev", cls=FluxDev, aspect_ratio="16:9", width=512, seed=7, steps=2)[-1]
    assert image_size(final.images) == (512, 288) and final.options["seed"] == 7
    final = collect("flux", prompt="a red fox", aspect_ratio="3:4", seed=9, steps=1, guidance_scale=2.0)[-1]
    assert final.alt == "a red fox"  # prompt wins over messages
    w, h = image_size(final.images)
    assert w % 32 == 0 and h % 32 == 0 and abs(w / h - 3 / 4) < 0.05
    # randomize_seed: the Space picks the seed (one in 2**31), not the one given, and another one each call
    seeds = [collect("flux", width=256, height=256, seed=5, randomize_seed=True, steps=1)[-1].options["seed"]
             for _ in range(2)]
    assert all(isinstance(x, int) and x != 5 for x in seeds) and seeds[0] != seeds[1], seeds


def test_flux_schnell_and_janus_image(g4f, fleet):
    final = collect("flux-schnell", width=256, height=256, seed=3)[-1]
    assert type(final) is ImageResponse and final.options["space_id"] == SCHNELL
    assert image_size(final.images) == (256, 256)
    final = collect("janus-pro-7b-image", messages=[{"role": "user", "content": "a fox"}], seed=11)[-1]
    assert type(final) is ImageResponse and isinstance(final.images, list) and len(final.images) == 5
    assert final.options["space_id"] == ROXKY_JANUS and final.alt == "a fox"
    assert image_size(final.images[0]) == (768, 768)
    assert str(final).count("](") == 10  # g4f's markdown: 5 linked images


def test_api_key_is_the_zerogpu_token(g4f, fleet, token):
    key = fleet.issue_token(ROXKY_DEV, user_token=token)
    chunks = collect("flux", width=256, height=256, steps=1, api_key=key, zerogpu_uuid="compat-uuid-1")
    assert type(chunks[-1]) is ImageResponse
    (join,) = joins(fleet)
    assert join.headers["x-zerogpu-token"] == key and join.headers["x-zerogpu-uuid"] == "compat-uuid-1"
    assert not [r for r in fleet.requests if r.path.endswith("/jwt")]  # none fetched: the caller gave one
    assert all(key not in repr(c) and key not in str(c) for c in chunks)
    # the session itself is unchanged: without api_key it fetches its own token and uses its own uuid
    fleet.clear_requests()
    collect("flux", width=256, height=256, steps=1, api_key=key)  # the documented default uuid
    (join,) = joins(fleet)
    assert join.headers["x-zerogpu-uuid"] == g4f._zerogpu_uuid != compat.UNSET_UUID
    fleet.clear_requests()
    collect("flux", width=256, height=256, steps=1)
    (join,) = joins(fleet)
    assert join.headers["x-zerogpu-token"] != key and join.headers["x-zerogpu-uuid"] == g4f._zerogpu_uuid
    assert [r for r in fleet.requests if r.path.endswith("/jwt")]
    assert_no_sentinel(fleet)


def test_no_token_sends_no_zerogpu_headers(fleet, monkeypatch, tmp_path):
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path)) as s:
        monkeypatch.setattr(G4F, "session", s)
        fleet.clear_requests()
        chunks = collect("flux", width=256, height=256, steps=1, zerogpu_uuid="[object Object]")
        assert type(chunks[-1]) is ImageResponse
        (join,) = joins(fleet)
        assert "x-zerogpu-token" not in join.headers and "x-zerogpu-uuid" not in join.headers
        assert_no_sentinel(fleet)


def test_default_session_is_janusflux_default(fleet, token, tmp_path):
    assert G4F.session is None
    janusflux.configure(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path))
    try:
        fleet.clear_requests()
        answer = collect("janus-pro-7b", messages=HELLO)[-1]
        assert "Hello, how are you?" in answer
        assert [r.server for r in joins(fleet)] == [ROXKY_JANUS]
    finally:
        janusflux.close()


def test_janus_chat_with_media_and_prompt(g4f, fleet, tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (96, 80), (220, 10, 10)).save(path)
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    answer = collect("Janus-Pro-7B", messages=history, prompt="What colour is it?",
                     media=[(path.read_bytes(), "red.png")], seed=1, temperature=0.0)[-1]
    assert "96x80" in answer and "red" in answer
    assert 'You asked: "What colour is it?"' in answer  # prompt wins over messages, as in g4f
    answer = collect("janus-pro-7b", messages=[*history, {"role": "user", "content": "and now?"}], image=str(path))[-1]
    assert "User: hi" in answer and "and now?" in answer  # no memory on the Space: the chat is folded


def test_fallback_to_the_official_space_shows_as_status(g4f, fleet):
    fleet.set_fault(ROXKY_DEV, queue_full=True)
    chunks = collect("flux", width=256, height=256, steps=1, seed=1)
    statuses = [c.status for c in chunks[:-1]]
    assert any(s.startswith(f"Switching from {ROXKY_DEV} to {DEV}") for s in statuses), statuses
    assert any(s.startswith("Retrying after attempt 1") for s in statuses)
    assert chunks[-1].options["space_id"] == DEV


def test_previews_and_heartbeat(g4f, fleet, monkeypatch):
    monkeypatch.setattr(G4F, "status_interval", 0.02)
    fleet.set_fault(ROXKY_DEV, slow=0.3)
    chunks = collect("flux", width=256, height=256, steps=3, previews=True)
    previews = [c for c in chunks if isinstance(c, ImagePreview)]
    assert previews and all(str(p) == "" and p.to_string() for p in previews)
    assert type(chunks[-1]) is ImageResponse
    assert any(isinstance(c, Reasoning) and c.status.startswith("Generating ") and c.status.endswith("s")
               for c in chunks)
    assert image_size(previews[0].images) == (256, 256)


def close_after_first_chunk(steps: int = 20) -> Any:
    async def main() -> Any:
        agen = G4F.create_async_generator(model="flux", messages=CAT, width=256, height=256, steps=steps)
        first = await agen.__anext__()
        await asyncio.wait_for(agen.aclose(), 5)  # closing never hangs; it cancels the job (astream's cleanup)
        with pytest.raises(StopAsyncIteration):  # and the generator is finished: nothing more comes
            await agen.__anext__()
        return first

    return asyncio.run(main())


def test_closing_early_returns_at_once(g4f, fleet):
    """Leaving after the call's first real event returns within the session's cancel grace (2 s), long before the
    job on the Space ends (6 s), and the generator is finished. (Whether Gradio stops a job cancelled before its
    first step is test_cancel's business: it cannot, see there.)"""
    fleet.set_fault(ROXKY_DEV, slow=6.0, times=1)
    mark = len(fleet.requests)

    async def main() -> tuple[list[Any], float]:
        agen = G4F.create_async_generator(model="flux", messages=CAT, width=256, height=256, steps=2)
        seen = [await agen.__anext__()]
        while seen[-1].event is None:  # heartbeats until the call's first real event (queued / started)
            seen.append(await agen.__anext__())
        t0 = time.monotonic()
        await asyncio.wait_for(agen.aclose(), 5)
        took = time.monotonic() - t0
        with pytest.raises(StopAsyncIteration):
            await agen.__anext__()
        return seen, took

    seen, took = asyncio.run(main())
    assert took < 5.0, f"closing took {took:.1f}s: it waited for the job"
    assert all(type(c) is Reasoning for c in seen)
    assert all(c.status.startswith("Generating ") for c in seen[:-1])
    assert seen[-1].status.startswith((f"Queued 1/1 on {ROXKY_DEV}", f"Generating on {ROXKY_DEV}")), seen[-1].status
    assert [r.server for r in fleet.requests[mark:] if r.path.endswith("/queue/join")] == [ROXKY_DEV]


@pytest.mark.timeout(60)
def test_session_stays_usable_after_an_early_close(g4f, fleet):
    assert type(close_after_first_chunk()) is Reasoning

    async def again() -> list[Any]:
        return await asyncio.wait_for(
            collect_async("flux", width=256, height=256, steps=1), 8)

    assert type(asyncio.run(again())[-1]) is ImageResponse


# -- invalid input: raised on the first __anext__, before any request ----------------------------------------------
@pytest.mark.parametrize("model, kw, param", [
    ("dall-e-3", {}, "model"),
    (123, {}, "model"),
    ("flux", {"proxy": "http://127.0.0.1:9"}, "proxy"),
    ("flux", {"width": 4096}, "width"),
    ("flux", {"seed": -1}, "seed"),
    ("flux", {"aspect_ratio": "wide"}, "aspect_ratio"),
    ("flux", {"messages": []}, "messages"),
    ("flux", {"messages": "a cat"}, "messages"),
    ("flux", {"num_inference_steps": 0}, "steps"),
    ("flux", {"n": 2}, "n"),
    ("flux", {"api_key": "two words"}, "api_key"),
    ("flux", {"zerogpu_uuid": 5}, "zerogpu_uuid"),
    ("flux", {"cookies": "a=b"}, "cookies"),
    ("flux", {"previews": "yes"}, "previews"),
    ("janus-pro-7b", {"width": 256}, "width"),
    ("janus-pro-7b", {"aspect_ratio": "16:9"}, "aspect_ratio"),
    ("janus-pro-7b-image", {"width": 256}, "width"),
    ("janus-pro-7b", {"temperature": 2.0}, "temperature"),
])
def test_invalid_input_raises_before_any_request(g4f, fleet, model, kw, param):
    kw = {"messages": CAT, **kw}
    before = len(fleet.requests)

    async def main() -> None:
        agen = G4F.create_async_generator(model=model, **kw)
        await agen.__anext__()

    with pytest.raises(InvalidInputError) as e:
        asyncio.run(main())
    assert e.value.param == param
    assert len(fleet.requests) == before
    assert g4f.stats["clients"] == 0


def test_fluxdev_refuses_other_models(g4f, fleet):
    with pytest.raises(UnknownModelError):
        collect("janus-pro-7b", cls=FluxDev)
    assert not fleet.requests


def test_proxy_error_says_why():
    async def main() -> None:
        await G4F.create_async_generator(model="flux", messages=CAT, proxy="socks5://127.0.0.1:1").__anext__()

    with pytest.raises(InvalidInputError, match="HTTPS_PROXY"):
        asyncio.run(main())


# -- pure pieces -----------------------------------------------------------------------------------------------------
def test_status_texts():
    from janusflux.results import Done, Fallback, Log, Progress, Queued, Retry, Started, Waiting, Waking

    cases = [
        (Queued(rank=0, queue_size=3, eta=12.0, space_id="a/b"), "Queued 1/3 on a/b, about 12s"),
        (Started(space_id="a/b"), "Generating on a/b"),
        (Progress(step=3, total=28, space_id="a/b"), "Step 3/28"),
        (Log(message="Waiting for a GPU to become available"), "Waiting for a GPU to become available"),
        (Waking(stage="SLEEPING", space_id="a/b"), "Waking a/b (SLEEPING)"),
        (Waiting(seconds=2, reason="ZeroGPU quota: retry-after"), "Waiting 2.0s: ZeroGPU quota: retry-after"),
        (Retry(attempt=1, error="queue full"), "Retrying after attempt 1: queue full"),
        (Fallback(from_space="a/b", to_space="c/d", reason="429"), "Switching from a/b to c/d: 429"),
    ]
    for event, text in cases:
        chunk = compat.status_of(event)
        assert chunk.status == text and str(chunk) == text + "\n" and chunk.event is event
    assert compat.status_of(Done(result=None)) is None
    assert Reasoning(status="x") == Reasoning(status="x") != Reasoning(status="y")
    r = ImageResponse("http://h/a.webp", "a [cat]\n")
    assert str(r) == "\n<!-- generated images start -->\n[![a [cat]](http://h/a.webp)](http://h/a.webp)\n" \
                     "<!-- generated images end -->\n\n"
    assert r.get_list() == ["http://h/a.webp"] and r.urls == r.images
