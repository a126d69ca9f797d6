"""The twins speak every ZeroGPU generation (SPACES.md "ZeroGPU in the wild"), seen through gradio_client.

One FLUX.1-schnell twin (60 s declared, hardware factor 1.5: 90 s requested) with a 100 s allowance: the first call
books 90 s, the second is refused with 10 s left. Each test sets the wording and identity mode it needs."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("gradio")
from gradio_client import Client
from gradio_client.exceptions import AppError

from janusflux.twins import start_twins
from janusflux.twins.state import ZeroSettings
from twins_helpers import raw_call

pytestmark = pytest.mark.live

SCHNELL = "black-forest-labs/FLUX.1-schnell"
ALICE, BOB = "hf_alice_wording_token", "hf_bob_wording_token"
USERS = {ALICE: {"name": "alice", "plan": "free"}, BOB: {"name": "bob", "plan": "pro"}}
WAIT = r"\d+:\d\d:\d\d"
ANON = "Authenticate with a Hugging Face token for more quota"


@pytest.fixture(scope="module")
def fleet():
    with start_twins([SCHNELL], quota=100.0, delay=0.0, users=USERS, hardware_factor=1.5, anonymous="ip") as f:
        yield f


@pytest.fixture(autouse=True)
def _clean(fleet):
    fleet.reset_quota()
    fleet.clear_faults()
    fleet.set_zerogpu(None, wording="0.51", anonymous="ip", hardware_factor=1.5, waiting_toast="gpu")
    yield


def call(fleet, token=None, headers=None):
    c = Client(fleet.url(SCHNELL), verbose=False, token=token or False, headers=headers)
    return c.predict("a fox", 1, False, 256, 256, 1, api_name="/infer")


def refusal(fleet, token=None) -> tuple[str | None, str]:
    with pytest.raises(AppError) as info:
        call(fleet, token)
    return info.value.title, info.value.message


def over_quota(fleet, token=None) -> tuple[str | None, str]:
    call(fleet, token)  # books 90 of 100 s
    return refusal(fleet, token)


ANONYMOUS_QUOTA = {
    "0.51": ("ZeroGPU quota exceeded", rf"You have exceeded your ZeroGPU quota \(90s requested vs\. 10s left\)\. "
                                       rf"Try again in {WAIT}\. {ANON} - https://huggingface\.co/settings/tokens"),
    "2025": ("ZeroGPU quota exceeded", rf"You have exceeded your GPU quota \(90s requested vs\. 10s left\)\. "
                                       rf"Try again in {WAIT}\. {ANON}"),
    "2025-plain": ("Error", r"Unlogged user is runnning out of daily ZeroGPU quotas\. .*"),
    "2024": ("Error", rf"You have exceeded your GPU quota \(10s left vs\. 90s requested\)\. "
                      rf"Sign-up on Hugging Face to get more quotas or retry in {WAIT}"),
    "2024-html": ("Error", r"You have exceeded your GPU quota \(90s requested vs\. 10s left\)\. "
                           r'<a [^>]*href="https://huggingface\.co/join">Create a free account</a> to get more usage '
                           r"quota\."),
}


@pytest.mark.parametrize("wording", sorted(ANONYMOUS_QUOTA))
def test_anonymous_quota_text_per_generation(fleet, wording):
    fleet.set_zerogpu(SCHNELL, wording=wording)
    title, message = over_quota(fleet)
    assert title == ANONYMOUS_QUOTA[wording][0]
    assert re.fullmatch(ANONYMOUS_QUOTA[wording][1], message), message
    assert fleet.quota_left("ip:127.0.0.1") == 10  # the hardware factor: 60 s x 1.5 booked


SIGNED_IN_QUOTA = {
    ("2025", ALICE): rf"You have exceeded your free GPU quota \(90s requested vs\. 10s left\)\. Try again in {WAIT}",
    ("2025", BOB): rf"You have exceeded your Pro GPU quota \(90s requested vs\. 10s left\)\. Try again in {WAIT}",
    ("2024", ALICE): rf"You have exceeded your GPU quota \(10s left vs\. 90s requested\)\. Subscribe to PRO to get "
                     rf"more quotas or retry in {WAIT}",
    ("2024", BOB): rf"You have exceeded your GPU quota \(10s left vs\. 90s requested\)\. Please retry in {WAIT}",
    ("2024-html", BOB): rf"You have exceeded your GPU quota \(90s requested vs\. 10s left\)\. Try again in {WAIT}",
    ("2025-plain", ALICE): r"User is runnning out of daily ZeroGPU quotas\. Subscribe to PRO .*",
}


@pytest.mark.parametrize("wording,token", sorted(SIGNED_IN_QUOTA))
def test_signed_in_quota_text_per_generation(fleet, wording, token):
    fleet.set_zerogpu(SCHNELL, wording=wording)
    if token == BOB:  # PRO: 8 x 100 s; leave 10 s
        fleet.zero.ledger.book("user:bob", 790)
    else:
        call(fleet, token)
    title, message = refusal(fleet, token)
    assert title == ("ZeroGPU quota exceeded" if wording == "2025" else "Error")
    assert re.fullmatch(SIGNED_IN_QUOTA[(wording, token)], message), message


RUNS = {
    "0.51": ("ZeroGPU quota exceeded", f"You have exceeded your ZeroGPU runs limit. {ANON} - "
                                       "https://huggingface.co/settings/tokens"),
    "2025": ("ZeroGPU quota exceeded", f"You have exceeded your runs limit. {ANON}"),
    "2024": ("Error", "You have exceeded your GPU quota (0s left vs. 90s requested). Sign-up on Hugging Face to get "
                      "more quotas or retry in 0:00:00"),
}


@pytest.mark.parametrize("wording", sorted(RUNS))
def test_runs_limit_per_generation(fleet, wording):
    fleet.set_zerogpu(SCHNELL, wording=wording)
    fleet.set_fault(SCHNELL, runs_limit=True, times=1)
    assert refusal(fleet) == RUNS[wording]


@pytest.mark.parametrize("wording,expected", [
    ("0.51", "You have exceeded your ZeroGPU quota (90s requested vs. 0s left). Try again in 0:00:00. " + ANON),
    ("2025", "You have exceeded your GPU quota (90s requested vs. 0s left). Try again in 0:00:00. " + ANON),
    ("2024", "You have exceeded your GPU quota (0s left vs. 90s requested). Sign-up on Hugging Face to get more "
             "quotas or retry in 0:00:00"),
])
def test_spent_daily_allowance(fleet, wording, expected):
    fleet.set_zerogpu(SCHNELL, wording=wording)
    fleet.set_fault(SCHNELL, daily_spent=True, times=1)
    title, message = refusal(fleet)
    assert title == ("Error" if wording == "2024" else "ZeroGPU quota exceeded")
    assert message.startswith(expected), message


def test_illegal_duration_2024_has_a_negative_wait(fleet):
    fleet.set_zerogpu(SCHNELL, wording="2024")
    fleet.set_fault(SCHNELL, illegal_duration=True, times=1)
    title, message = refusal(fleet)
    assert title == "Error"
    assert message == ("You have exceeded your GPU quota (100s left vs. 90s requested). Sign-up on Hugging Face to "
                       "get more quotas or retry in -1 day, 23:59:59")


@pytest.mark.parametrize("wording,title", [("2024", "Error"), ("2025", "ZeroGPU queue timeout")])
def test_no_gpu_untitled_in_old_generations(fleet, wording, title):
    fleet.set_zerogpu(SCHNELL, wording=wording)
    fleet.set_fault(SCHNELL, queue_timeout=True, times=1)
    assert refusal(fleet) == (title, "No GPU was available after 60s")


def test_identity_less_anonymous_knob(fleet):
    fleet.set_zerogpu(SCHNELL, anonymous="space")
    fleet.zero.ledger.book("ip:127.0.0.1", 0)
    fleet.set_fault(SCHNELL, runs_limit=True, times=1)
    assert refusal(fleet) == ("ZeroGPU quota exceeded", "Space app has reached its GPU limit. Try re-running "
                                                        "outside of examples if it happened after clicking one")


def _logs(messages):
    return [(m.get("title"), m["log"]) for m in messages if m["msg"] == "log"]


def test_refused_zerogpu_token_warns_and_falls_back_to_ip_quota(fleet):
    messages = raw_call(fleet.url(SCHNELL), 2, ["x", 1, False, 256, 256, 1],
                        headers={"x-zerogpu-token": "1764355200:Zm9yZ2Vk:bm90LXNpZ25lZA=="})
    assert ("ZeroGPU client warning", "Falling back to IP-based quotas (InvalidRepoToken)") in _logs(messages)
    assert messages[-1]["success"] and fleet.quota_left("ip:127.0.0.1") == 10


def test_non_jwt_zerogpu_token_is_accepted(fleet):
    token = fleet.issue_token(SCHNELL, ALICE, token_format="plain")
    assert re.fullmatch(r"\d+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+", token) and "." not in token
    messages = raw_call(fleet.url(SCHNELL), 2, ["x", 1, False, 256, 256, 1], headers={"x-zerogpu-token": token})
    assert messages[-1]["success"] and not _logs(messages)
    assert fleet.quota_left("alice") == 10 and fleet.quota_left("ip:127.0.0.1") == 100


@pytest.mark.parametrize("toast,text", [("gpu", "Waiting for a GPU to become available"),
                                        ("slot", "Waiting for a GPU slot on this Space")])
def test_waiting_toasts(fleet, toast, text):
    fleet.set_zerogpu(SCHNELL, waiting_toast=toast)
    fleet.set_fault(SCHNELL, queue_timeout=True, times=1)
    messages = raw_call(fleet.url(SCHNELL), 2, ["x", 1, False, 256, 256, 1])
    assert ("ZeroGPU queue", text) in _logs(messages)


def test_quota_api_matches_the_ledger(fleet):
    from datetime import datetime, timezone

    from huggingface_hub import HfApi

    call(fleet, ALICE)
    q = HfApi(endpoint=fleet.hub_url).get_zero_gpu_quota(token=ALICE)
    assert (q.base, q.remaining) == (100, 10) == (100, fleet.quota_left("alice"))
    resets = fleet.zero.ledger.resets_at("user:alice")
    assert q.resets_at is not None and abs(q.resets_at.timestamp() - resets) < 0.01
    assert q.resets_at > datetime.now(timezone.utc)


def test_zerogpu_settings_reject_unknown_values():
    s = ZeroSettings()
    for bad in ({"wording": "2023"}, {"anonymous": "nobody"}, {"waiting_toast": "x"}, {"hardware_factor": 0},
                {"colour": "red"}):
        with pytest.raises(ValueError):
            s.update(**bad)


def test_serve_options_and_newcomer_defaults():
    import argparse

    from janusflux.twins import cli
    from janusflux.twins.options import GENEROUS_QUOTA

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    opts = cli.options_from(parser.parse_args([]), None)
    assert (opts.quota, opts.hardware_factor, opts.anonymous, opts.zerogpu_wording) == (GENEROUS_QUOTA, 1.5, "ip",
                                                                                        "0.51")
    opts = cli.options_from(parser.parse_args(["--zerogpu-wording", "2024-html", "--anonymous", "space",
                                               "--queue-max-size", "1", "--hardware-factor", "1"]), None)
    assert (opts.zerogpu_wording, opts.anonymous, opts.queue_max_size, opts.hardware_factor) == (
        "2024-html", "space", 1, 1.0)


def test_queue_max_size_knob_gives_queue_is_full():
    """queue_max_size=1 (gradio 6 on a ZeroGPU Space): one call runs, one waits, the next is refused."""
    import time
    import uuid

    import httpx

    with start_twins([SCHNELL], concurrency=1, queue_max_size=1, delay=0.0) as f:
        url, st = f.url(SCHNELL), f.states[SCHNELL]
        st.slots.acquire()  # hold the only GPU slot: the first call blocks inside the Space, running
        try:
            def join(i):
                return httpx.post(f"{url}/gradio_api/queue/join", timeout=60, json={
                    "data": ["x", i, False, 256, 256, 1], "fn_index": 2, "session_hash": uuid.uuid4().hex,
                    "event_data": None, "trigger_id": None})

            def queued():
                return httpx.get(f"{url}/gradio_api/queue/status", timeout=60).json()["queue_size"]

            assert join(0).status_code == 200
            deadline = time.monotonic() + 60
            while queued() and time.monotonic() < deadline:  # wait for the state "first call running"
                time.sleep(0.05)
            assert join(1).status_code == 200
            third = join(2)
            assert third.status_code == 503 and "Queue is full" in third.text
        finally:
            st.slots.release()
