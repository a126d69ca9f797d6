"""A Space is untrusted input (issue 13): what a hostile Space sends must not move the token, the ZeroGPU identity,
local files, memory or time out of bounds.

The hostile Space and the Hub that names it are small loopback servers (tests/hostile_space.py) serving the
``/config`` and ``/info`` of a real Gradio twin. Real Hugging Face names on port 443 (``victim-space.hf.space``, the
Space the Hub names, and ``evil.hf.space``, a Space anyone could own) reach them through a test name table that
stands for DNS, over TLS with a throwaway CA the session trusts through ``SSL_CERT_FILE``. Every test counts what
reached which server.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import janusflux
from hostile_space import SPACE_ID, Plan, Seen, Server, file_data, hf_names, make_tls
from janusflux.errors import GenerationTimeoutError, InvalidInputError, SpaceAppError, SpaceRefusedError

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

TOKEN = "hf_hostile" + "a1b2c3d4e5f6a7b8c9d0"
JWT = "zgpu.hostile.e30" + "f00dfeedcafe1234"
IP_TOKEN = "iptok" + "0123456789abcdef"
SECRETS = (TOKEN, JWT, IP_TOKEN)
VICTIM, EVIL = "https://victim-space.hf.space", "https://evil.hf.space"
SMALL = {"width": 256, "height": 256, "steps": 1}
MiB = 1024 * 1024
LOAD_MARGIN = 3.0  # s: scheduling slack on a loaded machine, added to a bound the code itself sets


@pytest.fixture(scope="module")
def real_app(fleet) -> dict[str, Any]:
    """/config and /info of the real FLUX.1-schnell twin (a real Gradio app), served again by the hostile Space."""
    url = fleet.url(SPACE_ID)
    return {"config": httpx.get(f"{url}/config").json(), "info": httpx.get(f"{url}/gradio_api/info").json()}


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Any]:
    return make_tls(tmp_path_factory.mktemp("tls"))


@dataclass
class World:
    plan: Plan
    log: list[Seen]
    hub: Server
    victim: Server  # the Space the Hub names, at https://victim-space.hf.space
    evil: Server  # another Space, at https://evil.hf.space
    plain: Server  # the same hostile Space on plain http://127.0.0.1:<port>

    def session(self, **kw: Any) -> janusflux.Session:
        kw.setdefault("token", TOKEN)
        kw.setdefault("ip_token", IP_TOKEN)
        return janusflux.Session(hf_endpoint=self.hub.url, max_wait=1, **kw)

    def carrying(self, server: Server, secret: str) -> list[tuple[str, str]]:
        return [(r.path, k) for r in server.requests() for k, v in r.headers.items() if secret in v]


@pytest.fixture
def world(real_app, tls, monkeypatch, tmp_path) -> Iterator[World]:
    ca, server_ctx = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.chdir(tmp_path)
    plan, log = Plan(jwt=JWT), []
    base = dict(real_app)
    hub = Server("hub", "hub", plan, log, base)
    victim = Server("victim", "space", plan, log, dict(base), tls=server_ctx, public_url=VICTIM)
    evil = Server("evil", "space", plan, log, dict(base), tls=server_ctx, public_url=EVIL)
    plain = Server("plain", "space", plan, log, dict(base))
    plan.hosts[SPACE_ID] = VICTIM
    with hf_names({"victim-space.hf.space": victim.port, "evil.hf.space": evil.port}):
        yield World(plan, log, hub, victim, evil, plain)
    for s in (hub, victim, evil, plain):
        s.stop()


def full_text(err: BaseException) -> str:
    return "\n".join([str(err), repr(err), "".join(traceback.format_exception(err))])


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def reader_threads() -> set[threading.Thread]:
    """gradio_client's executor threads (its event reader runs in one)."""
    return {t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor") and t.is_alive()}


# -- token scope -------------------------------------------------------------------------------------------------
def test_result_download_gets_token_only_on_its_space(world):
    """The Space the Hub named (a token host) gets the token, and so does its own file; a redirect to another Space
    carries none."""
    with world.session() as s:
        img = s.generate("flux-schnell", "a cat", **SMALL)
        assert img.data.startswith(b"\x89PNG")
        world.plan.redirect_to["victim"] = f"{EVIL}/gradio_api/file=/tmp/x/image.png"
        img2 = s.generate("flux-schnell", "a cat", **SMALL)
        assert img2.data.startswith(b"\x89PNG")
    downloads = world.victim.requests("/file=")
    assert len(downloads) == 2 and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in downloads)
    assert world.carrying(world.victim, TOKEN)  # config, info, join... as x-hf-authorization
    assert len(world.evil.requests("/file=")) == 1 and world.carrying(world.evil, TOKEN) == []


