"""Issue 15 §4 and §6: replicas of a model's Space on dedicated hardware, against the twins with the real
huggingface_hub calls (duplicate_repo, get_space_runtime, pause_space, delete_repo) and real Space twins.

The fleet: FLUX.1-schnell only, an allowance of 900 GPU s a window (10 calls of 60 s x factor 1.5), a window longer
than any run here (no reset during a run), one step of 0.5 s of pretend GPU time a call (a call is mostly that sleep,
so 4 calls at once on a busy machine take about as long as one), duplicates BUILDING for 0.3 s. Timing: no clock
assertion; the plan's wall time against the run's is measured by the benchmark (bench/past_quota.py, BENCHMARKS.md
section 7), not asserted here."""

from __future__ import annotations

import json
import time

import pytest

import janusflux
from janusflux import replicas
from janusflux.batch import BatchPaused, BatchWaiting, read_manifest, run_batch
from janusflux.errors import InvalidInputError, SpaceUnavailableError
from janusflux.models import get_model
from janusflux.plan import plan_batch
from janusflux.results import Fallback, Waiting

SCHNELL = "black-forest-labs/FLUX.1-schnell"
SMALL = {"width": 256, "height": 256, "steps": 1}
SECRET_HEADERS = ("authorization", "x-zerogpu-token", "x-ip-token", "x-zerogpu-uuid")


@pytest.fixture(scope="module")
def rfleet():
    from janusflux.twins import start_twins

    f = start_twins(spaces=["flux-schnell"], port=0, delay=0.5, quota=900, quota_window=120, hardware_factor=1.5,
                    concurrency=4, build_time=0.3)
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(autouse=True)
def hf_home(tmp_path, monkeypatch):
    """The replica list under a fresh HF_HOME (never the developer's)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "hf"


def replica_requests(fleet, ids) -> list:
    return [r for r in fleet.requests if r.server in ids]


@pytest.mark.live
def test_create_list_pause_delete(rfleet, token, hf_home):
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        made = replicas.create_replicas("flux-schnell", 2, hardware="a10g-large", sleep_time=300, session=s)
        ids = [r.space_id for r in made]
        assert [i.split("/")[1] for i in ids] == ["FLUX.1-schnell-replica-1", "FLUX.1-schnell-replica-2"]
        listed = json.loads((hf_home / "janusflux" / "replicas.json").read_text())["replicas"]
        assert [r["space_id"] for r in listed] == ids and {r["endpoint"] for r in listed} == {rfleet.hub_url}
        assert {r["source"] for r in listed} == {SCHNELL} and token not in json.dumps(listed)
        for i in ids:  # a new Space twin each, private, on the hardware asked for, not ZeroGPU
            st = rfleet.states[i]
            assert (st.stage, st.hardware, st.sleep_time, st.private, st.dedicated) == ("RUNNING", "a10g-large", 300,
                                                                                       True, True)
        status = replicas.list_replicas(session=s)
        assert [(x.replica.space_id, x.stage, x.hardware, x.sleep_time, x.price_per_hour, x.cost_per_hour)
                for x in status] == [(i, "RUNNING", "a10g-large", 300, 1.5, 1.5) for i in ids]
        assert all(token not in str(x) and token not in repr(x) for x in status)

    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:  # a new session picks them up
        spec = s._request("flux-schnell", "x", {}).spec
        assert spec.spaces == (SCHNELL, *ids) and spec.dedicated == frozenset(ids)
        # the account's allowance is spent: the call goes on at a replica, with no ZeroGPU identity sent there
        rfleet.set_fault(SCHNELL, daily_spent=True)
        rfleet.clear_requests()
        events: list = []
        result = _generate_with_events(s, events)
        assert result.space_id in ids
        assert any(isinstance(e, Fallback) and e.to_space in ids for e in events)
        assert not any(isinstance(e, Waiting) for e in events)  # no quota wait
        sent = replica_requests(rfleet, ids)
        assert sent and not any(h in r.headers for r in sent for h in SECRET_HEADERS)
        rfleet.clear_faults()
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token, replicas=False) as s:
        assert s._request("flux-schnell", "x", {}).spec.spaces == (SCHNELL,)

    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        assert replicas.pause_replica(ids[0].split("/")[1], session=s) == "PAUSED"
        paused = {x.replica.space_id: x for x in replicas.list_replicas(session=s)}[ids[0]]
        assert (paused.stage, paused.cost_per_hour) == ("PAUSED", 0.0)
        gone = replicas.delete_replica(ids[1], session=s)
        assert gone.space_id == ids[1] and ids[1] not in rfleet.states
        assert [x.replica.space_id for x in replicas.list_replicas(session=s)] == [ids[0]]
        replicas.delete_replica(ids[0], session=s)
        assert replicas.list_replicas(session=s) == []


def _generate_with_events(s, events: list):
    """A call through ``stream`` (the events it sent, the result)."""
    from janusflux.results import Done

    for ev in s.stream("flux-schnell", "a red fox", **SMALL):
        events.append(ev)
        if isinstance(ev, Done):
            return ev.result
    raise AssertionError("no result")


@pytest.mark.live
def test_private_copy_is_the_owners(rfleet, token):
    """Another account sees nothing of the copy (404), cannot pause or delete it."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        (made,) = replicas.create_replicas("flux-schnell", hardware="t4-small", session=s)
        api = HfApi(endpoint=rfleet.hub_url)
        other = "hf_other" + token[-12:]
        for call in (api.space_info, api.get_space_runtime, api.pause_space):
            with pytest.raises(RepositoryNotFoundError):
                call(made.space_id, token=other)
        with pytest.raises(RepositoryNotFoundError):
            api.delete_repo(made.space_id, repo_type="space", token=other)
        assert api.space_info(made.space_id, token=token).private is True
        replicas.delete_replica(made.space_id, session=s)


