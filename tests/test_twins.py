"""Live tests of the local twins against the facts in SPACES.md (loopback only)."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError, TooManyRequestsError

from janusflux.twins import SPACE_IDS, start_twins, zerogpu
from ports import free_base_port
from twins_helpers import raw_call

pytestmark = pytest.mark.live

DEV, SCHNELL, JANUS = "black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-schnell", "deepseek-ai/Janus-Pro-7B"
ALICE, BOB = "hf_alice_token", "hf_bob_token"
USERS = {ALICE: {"name": "alice", "plan": "free"}, BOB: {"name": "bob", "plan": "pro"}}


@pytest.fixture(scope="module")
def fleet():
    with start_twins(quota=300.0, duration_scale=1.0, delay=0.0, users=USERS, hardware_factor=1.0,
                     anonymous="space") as f:
        yield f


@pytest.fixture(autouse=True)
def _clean(fleet):
    fleet.reset_quota()
    fleet.clear_faults()
    for sid in fleet.urls:
        fleet.set_stage(sid, "RUNNING")
    fleet.delay, fleet.duration_scale = 0.0, 1.0
    yield


def client(fleet, space=DEV, **kw):
    return Client(fleet.url(space), verbose=False, token=False, **kw)


def endpoint(fleet, space, name):
    return client(fleet, space).view_api(return_format="dict", print_info=False)["named_endpoints"][name]


# --- schema -----------------------------------------------------------------------------------------------------
def test_space_ids():
    assert SPACE_IDS == (DEV, "roxky/FLUX.1-dev", SCHNELL, JANUS, "roxky/Janus-Pro-7B")


def _params(ep):
    return [(p["parameter_name"], p["component"], p["parameter_default"]) for p in ep["parameters"]]


def test_flux_dev_schema(fleet):
    ep = endpoint(fleet, DEV, "/infer")
    assert _params(ep) == [
        ("prompt", "Textbox", None), ("seed", "Slider", 0), ("randomize_seed", "Checkbox", True),
        ("width", "Slider", 1024), ("height", "Slider", 1024), ("guidance_scale", "Slider", 3.5),
        ("num_inference_steps", "Slider", 28),
    ]
    assert [r["component"] for r in ep["returns"]] == ["Image", "Slider"]
    config = httpx.get(fleet.url(DEV) + "/config").json()
    deps = config["dependencies"]
    assert [d["api_name"] for d in deps] == ["load_example_input", "load_example", "infer"]
    comps = {c["id"]: c["props"] for c in config["components"]}
    ranges = [(comps[i].get("minimum"), comps[i].get("maximum"), comps[i].get("step")) for i in deps[2]["inputs"]]
    assert ranges == [(None, None, None), (0, 2147483647, 1), (None, None, None), (256, 2048, 32), (256, 2048, 32),
                      (1, 15, 0.1), (1, 50, 1)]
    assert deps[2]["types"]["generator"] is True


def test_flux_schnell_schema(fleet):
    ep = endpoint(fleet, SCHNELL, "/infer")
    assert _params(ep) == [
        ("prompt", "Textbox", None), ("seed", "Slider", 0), ("randomize_seed", "Checkbox", True),
        ("width", "Slider", 1024), ("height", "Slider", 1024), ("num_inference_steps", "Slider", 4),
    ]
    deps = httpx.get(fleet.url(SCHNELL) + "/config").json()["dependencies"]
    assert [d["api_name"] for d in deps][2] == "infer" and deps[2]["types"]["generator"] is False


def test_janus_schema(fleet):
    api = client(fleet, JANUS).view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert _params(api["/multimodal_understanding"]) == [
        ("image", "Image", None), ("question", "Textbox", None), ("seed", "Number", 42),
        ("top_p", "Slider", 0.95), ("temperature", "Slider", 0.1),
    ]
    assert _params(api["/generate_image"]) == [
        ("prompt", "Textbox", None), ("seed", "Number", 1234), ("guidance", "Slider", 5),
        ("t2i_temperature", "Slider", 1.0),
    ]
    assert [r["component"] for r in api["/multimodal_understanding"]["returns"]] == ["Textbox"]
    assert [r["component"] for r in api["/generate_image"]["returns"]] == ["Gallery"]
    config = httpx.get(fleet.url(JANUS) + "/config").json()
    names = [d["api_name"] for d in config["dependencies"]]
    assert names[2:] == ["multimodal_understanding", "generate_image"] and len(names) == 4
    comps = {c["id"]: c["props"] for c in config["components"]}
    gen = config["dependencies"][3]["inputs"]
    assert [(comps[i].get("minimum"), comps[i].get("maximum"), comps[i].get("step")) for i in gen[2:]] == [
        (1, 10, 0.5), (0, 1, 0.05)]
    assert comps[gen[1]]["precision"] == 0


def test_mirrors_have_the_same_api(fleet):
    assert endpoint(fleet, "roxky/FLUX.1-dev", "/infer") == endpoint(fleet, DEV, "/infer")
    assert endpoint(fleet, "roxky/Janus-Pro-7B", "/generate_image") == endpoint(fleet, JANUS, "/generate_image")


# --- outputs --------------------------------------------------------------------------------------------------
def test_flux_dev_streams_previews_then_final(fleet):
    job = client(fleet).submit("a red fox", 7, False, 256, 320, 3.5, 4, api_name="/infer")
    outputs = list(job)
    image, seed = job.result()
    assert len(outputs) == 5  # one preview per step, then the final image
    assert seed == 7 and all(o[1] == 7 for o in outputs)
    assert Image.open(image).size == (256, 320)
    assert open(outputs[-1][0], "rb").read() == open(image, "rb").read()
    assert open(outputs[0][0], "rb").read() != open(image, "rb").read()


def test_flux_deterministic_and_seeded(fleet):
    c = client(fleet)
    a1, _ = c.predict("a red fox", 1, False, 256, 256, 3.5, 2, api_name="/infer")
    a2, _ = c.predict("a red fox", 1, False, 256, 256, 3.5, 2, api_name="/infer")
    b, _ = c.predict("a red fox", 2, False, 256, 256, 3.5, 2, api_name="/infer")
    p, _ = c.predict("a blue whale", 1, False, 256, 256, 3.5, 2, api_name="/infer")
    data = [np.asarray(Image.open(x).convert("RGB"), dtype=np.int16) for x in (a1, a2, b, p)]
    assert (data[0] == data[1]).all()
    assert np.abs(data[0] - data[2]).mean() > 10 and np.abs(data[0] - data[3]).mean() > 10


def test_randomize_seed(fleet):
    c = client(fleet, SCHNELL)
    seeds = {c.predict("x", 5, True, 256, 256, 1, api_name="/infer")[1] for _ in range(3)}
    assert len(seeds) == 3 and all(0 <= s <= 2147483647 for s in seeds) and 5 not in seeds
    image, seed = c.predict("x", 5, False, 512, 256, 1, api_name="/infer")
    assert seed == 5 and Image.open(image).size == (512, 256)


def test_slider_range_enforced(fleet):
    with pytest.raises(AppError) as e:
        client(fleet).predict("x", 1, False, 4096, 256, 3.5, 1, api_name="/infer")
    assert e.value.message == "Value 4096 is greater than maximum value 2048."
    # the step is not checked server-side
    image, _ = client(fleet, SCHNELL).predict("x", 1, False, 300, 256, 1, api_name="/infer")
    assert Image.open(image).size == (300, 256)


def test_raw_fn_index_calls(fleet):
    msgs = raw_call(fleet.url(DEV), 2, ["x", 3, False, 256, 256, 3.5, 2])
    done = msgs[-1]
    assert done["success"] is True and done["output"]["data"][1] == 3
    assert sum(m["msg"] == "process_generating" for m in msgs) >= 2
    msgs = raw_call(fleet.url(JANUS), 3, ["a cat", 1, 5, 1.0])
    assert len(msgs[-1]["output"]["data"][0]) == 5


def test_janus_generate_gallery(fleet):
    c = client(fleet, JANUS)
    gallery = c.predict("a cat", 1234, 5, 1.0, api_name="/generate_image")
    assert len(gallery) == 5 and all(set(item) == {"image", "caption"} for item in gallery)
    assert all(item["caption"] is None for item in gallery)
    assert {Image.open(item["image"]).size for item in gallery} == {(768, 768)}
    again = c.predict("a cat", 1234, 5, 1.0, api_name="/generate_image")
    assert [open(a["image"], "rb").read() for a in again] == [open(g["image"], "rb").read() for g in gallery]


def test_janus_understanding(fleet, tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (320, 200), (220, 30, 30)).save(path)
    c = client(fleet, JANUS)
    answer = c.predict(handle_file(str(path)), "What colour is this?", 42, 0.95, 0.1,
                       api_name="/multimodal_understanding")
    assert isinstance(answer, str) and "320x200" in answer and "red" in answer and "What colour is this?" in answer
    assert answer == c.predict(handle_file(str(path)), "What colour is this?", 42, 0.95, 0.1,
                               api_name="/multimodal_understanding")


def test_janus_missing_image_is_worker_error(fleet):
    with pytest.raises(AppError) as e:
        client(fleet, JANUS).predict(None, "what?", 42, 0.95, 0.1, api_name="/multimodal_understanding")
    assert (e.value.title, e.value.message) == ("ZeroGPU worker error", "AttributeError")


# --- ZeroGPU -----------------------------------------------------------------------------------------------------
def _err(fn):
    with pytest.raises(AppError) as e:
        fn()
    return e.value.title, e.value.message


def test_quota_arithmetic_with_token(fleet):
    c = client(fleet, headers={"x-hf-authorization": f"Bearer {ALICE}"})
    for left in (225, 150, 75, 0):
        c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")
        assert fleet.quota_left("alice") == left
    title, message = _err(lambda: c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer"))
    assert title == "ZeroGPU quota exceeded"
    prefix = "You have exceeded your free ZeroGPU quota (75s requested vs. 0s left). Try again in "
    assert message.startswith(prefix)
    wait = message[len(prefix):].split(". ")[0]
    h, m, s = map(int, wait.split(":"))
    assert 86380 <= h * 3600 + m * 60 + s < 86400
    assert message.endswith(". Subscribe to Hugging Face PRO to get 40 min of ZeroGPU quota a day - "
                            "https://huggingface.co/subscribe/pro?from=ZeroGPU")
    # quota is per user across Spaces: 300 - 3 x 75 (dev) = 75 left, Janus books 120, schnell 60
    fleet.reset_quota("alice")
    auth = {"x-hf-authorization": f"Bearer {ALICE}"}
    for _ in range(3):
        c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")
    title, message = _err(lambda: client(fleet, JANUS, headers=auth).predict("x", 1, 5, 1.0,
                                                                            api_name="/generate_image"))
    assert "(120s requested vs. 75s left)" in message
    schnell = client(fleet, SCHNELL, headers=auth)
    schnell.predict("x", 1, False, 256, 256, 1, api_name="/infer")
    assert fleet.quota_left("alice") == 15 and fleet.quota_left(ALICE) == 15
    title, message = _err(lambda: schnell.predict("x", 1, False, 256, 256, 1, api_name="/infer"))
    assert "(60s requested vs. 15s left)" in message


def test_quota_pro_user_and_hub_jwt(fleet):
    token = httpx.get(f"{fleet.hub_url}/api/spaces/{DEV}/jwt",
                      headers={"authorization": f"Bearer {BOB}"}).json()["token"]
    c = client(fleet, headers={"x-zerogpu-token": token})
    c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")
    assert fleet.quota_left("bob") == 300 * zerogpu.PRO_FACTOR - 75
    fleet.duration_scale = 100.0
    title, message = _err(lambda: c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer"))
    assert message.startswith("You have exceeded your Pro ZeroGPU quota (7500s requested vs. 2325s left). ")
    assert message.endswith("Add credits to keep using ZeroGPU. $1 for 10 minutes of ZeroGPU inference - "
                            "https://huggingface.co/settings/billing?add-credits=true")


def test_anonymous_space_limit(fleet):
    c = client(fleet, SCHNELL)
    for _ in range(5):
        c.predict("x", 1, False, 256, 256, 1, api_name="/infer")
    assert fleet.quota_left("ip:127.0.0.1") == 0
    assert _err(lambda: c.predict("x", 1, False, 256, 256, 1, api_name="/infer")) == (
        "ZeroGPU quota exceeded",
        "Space app has reached its GPU limit. Try re-running outside of examples if it happened after clicking one")


def test_anonymous_jwt_gets_plain_zerogpu_wording(fleet):
    token = httpx.get(f"{fleet.hub_url}/api/spaces/{DEV}/jwt").json()["token"]
    fleet.duration_scale = 10.0
    title, message = _err(lambda: client(fleet, headers={"x-ip-token": token}).predict(
        "x", 1, False, 256, 256, 3.5, 1, api_name="/infer"))
    assert message.startswith("You have exceeded your ZeroGPU quota (750s requested vs. 300s left). Try again in ")
    assert message.endswith("Authenticate with a Hugging Face token for more quota - "
                            "https://huggingface.co/settings/tokens")


def test_quota_window_resets(fleet):
    """The window rolls over by itself: the refusal says how long is left of it, and past its end a call books."""
    window = 8.0  # s: two calls fit in it many times over, even on a loaded machine
    old = fleet.zero.ledger.window
    fleet.zero.ledger.window = window
    try:
        c = client(fleet, headers={"x-hf-authorization": f"Bearer {ALICE}"})
        fleet.duration_scale = 4.0  # 300 s per call: the whole quota
        c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")
        title, message = _err(lambda: c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer"))
        resets_at = fleet.zero.ledger.resets_at(fleet.zero.identity_key("alice"))
        assert resets_at is not None
        found = re.search(r"\(300s requested vs\. 0s left\)\. Try again in 0:00:0(\d)\. ", message)
        assert found, message
        # whole seconds of what was left of the window when refused: no more than the window, no less than now
        assert max(1, int(resets_at - time.time())) <= int(found[1]) < window
        time.sleep(max(0.0, resets_at - time.time()) + 0.05)  # the window's end, as the ledger keeps it
        c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")
    finally:
        fleet.zero.ledger.window = old


def test_expired_jwt_rejected(fleet):
    token = fleet.issue_token(DEV, ALICE, lifetime=-1)
    assert _err(lambda: client(fleet, headers={"x-ip-token": token}).predict(
        "x", 1, False, 256, 256, 3.5, 1, api_name="/infer")) == ("ZeroGPU client error", "Expired ZeroGPU proxy token")
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    token = httpx.get(f"{fleet.hub_url}/api/spaces/{DEV}/jwt", params={"expiration": past}).json()["token"]
    with pytest.raises(zerogpu.JWTError, match="expired"):
        zerogpu.jwt_decode(token, fleet.zero.secret)
    forged = fleet.issue_token(DEV, ALICE)[:-4] + "AAAA"
    client(fleet, headers={"x-ip-token": forged}).predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")
    assert fleet.quota_left("ip:127.0.0.1") == 225 and fleet.quota_left("alice") == 300


@pytest.mark.parametrize(
    ("knob", "headers", "expected"),
    [
        ("runs_limit", {"x-hf-authorization": f"Bearer {ALICE}"},
         ("ZeroGPU quota exceeded", "You have exceeded your ZeroGPU runs limit. Subscribe to Hugging Face PRO to get "
          "40 min of ZeroGPU quota a day - https://huggingface.co/subscribe/pro?from=ZeroGPU")),
        ("space_limit", {"x-hf-authorization": f"Bearer {ALICE}"},
         ("ZeroGPU quota exceeded", "Space app has reached its GPU limit. Try re-running outside of examples if it "
          "happened after clicking one")),
        ("illegal_duration", {},
         ("ZeroGPU illegal duration", "The requested GPU duration (75s) is larger than the maximum allowedSubscribe "
          "to Hugging Face PRO to allow GPU tasks up to 40 min - https://huggingface.co/subscribe/pro?from=ZeroGPU")),
        ("illegal_duration", {"x-hf-authorization": f"Bearer {BOB}"},
         ("ZeroGPU illegal duration", "The requested GPU duration (75s) is larger than the maximum allowed")),
        ("pending_credits", {},
         ("ZeroGPU pending credits exceeded", "You have too many ZeroGPU credits allocated to running tasks. Try "
          "again once some of those tasks have completed.")),
        ("queue_timeout", {},
         ("ZeroGPU quota exceeded", "No GPU was available after 60s. Try re-running outside of examples if it "
          "happened after clicking one")),
        ("queue_timeout", {"x-hf-authorization": f"Bearer {BOB}"},
         ("ZeroGPU queue timeout", "No GPU was available after 60s. Retry later")),
    ],
)
def test_zerogpu_error_knobs(fleet, knob, headers, expected):
    fleet.set_fault(DEV, **{knob: True}, times=1)
    c = client(fleet, headers=headers)
    assert _err(lambda: c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")) == expected
    c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")  # times=1: cleared after one call


def test_queue_timeout_html_for_free_user(fleet):
    fleet.set_fault(DEV, queue_timeout=True)
    title, message = _err(lambda: client(fleet, headers={"x-hf-authorization": f"Bearer {ALICE}"}).predict(
        "x", 1, False, 256, 256, 3.5, 1, api_name="/infer"))
    assert title == "ZeroGPU queue timeout"
    assert message.startswith('No GPU was available after 60s. <a style="white-space: nowrap;')
    assert message.endswith('href="https://huggingface.co/subscribe/pro?from=ZeroGPU">Subscribe to Pro</a> '
                            "to get the highest priority in ZeroGPU queues.")


def test_worker_error_knob(fleet):
    fleet.set_fault(JANUS, worker_error="GPU task aborted", times=2)
    fleet.duration_scale = 0.1  # failed GPU tasks still book quota: keep three calls within it
    c = client(fleet, JANUS)
    for _ in range(2):
        assert _err(lambda: c.predict("x", 1, 5, 1.0, api_name="/generate_image")) == (
            "ZeroGPU worker error", "GPU task aborted")
    assert len(c.predict("x", 1, 5, 1.0, api_name="/generate_image")) == 5


def test_texts_match_spaces_package():
    client_mod = pytest.importorskip("spaces.zero.client")
    for name in ("NO_GPU_MESSAGE_REGULAR", "NO_GPU_MESSAGE_INQUEUE", "EXAMPLES_RETRY_MESSAGE", "SIGNUP_ON_HF_TXT",
                 "SIGNUP_ON_HF_URL", "SUBSCRIBE_TO_PRO_TXT", "SUBSCRIBE_TO_PRO_URL", "TOKENS_SETTINGS_URL",
                 "ADD_CREDITS_URL", "PRO_QUOTA_MINUTES"):
        assert getattr(zerogpu, name) == getattr(client_mod, name), name
    import inspect

    source = inspect.getsource(client_mod)
    for text in ("You have exceeded your ZeroGPU runs limit. ", "Expired ZeroGPU proxy token",
                 "You have too many ZeroGPU credits allocated to running tasks. ", "is larger than the maximum allowed",
                 "Waiting for a GPU to become available", "Successfully acquired a GPU", "ZeroGPU queue timeout",
                 "ZeroGPU pending credits exceeded", "ZeroGPU illegal duration", "Add credits to keep using ZeroGPU. "):
        assert text in source, text


def test_concurrency_toasts(fleet, monkeypatch):
    """A call that finds no free GPU slot gets "Waiting for a GPU to become available", then "Successfully acquired a
    GPU" once one frees; a call that finds one gets neither. The test holds both slots itself (as two running calls
    would) and frees one once the call waits: states, not timing (three overlapping calls did not always overlap on
    a loaded machine)."""
    st = fleet.states[SCHNELL]
    real = st.slots
    waiting = threading.Event()

    class Watched:  # the Space's slots, telling the test when a call blocks on one
        def acquire(self, blocking: bool = True) -> bool:
            if blocking:
                waiting.set()
            return real.acquire(blocking)

        def release(self) -> None:
            real.release()

    monkeypatch.setattr(st, "slots", Watched())
    url, args = fleet.url(SCHNELL), ["x", 1, False, 256, 256, 1]
    held = 0
    try:
        for _ in range(st.concurrency):
            assert real.acquire(timeout=10), "a GPU slot stayed busy"
            held += 1
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            blocked = pool.submit(raw_call, url, 2, args)
            assert waiting.wait(30), "the call never waited for a slot"
            real.release()
            held -= 1
            late = blocked.result(timeout=60)
        free = raw_call(url, 2, args)  # one slot is free now
    finally:
        for _ in range(held):
            real.release()
    logs = [[m["log"] for m in msgs if m["msg"] == "log"] for msgs in (late, free)]
    assert late[-1]["success"] and free[-1]["success"]
    assert logs == [["Waiting for a GPU to become available", "Successfully acquired a GPU"], []]


# --- HTTP faults and stages ---------------------------------------------------------------------------------------
def test_queue_full(fleet):
    fleet.set_fault(DEV, queue_full=True, times=1)
    c = client(fleet)
    with pytest.raises(QueueError, match=r"Queue is full! Please try again\."):
        c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")
    c.predict("x", 1, False, 256, 256, 3.5, 1, api_name="/infer")


def test_config_429(fleet):
    fleet.set_fault(DEV, config_429=True, times=1)
    with pytest.raises(TooManyRequestsError):
        client(fleet)
    client(fleet)


@pytest.mark.parametrize(("space", "args"), [(DEV, ("x", 1, False, 256, 256, 3.5, 4)),
                                            (SCHNELL, ("x", 1, False, 256, 256, 4))])
def test_drop_stream(fleet, space, args):
    fleet.set_fault(space, drop_stream=True, times=1)
    c = client(fleet, space)
    job = c.submit(*args, api_name="/infer")
    with pytest.raises(concurrent.futures.CancelledError):
        job.result(timeout=20)
    if space == DEV:
        assert len(job.outputs()) <= 1  # at most the first preview arrived before the cut
    assert len(c.predict(*args, api_name="/infer")) == 2


def test_slow(fleet):
    fleet.set_fault(SCHNELL, slow=0.5)
    t = time.monotonic()
    client(fleet, SCHNELL).predict("x", 1, False, 256, 256, 1, api_name="/infer")
    assert time.monotonic() - t >= 0.5


@pytest.mark.parametrize("stage", ["BUILDING", "PAUSED", "RUNTIME_ERROR"])
def test_stage_not_running(fleet, stage):
    fleet.set_stage(SCHNELL, stage)
    r = httpx.get(fleet.url(SCHNELL) + "/config")
    assert r.status_code == 503 and r.json()["stage"] == stage
    assert httpx.get(f"{fleet.hub_url}/api/spaces/{SCHNELL}/runtime").json()["stage"] == stage


def test_sleeping_wakes_on_first_request(fleet):
    fleet.set_stage(SCHNELL, "SLEEPING", wake_after=3.0)  # time enough to see it starting, even on a loaded machine
    runtime = f"{fleet.hub_url}/api/spaces/{SCHNELL}/runtime"
    assert httpx.get(runtime).json()["stage"] == "SLEEPING"
    done = threading.Event()
    threading.Thread(target=lambda: (httpx.get(fleet.url(SCHNELL) + "/config"), done.set()), daemon=True).start()
    deadline = time.monotonic() + 10  # until the request has reached the Space: a state, however late the thread
    while httpx.get(runtime).json()["stage"] == "SLEEPING" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(runtime).json()["stage"] == "APP_STARTING" and not done.is_set()
    assert done.wait(10)
    assert httpx.get(runtime).json()["stage"] == "RUNNING"


def test_restart_wakes_sleeping_space(fleet):
    fleet.set_stage(JANUS, "SLEEPING", wake_after=0.2)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=fleet.hub_url)
    assert api.restart_space(JANUS, token=ALICE).stage == "APP_STARTING"
    time.sleep(0.3)
    assert api.get_space_runtime(JANUS, token=False).stage == "RUNNING"


def test_control_api(fleet):
    hub = fleet.hub_url
    r = httpx.post(f"{hub}/_twin/fault", json={"space": "flux-schnell", "worker_error": "boom", "times": 1})
    assert r.status_code == 200 and r.json()["spaces"][SCHNELL]["faults"]["worker_error"] == "boom"
    assert _err(lambda: client(fleet, SCHNELL).predict("x", 1, False, 256, 256, 1, api_name="/infer")) == (
        "ZeroGPU worker error", "boom")
    assert httpx.post(f"{hub}/_twin/fault", json={"space": DEV, "bogus": 1}).status_code == 400
    httpx.post(f"{hub}/_twin/stage", json={"space": DEV, "stage": "PAUSED"})
    assert httpx.get(f"{hub}/_twin/state").json()["spaces"][DEV]["stage"] == "PAUSED"
    client(fleet, SCHNELL).predict("x", 1, False, 256, 256, 1, api_name="/infer")
    assert httpx.get(f"{hub}/_twin/quota", params={"identity": "ip:127.0.0.1"}).json()["left"] == 180
    httpx.post(f"{hub}/_twin/reset", json={})
    assert fleet.quota_left("ip:127.0.0.1") == 300
    assert any(r["server"] == SCHNELL for r in httpx.get(f"{hub}/_twin/requests").json())
    httpx.delete(f"{hub}/_twin/requests")
    assert fleet.requests == []


def test_request_log_keeps_headers(fleet):
    fleet.clear_requests()
    client(fleet, SCHNELL, headers={"x-probe": "yes"}).predict("x", 1, False, 256, 256, 1, api_name="/infer")
    reqs = [r for r in fleet.requests if r.server == SCHNELL]
    join = [r for r in reqs if r.path == "/gradio_api/queue/join"]
    assert len(join) == 1 and join[0].headers["x-probe"] == "yes" and join[0]["method"] == "POST"
    assert not any("authorization" in k for r in reqs for k in r.headers)  # token=False sends none


# --- Hub twin ------------------------------------------------------------------------------------------------------
def test_hub_with_huggingface_hub(fleet):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(endpoint=fleet.hub_url)
    info = api.space_info(DEV, token=False)
    assert info.id == DEV and info.host == fleet.url(DEV) and info.sdk == "gradio" and info.private is False
    assert api.get_space_runtime(DEV, token=False).stage == "RUNNING"
    assert api.whoami(token=ALICE)["name"] == "alice"
    unknown = api.whoami(token="hf_someone")["name"]
    assert unknown == "user-" + hashlib.sha256(b"hf_someone").hexdigest()[:8]
    with pytest.raises(RepositoryNotFoundError):
        api.space_info("nobody/nothing", token=False)
    quota = api.get_zero_gpu_quota(token=ALICE)
    assert (quota.base, quota.remaining, quota.resets_at) == (300, 300, None)
    client(fleet, headers={"x-hf-authorization": f"Bearer {ALICE}"}).predict(
        "x", 1, False, 256, 256, 3.5, 1, api_name="/infer")
    quota = api.get_zero_gpu_quota(token=ALICE)
    assert quota.remaining == 225 and quota.resets_at > datetime.now(timezone.utc) + timedelta(hours=23)


def test_client_by_space_id_in_subprocess(fleet):
    code = (
        "from gradio_client import Client\n"
        f"c = Client({DEV!r}, verbose=False, token=False)\n"
        "print(c.src, c.predict('x', 9, False, 256, 256, 3.5, 1, api_name='/infer')[1])\n"
    )
    env = {**os.environ, "HF_ENDPOINT": fleet.hub_url, "HF_HUB_OFFLINE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [fleet.url(DEV), "9"]


# --- lifecycle and CLI -----------------------------------------------------------------------------------------------
def test_fixed_port_gives_fixed_urls_and_stop_frees_it():
    port = free_base_port()
    for _ in range(2):  # the second start proves stop() freed the ports
        with start_twins(["flux-schnell"], port=port, delay=0.0) as f:
            assert f.hub_url == f"http://127.0.0.1:{port}"
            assert f.urls == {SCHNELL: f"http://127.0.0.1:{port + 3}"}
            assert httpx.get(f.url(SCHNELL) + "/config").status_code == 200
        f.stop()  # idempotent


def test_cli_serve_all():
    port = free_base_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "janusflux.twins", "all", "--port", str(port), "--delay", "0",
                             "--stage", f"{JANUS}=SLEEPING"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("export HF_ENDPOINT="):
                break
        assert lines[-1] == f"export HF_ENDPOINT=http://127.0.0.1:{port}"
        assert f"{DEV:34} http://127.0.0.1:{port + 1}" in lines
        assert httpx.get(f"http://127.0.0.1:{port}/api/spaces/{JANUS}/runtime").json()["stage"] == "SLEEPING"
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