def test_file_url_on_another_hf_space_is_refused(world):
    """A file output on https://evil.hf.space (anyone can own an hf.space name): refused, evil gets nothing."""
    world.plan.output = lambda srv: file_data(f"{EVIL}/gradio_api/file=/tmp/x/image.png")
    with world.session() as s, pytest.raises(SpaceRefusedError) as e:
        s.generate("flux-schnell", "a cat", **SMALL).data
    assert e.value.why == "other origin" and "evil.hf.space" in str(e.value)
    assert world.evil.requests() == []
    assert len(world.victim.requests("/queue/join")) == 1  # not retried


def test_image_url_gets_no_token_unless_named(world):
    """image= on an hf.space host: no token (its origin was not named); with it named in send_token_to: the token."""
    url = f"{VICTIM}/gradio_api/file=/tmp/x/in.png"
    with world.session() as s, pytest.raises(InvalidInputError):  # a 1x1 PNG is not a usable input: fine
        s.generate("janus-pro-7b", "what is this?", image=url)
    with world.session(send_token_to=["victim-space.hf.space"]) as s, pytest.raises(InvalidInputError):
        s.generate("janus-pro-7b", "what is this?", image=url)
    fetched = world.victim.requests("/file=/tmp/x/in.png")
    assert [r.headers.get("authorization") for r in fetched] == [None, f"Bearer {TOKEN}"]


# -- the connection is pinned to the Space's origin ----------------------------------------------------------------
@pytest.mark.parametrize("prefix", [f"{EVIL}/gradio_api", "HTTPS://evil.hf.space/x", "https://victim-space.hf.space:8443/x"])
def test_absolute_api_prefix_is_refused(world, prefix):
    world.plan.api_prefix = prefix
    with world.session() as s, pytest.raises(SpaceRefusedError) as e:
        s.generate("flux-schnell", "a cat", **SMALL)
    assert e.value.why == "other origin"
    assert world.evil.requests() == []
    assert [r.path for r in world.victim.requests()] == ["/config"]  # refused before /info: one attempt, no storm


def test_old_gradio_config_is_refused(world):
    """Gradio <= 3.36.1: gradio_client would POST the config to a third host (the API fetcher Space)."""
    world.plan.version = "3.30.0"
    with world.session() as s, pytest.raises(SpaceRefusedError) as e:
        s.generate("flux-schnell", "a cat", **SMALL)
    assert "gradio-space-api-fetcher" in str(e.value) or e.value.why in ("other origin", "old gradio")
    assert [r.path for r in world.victim.requests()] == ["/config"]


# -- ZeroGPU identity ----------------------------------------------------------------------------------------------
def test_zerogpu_identity_goes_to_the_hub_named_host_only(world):
    """Named by the Hub: x-zerogpu-token and x-ip-token on the join. Routed elsewhere (space_urls): neither."""
    with world.session() as s:
        s.generate("flux-schnell", "a cat", **SMALL)
    join = world.victim.requests("/queue/join")[0].headers
    assert join.get("x-zerogpu-token") == JWT and join.get("x-ip-token") == IP_TOKEN
    with world.session(space_urls={SPACE_ID: world.plain.url}, zerogpu_token=JWT) as s:
        s.generate("flux-schnell", "a cat", **SMALL)
    assert [r for r in world.plain.requests() if any(x in v for v in r.headers.values() for x in SECRETS)] == []


def test_echoed_secrets_are_redacted(world):
    """A Space that echoes the request headers in a toast and in gr.Error: no secret in events or the exception."""
    world.plan.toast = "your headers: {headers}"
    world.plan.error = "boom, your headers: {headers}"
    events: list[Any] = []
    with world.session() as s, pytest.raises(SpaceAppError) as e:
        for ev in s.stream("flux-schnell", "a cat", **SMALL):
            events.append(ev)
    join = world.victim.requests("/queue/join")[0].headers
    assert join.get("x-zerogpu-token") == JWT  # the identity went out, so the echo had it
    texts = [full_text(e.value), repr(e.value.__cause__), str(e.value.space_message)] + [repr(ev) for ev in events]
    assert "boom" in texts[0] and any("your headers" in t for t in texts[3:])
    for t in texts:
        for secret in SECRETS:
            assert secret not in t, t[:300]


# -- local files -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("output", [
    {"path": "/etc/passwd", "url": None}, "/etc/passwd", "file:///etc/passwd",
    {"path": "/etc/passwd", "url": "file:///etc/passwd"}])
def test_local_path_outputs_are_refused(world, output):
    world.plan.output = lambda srv: output
    with world.session() as s, pytest.raises(SpaceRefusedError):
        img = s.generate("flux-schnell", "a cat", **SMALL)
        img.save("out.png")  # the old code copied /etc/passwd's bytes (or failed to decode them)