@pytest.mark.live
def test_bad_inputs_are_typed_before_any_request(rfleet, token):
    rfleet.clear_requests()
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        cases = [
            ({"model": "flux-schnell", "count": 0, "hardware": "a10g-large"}, "count"),
            ({"model": "flux-schnell", "count": True, "hardware": "a10g-large"}, "count"),
            ({"model": "no-such-model", "count": 1, "hardware": "a10g-large"}, "model"),
            ({"model": "flux-schnell", "count": 1, "hardware": "zero-a10g"}, "hardware"),
            ({"model": "flux-schnell", "count": 1, "hardware": "cpu-basic"}, "hardware"),
            ({"model": "flux-schnell", "count": 1, "hardware": "A10G large"}, "hardware"),
            ({"model": "flux-schnell", "count": 1, "hardware": "a10g-large", "sleep_time": -5}, "sleep_time"),
            ({"model": "flux-schnell", "count": 1, "hardware": "a10g-large", "private": "yes"}, "private"),
            ({"model": "flux-schnell", "count": 1, "hardware": "a10g-large", "timeout": 0}, "timeout"),
        ]
        for kwargs, param in cases:
            model, count = kwargs.pop("model"), kwargs.pop("count")
            with pytest.raises(InvalidInputError) as e:
                replicas.create_replicas(model, count, session=s, **kwargs)
            assert e.value.param == param, (kwargs, e.value)
        for bad in (None, "", "nobody/nothing"):
            with pytest.raises(InvalidInputError) as e:
                replicas.pause_replica(bad, session=s)  # type: ignore[arg-type]
            assert e.value.param == "name"
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=False) as anonymous:
        with pytest.raises(InvalidInputError) as e:
            replicas.create_replicas("flux-schnell", 1, hardware="a10g-large", session=anonymous)
        assert e.value.param == "token"
    for option in (42, "me/x", {"me/x": "not a space"}, [object()]):
        with pytest.raises(InvalidInputError) as e:
            janusflux.Session(hf_endpoint=rfleet.hub_url, token=False, replicas=option)
        assert e.value.param == "replicas"
    assert rfleet.requests == []  # nothing was sent
    # a name the Hub does not list is refused after reading the list, before anything is duplicated
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        with pytest.raises(InvalidInputError, match="a10g-large") as e:
            replicas.create_replicas("flux-schnell", 1, hardware="no-such-gpu", session=s)
        assert e.value.param == "hardware"
    assert not any(r.path.endswith("/duplicate") for r in rfleet.requests)


