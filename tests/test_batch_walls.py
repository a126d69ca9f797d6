"""Issue 12 §3: a batch stops sending on the first quota error of any generation, signed in or anonymous. After the
wall each worker sends at most the one request it had in flight; the summary says when the allowance resets and how
to resume; the CLI exits 3. Requests are counted from the twins' own request log."""

from __future__ import annotations

import threading

import pytest

from janusflux.batch import ItemDone, run_batch
from janusflux.errors import QuotaExceededError

SMALL = {"width": 256, "height": 256, "steps": 1}
N, WORKERS = 50, 4


def joins(fleet) -> int:
    return sum(1 for r in fleet.requests if r.path.endswith("/queue/join"))


@pytest.fixture(scope="module")
def wall_fleet():
    """FLUX.1-schnell (60 s a call) with room for 5 calls an hour per identity; anonymous callers get an IP identity
    as in production."""
    from janusflux.twins import start_twins

    f = start_twins(spaces=["flux-schnell"], port=0, delay=0.001, quota=300, quota_window=3600.0, anonymous="ip",
                    hardware_factor=1.0, concurrency=WORKERS)
    try:
        yield f
    finally:
        f.stop()


def _run(fleet, token, tmp_path, wall_after: int, knob: str | None, wording: str = "0.51", **kw):
    """Run 50 items with 4 workers; after `wall_after` items are done, set `knob` (None: the ledger's own wall).
    Returns (summary, joins after the wall was raised)."""
    import janusflux

    fleet.set_zerogpu("flux-schnell", wording=wording)
    fleet.clear_requests()
    fleet.clear_faults()
    raised = threading.Event()
    at_wall: list[int] = []
    done = [0]
    lock = threading.Lock()

    def on_event(item, ev):
        if isinstance(ev, ItemDone) and knob is not None:
            with lock:
                done[0] += 1
                if done[0] == wall_after and not raised.is_set():
                    at_wall.append(joins(fleet))
                    fleet.set_fault("flux-schnell", **{knob: True})
                    raised.set()

    prompts = [f"a paper crane number {i}" for i in range(N)]
    with janusflux.Session(hf_endpoint=fleet.hub_url, token=token) as s:
        summary = run_batch(prompts, tmp_path / "out", model="flux-schnell", session=s, concurrency=WORKERS,
                            on_event=on_event, max_wait=10, **SMALL, **kw)
    fleet.clear_faults()
    return summary, joins(fleet) - (at_wall[0] if at_wall else 0)


@pytest.mark.live
@pytest.mark.parametrize("wording", ["0.51", "2025", "2024", "2024-html"])
def test_signed_in_allowance_wall_stops_with_one_request_per_worker(wall_fleet, token, tmp_path, wording):
    summary, sent = _run(wall_fleet, token, tmp_path, 0, None, wording)
    # 5 calls fit; after that each worker's call is refused once and nothing else goes out
    assert summary.done == 5
    assert sent <= summary.done + WORKERS
    assert isinstance(summary.stopped_by, QuotaExceededError)
    assert summary.pending >= N - 5 - WORKERS and not summary.ok
    assert summary.resets_at is not None  # from the retry-after, or the Hub's quota API for a spent allowance
    text = str(summary)
    assert "resets at" in text and "run the same command again" in text and "--until-done" in text


@pytest.mark.live
@pytest.mark.parametrize("knob,wording", [("daily_spent", "0.51"), ("daily_spent", "2025-plain"),
                                          ("runs_limit", "2025"), ("runs_limit", "2024")])
@pytest.mark.parametrize("signed_in", [True, False], ids=["token", "anonymous"])
def test_spent_allowance_wall_stops_with_one_request_per_worker(wall_fleet, token, tmp_path, knob, wording,
                                                                 signed_in):
    if not signed_in:
        wall_fleet.reset_quota("ip:127.0.0.1")
    # the knob goes up at the first item done: with the 3 calls then in flight, at most 4 of the identity's 5 calls
    # are booked, so the wall the batch meets is the spent allowance, not the ledger's own
    summary, after = _run(wall_fleet, token if signed_in else None, tmp_path, 1, knob, wording)
    assert after <= WORKERS, f"{after} requests after the wall"
    assert summary.done >= 1 and summary.done + summary.failed + summary.pending == N
    assert isinstance(summary.stopped_by, QuotaExceededError) and summary.stopped_by.spent, summary.stopped_by
    assert summary.pending >= N - 1 - 2 * WORKERS
    if signed_in:  # the Hub's quota API says when the spent allowance comes back
        assert summary.resets_at is not None and "resets at" in str(summary)
    else:
        assert "reset time unknown" in str(summary)


@pytest.mark.live
def test_cli_batch_on_a_spent_allowance_exits_3_and_says_how_to_resume(wall_fleet, tmp_path, monkeypatch, capsys):
    from janusflux.cli import main

    monkeypatch.setenv("HF_ENDPOINT", wall_fleet.hub_url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    wall_fleet.clear_requests()
    wall_fleet.set_fault("flux-schnell", runs_limit=True)
    try:
        src = tmp_path / "p.txt"
        src.write_text("\n".join(f"a kite {i}" for i in range(20)) + "\n", encoding="utf-8")
        code = main(["batch", str(src), "--out", str(tmp_path / "out"), "--model", "flux-schnell",
                     "--concurrency", "2", "--width", "256", "--height", "256", "--steps", "1", "-q"])
    finally:
        wall_fleet.clear_faults()
    assert code == 3
    out = capsys.readouterr().out
    assert "stopped by a ZeroGPU quota wall" in out and "run the same command again" in out
    assert joins(wall_fleet) <= 2