# -- bounds ------------------------------------------------------------------------------------------------------
def test_oversized_result_is_capped_while_reading(world):
    world.plan.file_size, world.plan.declare_length = 300 * MiB, False
    with world.session(max_download_bytes=4 * MiB) as s:
        img = s.generate("flux-schnell", "a cat", **SMALL)
        before, t0 = rss(), time.monotonic()
        with pytest.raises(SpaceRefusedError):
            img.data
        assert rss() - before < 64 * MiB and time.monotonic() - t0 < 10
    world.plan.declare_length = True
    with world.session(max_download_bytes=4 * MiB) as s, pytest.raises(SpaceRefusedError) as e:
        s.generate("flux-schnell", "a cat", **SMALL).data
    assert "more than the cap" in str(e.value)


def test_dripping_result_ends_with_the_call_timeout(world):
    """1000 bytes a byte every 0.2 s would take 200 s; the download ends at the call's timeout. The deadline is
    checked as each byte arrives (at most one drip late), plus a margin for a loaded machine."""
    timeout, drip = 2.0, 0.2
    world.plan.file_size, world.plan.drip = 1000, drip
    with world.session(timeout=timeout) as s:
        img = s.generate("flux-schnell", "a cat", **SMALL)
        t0 = time.monotonic()
        with pytest.raises(GenerationTimeoutError):
            img.data
        assert time.monotonic() - t0 < timeout + drip + LOAD_MARGIN


def test_oversized_image_url_is_capped_before_reading(world):
    world.plan.file_size, world.plan.declare_length = 300 * MiB, False
    before, t0 = rss(), time.monotonic()
    with world.session() as s, pytest.raises(InvalidInputError) as e:
        s.generate("janus-pro-7b", "what?", image=f"{VICTIM}/gradio_api/file=/big.png")
    assert e.value.param == "image" and rss() - before < 100 * MiB and time.monotonic() - t0 < 20
    assert world.victim.requests("/big.png")[0].headers.get("authorization") is None


def _settles(world: World, before: set[threading.Thread]) -> list[int]:
    """Waits (up to 10 s) until the Space sees the event stream closed and gradio_client's threads started since
    ``before`` have ended; then RSS samples over 2 s."""
    assert world.victim.hangups.wait(10), "the client still reads the endless event line"
    end = time.monotonic() + 10
    while reader_threads() - before and time.monotonic() < end:
        time.sleep(0.05)
    assert not reader_threads() - before, [t.name for t in reader_threads() - before]
    samples = []
    for _ in range(5):
        samples.append(rss())
        time.sleep(0.5)
    return samples


def test_endless_event_line_is_cut(world):
    """One event line that never ends: cut at the stream's cap with a typed error; nothing reads on afterwards."""
    world.plan.endless_event = True
    threads = reader_threads()
    with world.session() as s, pytest.raises(SpaceRefusedError) as e:
        s.generate("flux-schnell", "a cat", **SMALL)
    assert e.value.why == "event too large"
    samples = _settles(world, threads)
    assert max(samples) - samples[0] < 16 * MiB, samples


def test_endless_event_line_stops_at_timeout_and_close(world):
    """The line grows slower than the cap; the call's timeout ends it, and the reader stops reading."""
    world.plan.endless_event, world.plan.endless_pause = True, 1.0  # 1 MiB/s: 2 MiB by the timeout, under the cap
    threads = reader_threads()
    with world.session(timeout=2) as s, pytest.raises(GenerationTimeoutError):
        s.generate("flux-schnell", "a cat", **SMALL)
    samples = _settles(world, threads)
    assert max(samples) - samples[0] < 16 * MiB, samples


def test_endless_event_line_stops_at_close(world):
    """close() while a streamed call reads an endless line: the reader and its threads end, memory stays flat."""
    world.plan.endless_event, world.plan.endless_pause = True, 0.3  # under the cap when close() comes
    threads = reader_threads()
    s = world.session()
    outcome: list[BaseException] = []

    def consume() -> None:
        try:
            for _ in s.stream("flux-schnell", "a cat", **SMALL):
                pass
        except BaseException as e:  # noqa: BLE001 - kept for the assertion
            outcome.append(e)

    worker = threading.Thread(target=consume)
    worker.start()
    end = time.monotonic() + 20
    while world.victim.sent_bytes < 1 * MiB and time.monotonic() < end:  # the line is being sent
        time.sleep(0.05)
    assert world.victim.sent_bytes >= 1 * MiB
    s.close()
    worker.join(10)
    assert not worker.is_alive() and outcome  # the stream ended with an error (cancelled), not a result
    samples = _settles(world, threads)
    assert max(samples) - samples[0] < 16 * MiB, samples