@pytest.mark.live
def test_build_error_is_typed_and_the_copy_stays_listed(rfleet, token):
    rfleet.set_fault(SCHNELL, build_error=True, times=1)
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        with pytest.raises(SpaceUnavailableError) as e:
            replicas.create_replicas("flux-schnell", 1, hardware="l4x1", session=s)
        assert e.value.stage == "BUILD_ERROR" and token not in str(e.value)
        (broken,) = replicas.list_replicas(session=s)
        assert broken.stage == "BUILD_ERROR"
        replicas.delete_replica(broken.replica.space_id, session=s)
        assert replicas.list_replicas(session=s) == []


@pytest.mark.live
def test_cli_replicas(rfleet, token, tmp_path, monkeypatch, capsys):
    from janusflux.cli import main

    monkeypatch.setenv("HF_ENDPOINT", rfleet.hub_url)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    assert main(["replicas", "create", "flux-schnell", "--count", "1", "--hardware", "t4-small", "--sleep-time",
                 "600", "--json"]) == 0
    out = capsys.readouterr()
    (made,) = json.loads(out.out)
    assert made["hardware"] == "t4-small" and made["sleep_time"] == 600 and token not in out.out + out.err
    assert main(["replicas", "list", "--json"]) == 0
    out = capsys.readouterr()
    (row,) = json.loads(out.out)
    assert (row["space_id"], row["stage"], row["price_per_hour"]) == (made["space_id"], "RUNNING", 0.4)
    assert main(["replicas", "list"]) == 0
    out = capsys.readouterr()
    assert "RUNNING  t4-small  sleeps after 600s  $0.40/h" in out.out and token not in out.out + out.err
    assert main(["replicas", "pause", made["space_id"]]) == 0
    assert "PAUSED" in capsys.readouterr().out
    assert main(["replicas", "delete", made["space_id"]]) == 2  # not a terminal: --yes is required
    assert "--yes" in capsys.readouterr().err
    assert main(["replicas", "delete", made["space_id"], "--yes"]) == 0
    out = capsys.readouterr()
    assert "deleted" in out.out and token not in out.out + out.err
    assert main(["replicas", "create", "flux-schnell", "--hardware", "zero-a10g"]) == 2
    assert "hardware" in capsys.readouterr().err
    assert main(["replicas", "pause", "nothing-here"]) == 2
    capsys.readouterr()
    janusflux.close()  # the default session (from the environment) when none is given
    try:
        assert replicas.list_replicas() == []
    finally:
        janusflux.close()
    # the plan of a batch on 2 replicas next to the official Space, 4 calls in flight, 2 s a call
    src = tmp_path / "p.txt"
    src.write_text("\n".join(prompts(40)) + "\n", encoding="utf-8")
    rfleet.reset_quota(token)
    assert main(["batch", str(src), "--out", str(tmp_path / "out"), "--model", "flux-schnell", "--plan", "--json",
                 "--replicas", "2", "--hardware", "a10g-large", "--concurrency", "4", "--call-seconds", "2"]) == 0
    plan = json.loads(capsys.readouterr().out)
    # 10 calls fit in the allowance: 2 at a time on the official Space while the replicas do 10, then 20 on the
    # replicas: (5 + 10) calls of 2 s
    assert (plan["fits_now"], plan["replica_seconds"], plan["wall_seconds"]) == (10, 40.0, 30.0)


