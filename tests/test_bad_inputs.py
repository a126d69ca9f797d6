"""Bad inputs: each raises InvalidInputError (or its subclass UnknownModelError) naming the parameter, before any
request reaches any server.

The twins log every request they receive (the Hub twin and each Space twin), so "no request" is checked by comparing
``len(fleet.requests)`` before and after, for a session that is already connected to every Space (warm) and for a
fresh one (which has not asked the Hub anything yet). Each case goes through ``generate``, ``agenerate`` and
``stream`` of the warm session.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

import janusflux
from janusflux import InvalidInputError, UnknownModelError

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

SMALL = {"width": 256, "height": 256, "steps": 1}


def _missing(tmp: str) -> str:
    return os.path.join(tmp, "does-not-exist.png")


def _corrupt(tmp: str) -> str:
    path = os.path.join(tmp, "corrupt.png")
    with open(path, "wb") as f:  # a PNG signature followed by random bytes
        f.write(b"\x89PNG\r\n\x1a\n" + os.urandom(2048))
    return path


def _text(tmp: str) -> str:
    path = os.path.join(tmp, "notes.txt")
    with open(path, "w") as f:
        f.write("this is not an image\n" * 20)
    return path


def _random_bytes(tmp: str) -> bytes:
    return os.urandom(1024)


def _dir(tmp: str) -> str:
    return tmp


# (id, model, prompt, params, expected .param); a callable param value is called with a temp folder.
CASES: list[tuple[str, str, Any, dict[str, Any], str]] = [
    ("unknown-alias", "flux-devv", "x", {}, "model"),
    ("unknown-alias-typo", "janus-pro-8b", "x", {}, "model"),
    ("alias-empty", "", "x", {}, "model"),
    ("alias-not-str", 42, "x", {}, "model"),
    ("prompt-empty", "flux", "", {}, "prompt"),
    ("prompt-whitespace", "flux", "   \n\t", {}, "prompt"),
    ("prompt-int", "flux", 42, {}, "prompt"),
    ("prompt-bytes", "flux", b"a cat", {}, "prompt"),
    ("prompt-list", "flux", ["a", "cat"], {}, "prompt"),
    ("prompt-missing", "flux", None, {}, "prompt"),
    ("aspect-malformed", "flux", "x", {"aspect_ratio": "16-9"}, "aspect_ratio"),
    ("aspect-words", "flux", "x", {"aspect_ratio": "wide"}, "aspect_ratio"),
    ("aspect-zero", "flux", "x", {"aspect_ratio": "0:1"}, "aspect_ratio"),
    ("aspect-zero-height", "flux", "x", {"aspect_ratio": "16:0"}, "aspect_ratio"),
    ("aspect-negative", "flux", "x", {"aspect_ratio": "-16:9"}, "aspect_ratio"),
    ("aspect-float", "flux", "x", {"aspect_ratio": 1.5}, "aspect_ratio"),
    ("width-too-big", "flux", "x", {"width": 4096}, "width"),
    ("width-too-small", "flux", "x", {"width": 128}, "width"),
    ("width-float", "flux", "x", {"width": 512.0}, "width"),
    ("width-bool", "flux", "x", {"width": True}, "width"),
    ("width-huge", "flux", "x", {"width": 10**400}, "width"),  # too big for float(): no OverflowError
    ("height-str", "flux", "x", {"height": "512"}, "height"),
    ("height-negative", "flux", "x", {"height": -256}, "height"),
    ("seed-negative", "flux", "x", {"seed": -1}, "seed"),
    ("seed-too-big", "flux", "x", {"seed": 2**31}, "seed"),
    ("seed-fractional", "flux", "x", {"seed": 1.5}, "seed"),
    ("seed-str", "flux", "x", {"seed": "7"}, "seed"),
    ("seed-bool", "flux", "x", {"seed": True}, "seed"),
    ("steps-zero", "flux", "x", {"steps": 0}, "steps"),
    ("steps-too-many", "flux", "x", {"steps": 51}, "steps"),
    ("steps-fractional", "flux", "x", {"steps": 2.5}, "steps"),
    ("steps-str", "flux", "x", {"steps": "4"}, "steps"),
    ("steps-huge", "flux", "x", {"steps": 10**400}, "steps"),
    ("guidance-too-low", "flux", "x", {"guidance": 0.5}, "guidance"),
    ("guidance-too-high", "flux", "x", {"guidance": 16}, "guidance"),
    ("guidance-str", "flux", "x", {"guidance": "high"}, "guidance"),
    ("guidance-nan", "flux", "x", {"guidance": math.nan}, "guidance"),
    ("guidance-huge-int", "flux", "x", {"guidance": 10**400}, "guidance"),
    ("guidance-on-schnell", "flux-schnell", "x", {"guidance": 3.5}, "guidance"),
    ("janus-guidance-too-high", "janus-pro-7b-image", "x", {"guidance": 11}, "guidance"),
    ("temperature-on-flux", "flux", "x", {"temperature": 0.5}, "temperature"),
    ("janus-temperature-negative", "janus-pro-7b-image", "x", {"temperature": -0.1}, "temperature"),
    ("janus-top-p-too-high", "janus-pro-7b", "what?", {"top_p": 1.5}, "top_p"),
    ("width-on-chat", "janus-pro-7b", "what?", {"width": 512}, "width"),
    ("image-on-flux", "flux", "x", {"image": _text}, "image"),
    ("image-missing-file", "janus-pro-7b", "what?", {"image": _missing}, "image"),
    ("image-corrupt-file", "janus-pro-7b", "what?", {"image": _corrupt}, "image"),
    ("image-text-file", "janus-pro-7b", "what?", {"image": _text}, "image"),
    ("image-directory", "janus-pro-7b", "what?", {"image": _dir}, "image"),
    ("image-random-bytes", "janus-pro-7b", "what?", {"image": _random_bytes}, "image"),
    ("image-empty-bytes", "janus-pro-7b", "what?", {"image": b""}, "image"),
    ("image-int", "janus-pro-7b", "what?", {"image": 12345}, "image"),
    ("messages-not-list", "flux", None, {"messages": "a cat"}, "messages"),
    ("messages-dict", "flux", None, {"messages": {"role": "user", "content": "a cat"}}, "messages"),
    ("messages-item-not-dict", "flux", None, {"messages": ["a cat"]}, "messages"),
    ("messages-bad-role", "flux", None, {"messages": [{"role": "robot", "content": "a cat"}]}, "messages"),
    ("messages-missing-content", "flux", None, {"messages": [{"role": "user"}]}, "messages"),
    ("messages-no-user-text", "flux", None, {"messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
    ("messages-empty-user-text", "flux", None, {"messages": [{"role": "user", "content": "  "}]}, "messages"),
    ("messages-bad-content-type", "janus-pro-7b", None, {"messages": [{"role": "user", "content": 5}]},
     "messages"),
    ("messages-chat-no-user", "janus-pro-7b", None, {"messages": [{"role": "system", "content": "be nice"}]},
     "messages"),
    ("timeout-negative", "flux", "x", {"timeout": -1}, "timeout"),
    ("timeout-zero", "flux", "x", {"timeout": 0}, "timeout"),
    ("timeout-str", "flux", "x", {"timeout": "5"}, "timeout"),
    ("timeout-inf", "flux", "x", {"timeout": math.inf}, "timeout"),
    ("max-wait-negative", "flux", "x", {"max_wait": -5}, "max_wait"),
    ("zerogpu-token-not-str", "flux", "x", {"zerogpu_token": 5}, "zerogpu_token"),
    ("zerogpu-uuid-not-str", "flux", "x", {"zerogpu_uuid": 5}, "zerogpu_uuid"),
    ("zerogpu-uuid-empty", "flux", "x", {"zerogpu_uuid": ""}, "zerogpu_uuid"),
    ("unknown-keyword", "flux", "x", {"sed": 3}, "sed"),
    ("unknown-keyword-api", "flux", "x", {"num_inference_steps": 3}, "num_inference_steps"),
]


def _materialise(params: dict[str, Any], tmp: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        out[k] = v(tmp) if callable(v) else v
    return out


@pytest.fixture(scope="module")
def warm(fleet, tmp_path_factory):
    """A session already connected to every Space twin (one real call per model), shared by the module."""
    tmp = tmp_path_factory.mktemp("warm")
    s = janusflux.Session(hf_endpoint=fleet.hub_url, token="hf_warm" + "0" * 24, cache_dir=str(tmp), max_wait=5)
    s.generate("flux", "warm", **SMALL)
    s.generate("flux-schnell", "warm", **SMALL)
    s.generate("janus-pro-7b", "warm?", image=Image.new("RGB", (32, 32), "white"))  # Janus chat needs an image
    assert s.stats["clients"] == 3
    try:
        yield s
    finally:
        s.close()


def _no_request(fleet: Any, fn: Callable[[], Any]) -> BaseException:
    before = len(fleet.requests)
    with pytest.raises(InvalidInputError) as info:
        fn()
    after = fleet.requests
    assert len(after) == before, f"requests sent: {[(r.server, r.method, r.path) for r in after[before:]]}"
    return info.value


def _check(err: BaseException, param: str, model: Any) -> None:
    assert isinstance(err, InvalidInputError)
    assert err.param == param, f"param {err.param!r}, expected {param!r}: {err}"
    assert param in str(err)
    if param == "model" and isinstance(model, str) and model:
        assert isinstance(err, UnknownModelError)
        assert isinstance(err, KeyError)


@pytest.mark.parametrize("case_id,model,prompt,params,param", CASES, ids=[c[0] for c in CASES])
def test_bad_input_rejected_before_any_request(fleet, warm, tmp_path, case_id, model, prompt, params, param):
    kw = _materialise(params, str(tmp_path))
    # sync, on a warm (connected) session
    err = _no_request(fleet, lambda: warm.generate(model, prompt, **kw))
    _check(err, param, model)
    # async
    err = _no_request(fleet, lambda: asyncio.run(warm.agenerate(model, prompt, **kw)))
    _check(err, param, model)
    # stream: raises before the first event
    err = _no_request(fleet, lambda: next(iter(warm.stream(model, prompt, **kw))))
    _check(err, param, model)
    # a fresh session, never connected
    with janusflux.Session(hf_endpoint=fleet.hub_url, token="hf_fresh" + "1" * 24,
                           cache_dir=str(tmp_path / "fresh")) as fresh:
        err = _no_request(fleet, lambda: fresh.generate(model, prompt, **kw))
        _check(err, param, model)
        assert fresh.stats["clients"] == 0 and fresh.stats["hub_calls"] == 0


def test_unknown_alias_lists_close_matches(fleet, warm):
    err = _no_request(fleet, lambda: warm.generate("flux-shnell", "x"))
    assert isinstance(err, UnknownModelError)
    assert "flux-schnell" in err.suggestions
    assert "flux-schnell" in str(err) and "Known models" in str(err)


SESSION_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("token-int", {"token": 12345}, "token"),
    ("token-true", {"token": True}, "token"),
    ("token-with-space", {"token": "hf_abc def"}, "token"),
    ("token-empty", {"token": ""}, "token"),
    ("token-bytes", {"token": b"hf_abcdef"}, "token"),
    ("timeout-negative", {"timeout": -1}, "timeout"),
    ("timeout-zero", {"timeout": 0}, "timeout"),
    ("max-wait-negative", {"max_wait": -1}, "max_wait"),
    ("max-attempts-zero", {"max_attempts": 0}, "max_attempts"),
    ("max-workers-zero", {"max_workers": 0}, "max_workers"),
    ("wake-timeout-negative", {"wake_timeout": -3}, "wake_timeout"),
    ("hf-endpoint-not-http", {"hf_endpoint": "ftp://example.org"}, "hf_endpoint"),
    ("send-token-to-str", {"send_token_to": "127.0.0.1"}, "send_token_to"),
    ("send-token-to-path", {"send_token_to": ["https://example.org/path"]}, "send_token_to"),
    ("send-token-to-http-no-port", {"send_token_to": ["http://example.org"]}, "send_token_to"),
    ("send-token-to-wildcard", {"send_token_to": ["*.example.org"]}, "send_token_to"),
    ("send-token-to-userinfo", {"send_token_to": ["https://u@example.org"]}, "send_token_to"),
    ("send-token-to-bad-port", {"send_token_to": ["example.org:0"]}, "send_token_to"),
    ("max-download-bytes-zero", {"max_download_bytes": 0}, "max_download_bytes"),
    ("max-download-bytes-float", {"max_download_bytes": 1.5}, "max_download_bytes"),
    ("zerogpu-token-int", {"zerogpu_token": 5}, "zerogpu_token"),
    ("zerogpu-uuid-int", {"zerogpu_uuid": 5}, "zerogpu_uuid"),
    ("ip-token-int", {"ip_token": 5}, "ip_token"),
    ("space-urls-str", {"space_urls": "http://127.0.0.1:1"}, "space_urls"),
    ("space-urls-not-http", {"space_urls": {"a/b": "ftp://example.org"}}, "space_urls"),
    ("space-urls-key-int", {"space_urls": {5: "http://127.0.0.1:1"}}, "space_urls"),
    ("zerogpu-str", {"zerogpu": "yes"}, "zerogpu"),
    ("cache-dir-int", {"cache_dir": 5}, "cache_dir"),
    ("cache-dir-empty", {"cache_dir": ""}, "cache_dir"),
    ("replicas-str", {"replicas": "me/flux-copy"}, "replicas"),
    ("replicas-bad-id", {"replicas": {"not an id": "black-forest-labs/FLUX.1-dev"}}, "replicas"),
    ("replicas-not-replica", {"replicas": [5]}, "replicas"),
]


@pytest.mark.parametrize("case_id,kwargs,param", SESSION_CASES, ids=[c[0] for c in SESSION_CASES])
def test_bad_session_options(fleet, tmp_path, case_id, kwargs, param):
    kw = {"hf_endpoint": fleet.hub_url, "cache_dir": str(tmp_path), **kwargs}
    err = _no_request(fleet, lambda: janusflux.Session(**kw))
    assert err.param == param, f"param {err.param!r}, expected {param!r}: {err}"


def test_closed_session_rejects_calls(fleet, tmp_path):
    s = janusflux.Session(hf_endpoint=fleet.hub_url, token=False, cache_dir=str(tmp_path))
    s.close()
    err = _no_request(fleet, lambda: s.generate("flux", "x", **SMALL))
    assert err.param == "session"


def test_every_parameter_has_a_bad_case():
    """Every input a registered model takes (the unified fields of its endpoint's arguments), every keyword of
    ``generate`` (``janusflux.params.ACCEPTED``: model inputs and call options) and every numeric or token ``Session``
    option has at least one bad-input case above: a parameter added without one fails here."""
    import inspect

    from janusflux.params import ACCEPTED

    fields = {src for alias in janusflux.list_models() for _, src in janusflux.get_model(alias).args
              if not src.startswith("=")}
    fields.discard("question")  # Janus' question is the prompt (the ``prompt`` cases)
    fields |= {"model"} | ACCEPTED  # every keyword generate() takes (janusflux.params)
    missing = fields - {c[4] for c in CASES}
    assert not missing, f"call parameters without a bad-input case: {sorted(missing)}"
    options = set(inspect.signature(janusflux.Session).parameters)
    missing = options - {c[2] for c in SESSION_CASES}
    assert not missing, f"Session options without a bad-input case: {sorted(missing)}"

