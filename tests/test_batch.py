"""The batch runner against live twins: run, resume without redoing, invalid items, quota pacing, interruptions
(stop event, SIGTERM, SIGKILL at several points) resuming to exactly one done entry per item."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from janusflux.batch import (
    BatchPaused,
    ItemDone,
    ItemFailed,
    ItemStart,
    load_items,
    read_manifest,
    run_batch,
)
from janusflux.errors import InvalidInputError, QuotaExceededError

SMALL = {"width": 256, "height": 256, "steps": 2}
PROMPTS = [f"a small red boat number {i}" for i in range(6)]


def joins(fleet) -> int:
    return sum(1 for r in fleet.requests if r.path.endswith("/queue/join"))


def done_counts(manifest: Path) -> Counter:
    return Counter(r["id"] for r in read_manifest(manifest) if r["status"] == "done")


def check_outputs(out: Path, ids: list[str]) -> None:
    """Exactly one done entry per item, its file a complete PNG with text metadata, and no temporary files."""
    counts = done_counts(out / "manifest.jsonl")
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}
    assert not list(out.glob("*.part")) and not list(out.glob(".*.part"))
    last = {r["id"]: r for r in read_manifest(out / "manifest.jsonl")}
    for item_id in ids:
        rec = last[item_id]
        assert rec["status"] == "done" and rec["file"] == f"{item_id}.png"
        with Image.open(out / rec["file"]) as im:
            im.load()
            assert im.format == "PNG" and im.size == (256, 256)
            assert im.text["prompt"] == rec["prompt"]
            assert im.text["seed"] == str(rec["seed"])
            assert im.text["space"] == rec["space_id"]
            assert im.text["model"] == rec["model"]


# -- inputs (no server) ---------------------------------------------------------------------------------------------
def test_inputs_from_txt_jsonl_csv(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("a fox\n\n# a comment\na whale\n", encoding="utf-8")
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a fox", "seed": 3, "model": "flux-schnell"}\n"a whale"\n{not json\n'
                     '{"prompt": "x", "colour": "red"}\n', encoding="utf-8")
    csv = tmp_path / "p.csv"
    csv.write_text("prompt,seed,width,height,steps,guidance,aspect_ratio,id\n"
                   "a fox,7,512,256,4,3.5,,fox\n"
                   "a whale,,,,,,16:9,\n"
                   "a frog,seven,,,,,,\n"
                   "a duplicate,1,,,,,,fox\n", encoding="utf-8")

    items = load_items(txt, width=256)
    assert [(i.line, i.prompt, dict(i.params)) for i in items] == [(1, "a fox", {"width": 256}),
                                                                    (4, "a whale", {"width": 256})]
    assert [i.id for i in items] == [i.id for i in load_items(txt, width=256)]  # deterministic
    assert items[0].id != load_items(txt, width=512)[0].id  # the parameters are part of the id
    assert items[0].file == f"{items[0].id}.png" and items[0].id.startswith("00001-")

    j = load_items(jsonl)
    assert (j[0].model, dict(j[0].params), j[0].error) == ("flux-schnell", {"seed": 3}, None)
    assert (j[1].prompt, j[1].model) == ("a whale", "flux")
    assert "not JSON" in j[2].error and "InvalidInputError" in j[2].error
    assert j[3].error is None and dict(j[3].extra) == {"colour": "red"}  # an extra column is kept, not fatal

    c = load_items(csv)
    assert c[0].id == "fox" and c[0].file == "fox.png"
    assert dict(c[0].params) == {"seed": 7, "width": 512, "height": 256, "steps": 4, "guidance": 3.5}
    assert dict(c[1].params) == {"aspect_ratio": "16:9"} and c[1].error is None
    assert "seed: expected an int" in c[2].error
    assert "duplicate id" in c[3].error and c[3].id != "fox"

    with pytest.raises(InvalidInputError, match="input"):
        load_items(tmp_path / "missing.txt")
    with pytest.raises(InvalidInputError, match=r"\.txt, \.jsonl or \.csv"):
        load_items(tmp_path / "p.yaml")
    with pytest.raises(InvalidInputError, match="colour"):
        load_items(txt, colour="red")


# -- live -------------------------------------------------------------------------------------------------------------
@pytest.mark.live
def test_run_then_resume_skips_done_items(fleet, session, tmp_path):
    out = tmp_path / "out"
    events: list = []
    summary = run_batch(PROMPTS[:4], out, session=session, concurrency=2,
                        on_event=lambda item, ev: events.append(ev), **SMALL)
    assert (summary.done, summary.skipped, summary.failed, summary.pending) == (4, 0, 0, 0) and summary.ok
    ids = [i.id for i in load_items(PROMPTS[:4], **SMALL)]
    check_outputs(out, ids)
    assert sum(isinstance(e, ItemDone) for e in events) == 4
    assert any(getattr(e, "type", "") == "preview" for e in events)  # the calls' own events come through

    fleet.clear_requests()
    again = run_batch(PROMPTS[:4], out, session=session, **SMALL)
    assert (again.done, again.skipped, again.failed) == (0, 4, 0)
    assert joins(fleet) == 0  # nothing was redone

    (out / f"{ids[2]}.png").unlink()  # a missing file is redone
    fleet.clear_requests()
    third = run_batch(PROMPTS[:4], out, session=session, **SMALL)
    assert (third.done, third.skipped) == (1, 3)
    assert joins(fleet) == 1
    counts = done_counts(out / "manifest.jsonl")
    assert counts[ids[2]] == 2 and all(counts[i] == 1 for i in ids if i != ids[2])


@pytest.mark.live
def test_invalid_items_fail_without_stopping_the_batch(session, tmp_path):
    src = tmp_path / "items.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in [
        {"prompt": "a good one", "id": "good"},
        {"prompt": "too wide", "width": 4096, "id": "wide"},
        {"prompt": "vision model", "model": "janus-pro-7b", "id": "chat"},
        {"prompt": "unknown model", "model": "flux-ultra", "id": "unknown"},
    ]) + "\n", encoding="utf-8")
    summary = run_batch(src, tmp_path / "out", session=session, width=256, height=256, steps=2)
    assert (summary.done, summary.failed) == (1, 3)
    errors = {f["id"]: f["error"] for f in summary.failures}
    assert errors["wide"].startswith("InvalidInputError: width: 4096 is outside")
    assert "vision-chat" in errors["chat"]
    assert "UnknownModelError" in errors["unknown"] and "flux-ultra" in errors["unknown"]
    last = {r["id"]: r for r in read_manifest(tmp_path / "out" / "manifest.jsonl")}
    assert last["wide"]["status"] == "failed" and last["wide"]["error_type"] == "InvalidInputError"
    # a re-run retries the failed ones (and fails them again), never the done one
    again = run_batch(src, tmp_path / "out", session=session, width=256, height=256, steps=2)
    assert (again.skipped, again.failed, again.done) == (1, 3, 0)


@pytest.mark.live
def test_stop_event_mid_run_then_resume(fleet, session, tmp_path):
    out = tmp_path / "out"
    stop = threading.Event()

    def on_event(item, ev):
        if isinstance(ev, ItemDone):
            stop.set()  # stop taking new items after the first one is done

    first = run_batch(PROMPTS, out, session=session, concurrency=1, on_event=on_event, stop_event=stop, **SMALL)
    assert first.interrupted and not first.ok
    assert first.done >= 1 and first.pending >= 1 and first.done + first.pending == len(PROMPTS)
    second = run_batch(PROMPTS, out, session=session, concurrency=2, **SMALL)
    assert (second.skipped, second.done, second.failed, second.interrupted) == (first.done, first.pending, 0, False)
    check_outputs(out, [i.id for i in load_items(PROMPTS, **SMALL)])


QUOTA_WINDOW = 30.0  # s: longer than any test here, so the allowance never comes back mid-test (even under load)
ROLLOVER_WINDOW = 8.0  # s: a window that must roll over by itself; three calls fit in it many times over, even loaded


@pytest.fixture(scope="module")
def quota_fleet():
    """FLUX.1-schnell alone, with room for two calls (60 s each) per QUOTA_WINDOW. Each test has its own token, so
    its own allowance."""
    from janusflux.twins import start_twins

    f = start_twins(spaces=["flux-schnell"], port=0, delay=0.001, quota=120, quota_window=QUOTA_WINDOW,
                    hardware_factor=1.0, anonymous="space")
    try:
        yield f
    finally:
        f.stop()


@pytest.mark.live
def test_quota_wall_pauses_the_whole_batch(quota_fleet, token, tmp_path, monkeypatch):
    """The window rolls over by itself (twice: 5 calls, 2 a window) and the batch resumes after each pause."""
    import janusflux

    monkeypatch.setattr(quota_fleet.zero.ledger, "window", ROLLOVER_WINDOW)
    events = []
    with janusflux.Session(hf_endpoint=quota_fleet.hub_url, token=token) as s:
        quota_fleet.clear_requests()
        summary = run_batch(PROMPTS[:5], tmp_path / "out", model="flux-schnell", session=s, concurrency=1,
                            on_event=lambda item, ev: events.append(ev), max_wait=2 * ROLLOVER_WINDOW, width=256,
                            height=256, steps=1)
    assert (summary.done, summary.failed) == (5, 0)
    pauses = [e for e in events if isinstance(e, BatchPaused)]
    assert pauses and all(0 < p.seconds <= ROLLOVER_WINDOW + 1 for p in pauses)
    assert summary.paused > 0.5
    # paced: one refused call per wall, not a stream of them
    assert joins(quota_fleet) <= 5 + len(pauses)


@pytest.mark.live
def test_quota_wait_beyond_max_wait_stops_the_batch(quota_fleet, token, tmp_path):
    import janusflux

    with janusflux.Session(hf_endpoint=quota_fleet.hub_url, token=token) as s:
        summary = run_batch(PROMPTS[:5], tmp_path / "out", model="flux-schnell", session=s, concurrency=1,
                            max_wait=0.1, width=256, height=256, steps=1)
    assert summary.done == 2 and summary.failed == 1 and summary.pending == 2
    assert isinstance(summary.stopped_by, QuotaExceededError) and summary.stopped_by.scope == "user"
    assert "quota" in str(summary) and not summary.ok


# -- subprocesses: SIGTERM and SIGKILL --------------------------------------------------------------------------------
def _batch_cmd(src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "janusflux.cli", "batch", str(src), "--out", str(out), "--model", "flux",
            "--width", "256", "--height", "256", "--steps", "30", "--concurrency", "2", "--quiet", *extra]


def _env(fleet, token) -> dict[str, str]:
    env = dict(os.environ, HF_ENDPOINT=fleet.hub_url, HF_TOKEN=token)
    env.pop("JANUSFLUX_LOCAL", None)
    return env


def _wait_for_done(manifest: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(done_counts(manifest).values()) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"batch exited early ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.01)
    pytest.fail(f"fewer than {n} done items after {timeout}s")


@pytest.mark.live
def test_sigkill_at_several_points_resumes_to_one_done_per_item(fleet, token, tmp_path):
    src = tmp_path / "prompts.txt"
    src.write_text("\n".join(f"a lighthouse, variation {i}" for i in range(8)) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    env = _env(fleet, token)
    for n in (2, 5):  # kill at two points of the run
        proc = subprocess.Popen(_batch_cmd(src, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            _wait_for_done(out / "manifest.jsonl", n, proc)
            time.sleep(0.05)  # land in the middle of the next items
        finally:
            proc.kill()
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
    fleet.clear_requests()
    done_before = sum(done_counts(out / "manifest.jsonl").values())
    final = subprocess.run(_batch_cmd(src, out, "--json"), env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    assert summary["skipped"] == done_before and summary["done"] == 8 - done_before and summary["ok"]
    assert joins(fleet) == 8 - done_before  # the finished ones were not redone
    ids = [i.id for i in load_items(src, **{"width": 256, "height": 256, "steps": 30})]
    check_outputs(out, ids)


@pytest.mark.live
def test_sigterm_stops_cleanly_and_resumes(fleet, token, tmp_path):
    src = tmp_path / "prompts.txt"
    src.write_text("\n".join(f"a windmill, variation {i}" for i in range(8)) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    env = _env(fleet, token)
    proc = subprocess.Popen(_batch_cmd(src, out, "--concurrency", "1"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_done(out / "manifest.jsonl", 1, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout and "pending" in stdout
    records = read_manifest(out / "manifest.jsonl")
    assert records and all(r["status"] == "done" for r in records)  # the in-flight item finished, nothing broken
    assert len(records) < 8
    final = subprocess.run(_batch_cmd(src, out, "--json"), env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["skipped"] == len(records)
    check_outputs(out, [i.id for i in load_items(src, width=256, height=256, steps=30)])


@pytest.mark.live
def test_resume_after_a_crash_mid_write(session, tmp_path):
    """What a crash can leave: a manifest line cut short and an atomic write's temporary file."""
    out = tmp_path / "out"
    prompts = PROMPTS[:2]
    assert run_batch(prompts, out, session=session, **SMALL).done == 2
    ids = [i.id for i in load_items(prompts, **SMALL)]
    (out / f"{ids[1]}.png").unlink()
    stale = out / f".{ids[1]}.png.x1y2z3.part"
    stale.write_bytes(b"\x89PNG half an image")
    with open(out / "manifest.jsonl", "a", encoding="utf-8") as f:
        f.write(f'{{"id": "{ids[1]}", "status": "do')  # no newline: the process died here
    summary = run_batch(prompts, out, session=session, **SMALL)
    assert (summary.done, summary.skipped, summary.failed) == (1, 1, 0)
    assert not stale.exists()
    lines = (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert sum(1 for ln in lines if ln.startswith('{"id"') and not ln.endswith("}")) == 1  # the cut line, alone
    assert json.loads(lines[-1])["status"] == "done"  # the next record starts on a fresh line
    counts = done_counts(out / "manifest.jsonl")
    assert counts[ids[0]] == 1 and counts[ids[1]] == 2


@pytest.mark.live
def test_cli_batch_stopped_by_quota_exits_3(quota_fleet, token, tmp_path, monkeypatch, capsys):
    from janusflux.cli import main

    monkeypatch.setenv("HF_ENDPOINT", quota_fleet.hub_url)
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.delenv("JANUSFLUX_LOCAL", raising=False)
    src = tmp_path / "p.txt"
    src.write_text("\n".join(PROMPTS[:4]) + "\n", encoding="utf-8")
    code = main(["batch", str(src), "--out", str(tmp_path / "out"), "--model", "flux-schnell", "--concurrency", "1",
                 "--batch-max-wait", "0.1", "--width", "256", "--height", "256", "--steps", "1", "--json"])
    assert code == 3
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["failed"], summary["pending"]) == (2, 1, 1)
    assert summary["stopped_by"].startswith("QuotaExceededError: You have exceeded your free ZeroGPU quota")