def prompts(n: int) -> list[str]:
    return [f"a glass marble number {i}" for i in range(n)]


@pytest.mark.live
def test_a_copy_still_building_after_the_quick_polls_is_waited_for(rfleet, token, monkeypatch):
    """The quick polls run out while the copy still builds (loaded run 1 of d3e3192: a build took longer than
    POLL_FIRST): the wait goes on at the slower pace. huggingface_hub's ``wait_for_space`` says so with a
    TimeoutError, which must not read as "the Hub is unreachable"."""
    monkeypatch.setattr(replicas, "POLL_FIRST", 0.0)  # no quick polls: the copy is BUILDING at the first look
    monkeypatch.setattr(replicas, "POLL_MAX", 0.2)
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        made = replicas.create_replicas("flux-schnell", 1, hardware="a10g-large", session=s, timeout=60)
    assert [rfleet.states[r.space_id].stage for r in made] == ["RUNNING"]


@pytest.mark.live
def test_batch_with_two_replicas_finishes_with_no_quota_wait(rfleet, token, tmp_path):
    """Done when (issue 15): the 40-item batch, an allowance of 10 items a window, 2 replicas: no quota wait, the
    replicas serve the items the allowance does not cover, as the plan said (its wall time is benchmark section 7)."""
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        made = replicas.create_replicas("flux-schnell", 2, hardware="a10g-large", sleep_time=600, session=s)
    ids = {r.space_id for r in made}
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        on_replica = get_model("flux-schnell").replace(spaces=tuple(sorted(ids)), dedicated=ids)
        for i in range(2):  # connections warm
            assert s.generate(on_replica, f"warm-up {i}", **SMALL).space_id in ids
        s.generate("flux-schnell", "warm-up", **SMALL)
        rfleet.reset_quota(token)  # then a fresh allowance: 10 calls

        plan = plan_batch(prompts(40), tmp_path / "out", model="flux-schnell", session=s, replicas=2,
                          hardware="a10g-large", concurrency=4, call_seconds=1.0, **SMALL)
        assert (plan.fits_now, plan.resets) == (10, 3)  # without replicas: 3 resets to wait for
        assert plan.wall_seconds is not None and plan.wall_seconds < plan.replica_seconds

        rfleet.clear_requests()
        events: list = []
        summary = run_batch(prompts(40), tmp_path / "out", model="flux-schnell", session=s, concurrency=4,
                            max_wait=0.1, on_event=lambda item, ev: events.append(ev), **SMALL)
    assert (summary.done, summary.failed, summary.pending) == (40, 0, 0) and summary.ok, str(summary)
    # no quota wait: no batch pause, no countdown, no call waiting, nothing stopped
    assert summary.resets == 0 and summary.paused == 0 and summary.stopped_by is None
    assert not any(isinstance(e, (BatchPaused, BatchWaiting, Waiting)) for e in events)
    served = [r["space_id"] for r in read_manifest(tmp_path / "out" / "manifest.jsonl")]
    assert served.count(SCHNELL) <= 10 and sum(1 for x in served if x in ids) >= 30
    assert {x for x in served if x != SCHNELL} == ids  # both replicas served
    # the official Space refused at most the calls in flight when its allowance ran out, then got none
    refused = sum(1 for e in events if isinstance(e, Fallback) and e.from_space == SCHNELL)
    assert refused <= 4
    # nothing of the account's identity went to the replicas
    assert not any(h in r.headers for r in replica_requests(rfleet, ids) for h in SECRET_HEADERS)
    # the plan's wall time against the run's is a benchmark (bench/past_quota.py, BENCHMARKS.md section 7): a clock
    # on this shared 2-core machine is no test


