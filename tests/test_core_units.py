"""Pure parts of the SDK: registry, input checks, error classification, policy, results. No server."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import janusflux
from janusflux import InvalidInputError, UnknownModelError, get_model, register_model, unregister_model
from janusflux.inputs import fold_conversation, prompt_from, resolve_size
from janusflux.policy import decide
from janusflux.results import ImageResult, TextResult
from janusflux.zerogpu import JwtCache, classify, parse_wait


def test_public_names_sorted_and_complete():
    assert janusflux.__all__ == sorted(janusflux.__all__)
    public = {n for n in dir(janusflux) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(janusflux.__all__), public - set(janusflux.__all__)


def test_import_does_not_load_gradio_client():
    import subprocess
    import sys

    code = "import sys, janusflux; print(any(m.startswith(('gradio', 'gradio_client')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_registry_aliases_and_fallback_order():
    assert get_model("flux").spaces == ("black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev")
    assert get_model("FLUX-Dev").api_name == "/infer"
    assert get_model("flux-schnell").defaults["steps"] == 4
    assert get_model("janus-pro-7b").spaces == ("deepseek-ai/Janus-Pro-7B", "roxky/Janus-Pro-7B")
    assert get_model("janus-pro-7b-image").fixed_size == (768, 768)
    with pytest.raises(UnknownModelError) as e:
        get_model("flx-dev")
    assert "flux-dev" in e.value.suggestions and e.value.param == "model"
    assert "flux-schnell" in str(e.value)


def test_register_like_and_unregister():
    spec = register_model("my-flux", like="flux-dev", spaces=["http://127.0.0.1:9/"])
    try:
        assert get_model("my-flux").spaces == ("http://127.0.0.1:9/",)
        assert spec.args == get_model("flux-dev").args
    finally:
        unregister_model("my-flux")
    with pytest.raises(UnknownModelError):
        get_model("my-flux")


@pytest.mark.parametrize("kw,expected", [
    ({}, (1024, 1024)),
    ({"aspect_ratio": "16:9"}, (1376, 768)),
    ({"aspect_ratio": "1:1"}, (1024, 1024)),
    ({"width": 1000, "height": 500}, (992, 512)),
    ({"width": 512, "aspect_ratio": "2:1"}, (512, 256)),
])
def test_sizes_snap_to_step(kw, expected):
    args = {"width": None, "height": None, "aspect_ratio": None, **kw}
    assert resolve_size(get_model("flux"), args["width"], args["height"], args["aspect_ratio"]) == expected


@pytest.mark.parametrize("kw,param", [
    ({"width": 4096}, "width"), ({"height": 100}, "height"), ({"width": 512.0}, "width"),
    ({"aspect_ratio": "0:1"}, "aspect_ratio"), ({"aspect_ratio": "wide"}, "aspect_ratio"),
    ({"aspect_ratio": "20:1"}, "aspect_ratio"),
])
def test_bad_sizes_name_the_parameter(kw, param):
    args = {"width": None, "height": None, "aspect_ratio": None, **kw}
    with pytest.raises(InvalidInputError) as e:
        resolve_size(get_model("flux"), args["width"], args["height"], args["aspect_ratio"])
    assert e.value.param == param


def test_prompt_from_trailing_user_messages_and_folding():
    msgs = [{"role": "user", "content": "old"}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "a cat"}, {"role": "user", "content": [{"type": "text", "text": "in snow"}]}]
    assert prompt_from(None, msgs) == "a cat\nin snow"
    assert prompt_from("explicit", msgs) == "explicit"
    folded = fold_conversation(None, msgs[:3])
    assert folded == "User: old\nAssistant: ok\nUser: a cat\nAssistant:"
    assert fold_conversation("just this", None) == "just this"


QUOTA = ("You have exceeded your free ZeroGPU quota (75s requested vs. 42s left). Try again in 0:12:34. "
         "Subscribe to Hugging Face PRO to get 40 min of ZeroGPU quota a day - https://huggingface.co/subscribe/pro")


def test_classify_zerogpu_texts():
    e = classify("ZeroGPU quota exceeded", QUOTA, space_id="a/b", endpoint="/infer")
    assert isinstance(e, janusflux.QuotaExceededError)
    assert (e.scope, e.requested, e.left, e.retry_after) == ("user", 75.0, 42.0, 754.0)
    assert e.space_id == "a/b" and e.endpoint == "/infer"
    old = classify("ZeroGPU quota exceeded",
                   'You have exceeded your GPU quota (60s requested vs. 42s left). '
                   '<a href="x">Try again in 0:01:23</a>',
                   space_id=None, endpoint=None)
    assert (old.requested, old.left, old.retry_after) == (60.0, 42.0, 83.0)
    space = classify("ZeroGPU quota exceeded", "Space app has reached its GPU limit. Try re-running outside of "
                     "examples if it happened after clicking one", space_id=None, endpoint=None)
    assert space.scope == "space"
    assert classify("ZeroGPU quota exceeded", "You have exceeded your ZeroGPU runs limit. ", space_id=None,
                    endpoint=None).scope == "runs"
    assert isinstance(classify("ZeroGPU queue timeout", "No GPU was available after 60s.", space_id=None,
                               endpoint=None), janusflux.NoGPUAvailableError)
    worker = classify("ZeroGPU worker error", "GPU task aborted", space_id=None, endpoint=None)
    assert isinstance(worker, janusflux.SpaceAppError) and worker.title == "ZeroGPU worker error"
    assert parse_wait("Try again in 1 day, 0:00:05") == 86405


def test_policy_user_quota_waits_only_within_budget():
    e = classify("ZeroGPU quota exceeded", QUOTA, space_id=None, endpoint=None)
    assert decide(e, 1, wait_budget=1000).action == "wait"
    assert decide(e, 1, wait_budget=10).action == "raise"
    space = classify("ZeroGPU quota exceeded", "Space app has reached its GPU limit.", space_id=None, endpoint=None)
    assert decide(space, 1, wait_budget=0).action == "switch"
    assert decide(janusflux.SpaceAppError("boom"), 1, 1000).action == "raise"
    assert decide(janusflux.SpaceBusyError("full", reason="queue full"), 1, 0).action == "switch"


def test_jwt_cache_reuses_then_refreshes_after_expiry():
    import base64
    import json

    now = [1000.0]

    def fake_jwt(exp: float) -> str:
        body = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJIUzI1NiJ9.{body}.sig"

    issued = []

    def fetch(space: str) -> str:
        issued.append(space)
        return fake_jwt(now[0] + 600)

    cache = JwtCache(fetch, clock=lambda: now[0])
    assert cache.get("a/b") == cache.get("a/b")
    assert len(issued) == 1
    now[0] += 560  # inside the refresh margin
    cache.get("a/b")
    assert len(issued) == 2


def _png(w=32, h=16, colour=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="WEBP")
    return buf.getvalue()


def test_image_result_lazy_and_save_keeps_metadata(tmp_path):
    calls = []

    def fetch(url: str) -> bytes:
        calls.append(url)
        return _png()

    r = ImageResult(url="http://x/file=a.webp", fetch=fetch, seed=7, model="flux", space_id="a/b", prompt="p")
    assert calls == []  # nothing downloaded yet
    out = r.save(tmp_path / "a.png")
    assert calls == ["http://x/file=a.webp"]
    with Image.open(out) as im:
        assert im.size == (32, 16) and im.text["prompt"] == "p" and im.text["seed"] == "7"
    assert r.save(tmp_path / "b.webp").read_bytes()[:4] == b"RIFF"
    assert len(calls) == 1  # bytes are kept
    assert "seed=7" in repr(r)


def test_text_result_is_a_str():
    t = TextResult("hello", model="janus-pro-7b", seed=42)
    assert t == "hello" and t.upper() == "HELLO" and t.seed == 42 and isinstance(t, str)


def test_policy_fresh_client_and_expired_token_cases():
    from janusflux.zerogpu import ExpiredProxyToken

    closed = janusflux.SpaceBusyError("closed", reason="stream closed")
    assert decide(closed, 1, 0).reason == "restart on a fresh client"
    assert decide(closed, 2, 0, fresh_retry_used=True).action == "switch"
    expired = ExpiredProxyToken("Expired ZeroGPU proxy token", reason="expired token")
    d = decide(expired, 1, 0)
    assert d.action == "wait" and d.refresh_jwt


def test_jwt_cache_concurrent_first_calls_fetch_once():
    import threading
    import time as _time

    fetched = []

    def fetch(space: str) -> str:
        _time.sleep(0.05)
        fetched.append(space)
        return "not.a.jwt"

    cache = JwtCache(fetch)
    threads = [threading.Thread(target=cache.get, args=("a/b",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fetched == ["a/b"] and cache.fetches == 1


def test_progress_view_shows_a_repeated_step_once():
    """A step reported twice (under load the stream can send a step's progress update and its preview image as two
    events; loaded run 1 of f9592cb showed "flux: 6/6 Step 6/6" in the notebook) moves the bar once and does not
    become a status line."""
    import io

    from janusflux.render import ProgressView
    from janusflux.results import Preview, Progress

    out = io.StringIO()
    view = ProgressView("flux", total_steps=2, file=out)
    for event in (Progress(step=1, total=2), Preview(step=1, total=2), Progress(step=2, total=2),
                  Preview(step=2, total=2)):
        view(event)
    assert view.bar is not None and view.bar.n == 2 and "Step" not in view.bar.desc, view.bar.desc
    view.close()