# -- the output folder is a dataset ---------------------------------------------------------------------------------
FLAT = ["file_name", "id", "prompt", "model", "space", "seed", "width", "height", "steps", "guidance", "aspect_ratio",
        "status", "error"]


@pytest.mark.live
def test_output_is_an_imagefolder_with_flat_metadata(session, tmp_path):
    """metadata.jsonl: one flat row per item in its final state (a retried item once), extra columns kept; pandas
    and `datasets.load_dataset("imagefolder")` (offline, in a subprocess) both read it as a clean table."""
    pandas = pytest.importorskip("pandas")
    src = tmp_path / "p.csv"
    src.write_text("prompt,seed,id,notes,model,width\na cat,1,cat,first try,,\na dog,2,dog,,,\n"
                   "a frog,3,frog,wrong alias,fluxx,\na lake,4,lake,too wide,,5000\n", encoding="utf-8")
    out = tmp_path / "out"
    first = run_batch(src, out, session=session, model="flux-schnell", width=256, height=256, steps=2)
    assert (first.done, first.failed) == (2, 2)
    (out / "dog.png").unlink()  # retried by the next run: two journal lines, one metadata row
    again = run_batch(src, out, session=session, model="flux-schnell", width=256, height=256, steps=2)
    assert (again.done, again.skipped, again.failed) == (1, 1, 2)
    assert sum(r["id"] == "dog" for r in read_manifest(out / "manifest.jsonl")) == 2

    df = pandas.read_json(out / "metadata.jsonl", lines=True)
    assert list(df.columns[: len(FLAT)]) == FLAT and "notes" in df.columns
    assert len(df) == 4 and sorted(df["id"]) == ["cat", "dog", "frog", "lake"]
    rows = {r["id"]: r for r in df.to_dict("records")}
    assert all(not isinstance(v, (dict, list)) for r in rows.values() for v in r.values())  # flat
    cat = rows["cat"]
    assert (cat["file_name"], cat["status"], cat["seed"], cat["width"], cat["height"], cat["steps"]) == \
        ("cat.png", "done", 1, 256, 256, 2)
    assert cat["space"] == "black-forest-labs/FLUX.1-schnell" and cat["model"] == "flux-schnell"
    assert cat["notes"] == "first try" and rows["dog"]["status"] == "done"
    frog = rows["frog"]
    assert frog["status"] == "failed" and "UnknownModelError" in frog["error"] and "fluxx" in frog["error"]
    assert pandas.isna(frog["file_name"]) and frog["notes"] == "wrong alias"
    assert rows["lake"]["status"] == "failed" and "width: 5000 is outside" in rows["lake"]["error"]

    script = ("import datasets, json, sys\n"
              "ds = datasets.load_dataset('imagefolder', data_dir=sys.argv[1], split='train')\n"
              "rows = [{k: v for k, v in r.items() if k != 'image'} | {'size': r['image'].size if r['image'] else None}"
              " for r in ds]\n"
              "print(json.dumps({'columns': ds.column_names, 'rows': rows}))\n")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    proc = subprocess.run([sys.executable, "-c", script, str(out)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.splitlines()[-1])
    assert data["columns"][0] == "image" and set(FLAT[1:]) | {"notes"} <= set(data["columns"])
    by_id = {r["id"]: r for r in data["rows"]}
    assert len(data["rows"]) == 4 and by_id["cat"]["size"] == [256, 256] and by_id["frog"]["size"] is None
    assert by_id["cat"]["prompt"] == "a cat" and by_id["lake"]["status"] == "failed"


@pytest.mark.live
def test_multi_image_items_and_a_separate_journal(session, tmp_path):
    out, journal = tmp_path / "out", tmp_path / "journal" / "j.jsonl"
    summary = run_batch(["a fox"], out, session=session, model="janus-pro-7b-image", manifest=journal, seed=1)
    assert summary.done == 1 and summary.manifest == str(journal) and not (out / "manifest.jsonl").exists()
    (rec,) = read_manifest(journal)
    item_id = rec["id"]
    assert rec["files"] == [f"{item_id}-{i}.png" for i in range(5)] and rec["file"] == f"{item_id}-0.png"
    assert all((out / f).is_file() for f in rec["files"])
    (row,) = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert row["file_name"] == f"{item_id}-0.png" and row["files"] == rec["files"]
    assert (row["width"], row["height"], row["steps"], row["guidance"]) == (768, 768, None, 5.0)
    again = run_batch(["a fox"], out, session=session, model="janus-pro-7b-image", manifest=journal, seed=1)
    assert (again.done, again.skipped) == (0, 1)


@pytest.mark.live
def test_per_call_timeout_fails_the_item(fleet, session, tmp_path):
    fleet.set_fault("flux-schnell", slow=3.0)
    summary = run_batch(["a slow boat"], tmp_path / "out", session=session, model="flux-schnell", timeout=0.5,
                        width=256, height=256, steps=2)
    assert summary.failed == 1 and summary.failures[0]["error_type"] == "GenerationTimeoutError"


@pytest.mark.live
def test_concurrency_counts_calls_per_model_group(fleet, session, tmp_path):
    """concurrency=1 with two model groups: FLUX.1-dev (its first Space and its mirror, one group) and FLUX.1-schnell.
    At most one call in flight per group, and the two groups run side by side. A slow twin keeps each call in flight
    for a while; a barrier on each group's first start makes "side by side" a state the test waits for, not a race."""
    fleet.set_fault(None, slow=0.5)
    fleet.clear_requests()
    items = [{"prompt": f"a slow {model} boat {i}", "model": model, "id": f"{model}-{i}"}
             for model in ("flux-dev", "flux-schnell") for i in range(3)]
    group_of = {"flux-dev": "dev", "flux-schnell": "schnell"}
    lock = threading.Lock()
    in_flight: Counter = Counter()
    most: Counter = Counter()
    both_started = threading.Barrier(2, timeout=30)
    first_start: set[str] = set()

    def on_event(item, ev):
        if item is None or not isinstance(ev, (ItemStart, ItemDone, ItemFailed)):
            return
        group = group_of[item.model]
        with lock:
            if isinstance(ev, ItemStart):
                in_flight[group] += 1
                most[group] = max(most[group], in_flight[group])
                most["all"] = max(most["all"], sum(in_flight[g] for g in ("dev", "schnell")))
                first = group not in first_start
                first_start.add(group)
            else:
                in_flight[group] -= 1
                first = False
        if first:  # each group's first call waits until the other group has one in flight too
            both_started.wait()

    summary = run_batch(items, tmp_path / "out", session=session, concurrency=1, on_event=on_event, width=256,
                        height=256, steps=2)
    assert (summary.done, summary.failed) == (6, 0), summary.failures
    assert not both_started.broken  # each group had a call in flight while the other's first one was
    assert most["dev"] == 1 and most["schnell"] == 1  # one call per group: the dev mirror is not a second slot
    assert most["all"] == 2  # the groups ran at the same time: not one global slot
    joined = Counter(r.server for r in fleet.requests if r.path.endswith("/queue/join"))
    assert sum(joined[sid] for sid in ("black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev")) >= 3
    assert joined["black-forest-labs/FLUX.1-schnell"] >= 3


# -- stopping: acknowledged at once; a second signal (or abort_event) cancels the items in flight ---------------------
@pytest.fixture(scope="module")
def steppy_fleet():
    """FLUX.1-schnell at 0.25 s a step: an item stays in flight long enough to be interrupted mid-run."""
    from janusflux.twins import start_twins

    f = start_twins(["flux-schnell"], quota=1e9, delay=0.25)
    try:
        yield f
    finally:
        f.stop()


def _steppy_session(fleet, token, tmp_path):
    import janusflux

    return janusflux.Session(hf_endpoint=fleet.hub_url, token=token, cache_dir=str(tmp_path / "cache"), max_wait=30)


@pytest.mark.live
@pytest.mark.timeout(120)
def test_sigint_is_acknowledged_at_once_and_a_second_cancels(steppy_fleet, token, tmp_path):
    events: list = []
    started, first_ack, second_ack = threading.Event(), threading.Event(), threading.Event()

    def on_event(item, ev):
        events.append(ev)
        if getattr(ev, "type", "") == "progress":
            started.set()
        if getattr(ev, "type", "") == "batch-stopping":
            (second_ack if ev.abort else first_ack).set()

    def interrupt():
        assert started.wait(60)
        os.kill(os.getpid(), signal.SIGINT)
        assert first_ack.wait(30)
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=interrupt)
    t.start()
    with _steppy_session(steppy_fleet, token, tmp_path) as s:
        summary = run_batch(PROMPTS[:4], tmp_path / "out", session=s, model="flux-schnell", concurrency=1,
                            on_event=on_event, width=256, height=256, steps=30)
    t.join()
    kinds = [getattr(e, "type", "") for e in events]
    stop_at = kinds.index("batch-stopping")
    assert "item-done" not in kinds[:stop_at] and "item-failed" not in kinds[:stop_at]  # before the item ended
    assert events[stop_at].abort is False and events[stop_at].in_flight == 1
    assert second_ack.is_set() and "item-done" not in kinds  # the item in flight was cancelled, not finished
    assert summary.interrupted and summary.done == 0 and summary.pending == 4


@pytest.mark.live
@pytest.mark.timeout(120)
def test_abort_event_cancels_items_in_flight_then_resume(steppy_fleet, token, tmp_path):
    abort = threading.Event()
    out = tmp_path / "out"

    def on_event(item, ev):
        if getattr(ev, "type", "") == "progress" and ev.step == 2:
            abort.set()

    with _steppy_session(steppy_fleet, token, tmp_path) as s:
        summary = run_batch(PROMPTS[:2], out, session=s, model="flux-schnell", concurrency=1, abort_event=abort,
                            on_event=on_event, width=256, height=256, steps=20, handle_signals=False)
        assert summary.interrupted and summary.done == 0 and not read_manifest(out / "manifest.jsonl")
        assert not list(out.glob("*.png"))
        rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
        assert [r["status"] for r in rows] == ["pending", "pending"]
        again = run_batch(PROMPTS[:2], out, session=s, model="flux-schnell", width=256, height=256, steps=2)
    assert again.ok and again.done == 2