def test_policy_goes_on_at_a_replica_instead_of_waiting():
    """Pure: with a free dedicated Space, a quota wall (user, spent, runs, pending) switches at once and cools every
    ZeroGPU Space down for the wall's length; the Space's own limit stays a plain switch; no replica: as before."""
    from datetime import datetime, timedelta, timezone

    from janusflux import policy
    from janusflux.errors import QuotaExceededError

    now = datetime.now(timezone.utc)
    user = QuotaExceededError("quota", scope="user", retry_after=40)
    spent = QuotaExceededError("0s left", scope="daily", resets_at=now + timedelta(seconds=100))
    unknown = QuotaExceededError("runs", scope="runs")
    pending = QuotaExceededError("pending", scope="pending")
    space = QuotaExceededError("space limit", scope="space")
    for error, seconds in ((user, 41.0), (spent, 101.0), (unknown, policy.UNAVAILABLE_COOLDOWN),
                           (pending, policy.backoff(1))):
        d = policy.decide(error, 1, 0.5, dedicated_free=True)
        assert (d.action, d.zerogpu_wall) == ("switch", True) and d.cooldown == pytest.approx(seconds, abs=1.0)
    assert not policy.decide(space, 1, 0.5, dedicated_free=True).zerogpu_wall
    assert policy.decide(user, 1, 600).action == "wait"  # no replica: the retry-after is waited for, as before
    assert policy.decide(spent, 1, 600).action == "raise"


@pytest.mark.live
def test_twin_space_admin_routes(rfleet, token):
    """The Hub twin's hardware, sleep-time, restart and delete routes, through huggingface_hub: a copy sleeps after
    its sleep time (billing stops) and the next call wakes it; the twins' own Spaces cannot be changed or deleted."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from janusflux.results import Waking

    api = HfApi(endpoint=rfleet.hub_url)
    with janusflux.Session(hf_endpoint=rfleet.hub_url, token=token) as s:
        (made,) = replicas.create_replicas("flux-schnell", hardware="l4x1", session=s)
        rt = api.request_space_hardware(made.space_id, "a10g-small", sleep_time=1, token=token)
        assert (rt.stage, rt.requested_hardware, rt.sleep_time) == ("APP_STARTING", "a10g-small", 1)
        deadline = time.monotonic() + 30
        while api.get_space_runtime(made.space_id, token=token).stage != "SLEEPING":  # running, then idle 1 s
            assert time.monotonic() < deadline
            time.sleep(0.2)
        status = {x.replica.space_id: x for x in replicas.list_replicas(session=s)}[made.space_id]
        assert (status.stage, status.hardware, status.cost_per_hour) == ("SLEEPING", "a10g-small", 0.0)
        assert api.set_space_sleep_time(made.space_id, 3600, token=token).sleep_time == 3600
        events: list = []
        on_copy = get_model("flux-schnell").replace(spaces=(made.space_id,), dedicated={made.space_id})
        for ev in s.stream(on_copy, "wake up", **SMALL):
            events.append(ev)
        assert any(isinstance(e, Waking) for e in events) and events[-1].result.space_id == made.space_id
        assert api.get_space_runtime(made.space_id, token=token).stage == "RUNNING"
        for call in (lambda: api.pause_space(SCHNELL, token=token),
                     lambda: api.delete_repo(SCHNELL, repo_type="space", token=token)):
            with pytest.raises(HfHubHTTPError) as e:
                call()
            assert e.value.response.status_code == 403
        assert rfleet.states[SCHNELL].stage == "RUNNING"
        replicas.delete_replica(made.space_id, session=s)


def test_an_unreadable_list_is_named_and_a_session_still_starts(hf_home, caplog):
    path = hf_home / "janusflux" / "replicas.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"replicas\.json") as e:
        replicas.load_replicas()
    assert e.value.param == "replicas"
    with caplog.at_level("WARNING", logger="janusflux.replicas"), \
            janusflux.Session(hf_endpoint="http://127.0.0.1:9", token=False) as s:
        assert s._request("flux", "x", {}).spec.spaces == get_model("flux").spaces
    assert "replicas not used" in caplog.text
