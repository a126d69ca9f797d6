"""Issue 15 §2-§3: plan a batch against the allowance, then run it unattended across allowance resets.

The twin's allowance covers 10 FLUX.1-schnell calls (60 s x factor 1.5 = 90 s each, 900 s) per 8-second window, so a
40-item batch needs 3 resets. Timing bounds are generous: the only clock assertions are "it finished" and "under a
minute"."""

from __future__ import annotations

import json
import time

import pytest

import janusflux
from janusflux.batch import BatchWaiting, read_manifest, run_batch
from janusflux.errors import InvalidInputError, QuotaExceededError
from janusflux.plan import plan_batch

SMALL = {"width": 256, "height": 256, "steps": 1}
WINDOW = 8.0


def joins(fleet) -> int:
    return sum(1 for r in fleet.requests if r.path.endswith("/queue/join"))


@pytest.fixture(scope="module")
def reset_fleet():
    from janusflux.twins import start_twins

    f = start_twins(spaces=["flux-schnell"], port=0, delay=0.001, quota=900, quota_window=WINDOW,
                    hardware_factor=1.5, concurrency=4)
    try:
        yield f
    finally:
        f.stop()


def prompts(n: int) -> list[str]:
    return [f"a glass marble number {i}" for i in range(n)]


@pytest.mark.live
def test_plan_then_run_until_done_across_resets(reset_fleet, token, tmp_path):
    out = tmp_path / "out"
    with janusflux.Session(hf_endpoint=reset_fleet.hub_url, token=token) as s:
        # connect once, then give the account a fresh allowance: a window of a few seconds must not roll over while
        # the client connects (the Hub's is a day)
        s.generate("flux-schnell", "warm-up", **SMALL)
        reset_fleet.reset_quota(token)
        plan = plan_batch(prompts(40), out, model="flux-schnell", session=s, replicas=2, hardware="a10g-large",
                          **SMALL)
        assert [(m.model, m.items, m.asks_for, m.expected) for m in plan.models] == [("flux-schnell", 40, 90, 90)]
        assert (plan.fits_now, plan.resets, plan.never_fit) == (10, 3, 0)
        assert plan.price_per_hour == 1.5 and plan.replica_seconds == 40 * 60 / 2  # declared duration: no run yet
        assert "fits now: 10 of 40 items; the rest needs 3 reset(s)" in str(plan)

        reset_fleet.clear_requests()
        events: list = []
        t0 = time.monotonic()
        summary = run_batch(prompts(40), out, model="flux-schnell", session=s, concurrency=4, until_done=True,
                            max_wait=0.1, on_event=lambda item, ev: events.append(ev), **SMALL)
        took = time.monotonic() - t0
        assert (summary.done, summary.failed, summary.pending) == (40, 0, 0) and summary.ok, str(summary)
        assert took < 60
        # the plan's reset count is within 20% of what the run did, and no request hammered a spent allowance
        assert abs(summary.resets - plan.resets) <= 0.2 * plan.resets, (summary.resets, plan.resets)
        assert joins(reset_fleet) <= 40 + 4 * summary.resets
        assert any(isinstance(e, BatchWaiting) and e.seconds_left > 0 for e in events)  # the countdown

        # the journal measured what the run charged: the next plan of this folder knows the factor and the time
        usage = [json.loads(line)["usage"] for line in (out / "manifest.usage.jsonl").read_text().splitlines()]
        assert usage and len(read_manifest(out / "manifest.jsonl")) == 40
        again = plan_batch(prompts(40) + prompts(50)[40:], out, model="flux-schnell", session=s,
                           hardware_factor=1.0, **SMALL)
        assert again.already_done == 40 and again.to_run == 10
        assert again.measured_factor == pytest.approx(1.5, rel=0.2)
        assert again.models[0].expected == pytest.approx(90, rel=0.2)  # refined, although asked with factor 1.0


@pytest.mark.live
def test_until_done_stops_at_the_deadline(reset_fleet, token, tmp_path):
    with janusflux.Session(hf_endpoint=reset_fleet.hub_url, token=token) as s:
        summary = run_batch(prompts(30), tmp_path / "out", model="flux-schnell", session=s, concurrency=2,
                            until_done=True, deadline=1.0, **SMALL)
    # the deadline passes first, or the wall's reset lies beyond it: either way the batch stops, resumable
    assert summary.done <= 10 and summary.pending + summary.failed == 30 - summary.done and not summary.ok
    assert summary.resets == 0 and summary.elapsed < 10
    if summary.stop_reason == "deadline":
        assert "deadline" in str(summary.stopped_by)
    else:
        assert isinstance(summary.stopped_by, QuotaExceededError) and "after the deadline" in summary.stop_reason
    with pytest.raises(InvalidInputError, match="deadline"):
        run_batch(prompts(1), tmp_path / "out2", deadline=-5)


@pytest.mark.live
def test_cli_plan_and_until_done(reset_fleet, token, tmp_path, monkeypatch, capsys):
    from janusflux.cli import main

    monkeypatch.setenv("HF_ENDPOINT", reset_fleet.hub_url)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    src = tmp_path / "p.txt"
    src.write_text("\n".join(prompts(15)) + "\n", encoding="utf-8")
    base = ["batch", str(src), "--out", str(tmp_path / "out"), "--model", "flux-schnell", "--width", "256",
            "--height", "256", "--steps", "1"]
    reset_fleet.clear_requests()
    assert main([*base, "--plan", "--json", "--replicas", "3", "--hardware", "t4-small"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["to_run"], plan["fits_now"], plan["resets"], plan["price_per_hour"]) == (15, 10, 1, 0.4)
    assert joins(reset_fleet) == 0  # --plan generates nothing
    assert main([*base, "--plan", "--replicas", "2", "--hardware", "no-such-gpu"]) == 2
    assert "a10g-large" in capsys.readouterr().err  # the Hub's list is named
    assert main([*base, "--until-done", "--concurrency", "3", "--deadline", "50s"]) == 0
    out = capsys.readouterr()
    assert "15 done" in out.out and "waiting for the ZeroGPU allowance" in out.err
