"""Resumable batch jobs: a file of prompts in, a folder of images and a JSONL manifest out.

    from janusflux.batch import run_batch
    summary = run_batch("prompts.txt", "out/", model="flux-schnell", concurrency=2, width=512, height=512)
    print(summary)                       # batch: 10 items: 10 done, 0 skipped, 0 failed, 0 pending in 12.3s

Inputs: ``.txt`` (one prompt a line; blank lines and ``#`` comments skipped), ``.jsonl`` (one object a line) or
``.csv`` (a header row), with per-item fields ``prompt``, ``model``, ``seed``, ``aspect_ratio``, ``width``,
``height``, ``steps``, ``guidance`` and ``id``; or a list of prompts / dicts. Keyword arguments of :func:`run_batch`
are the defaults of every item.

Other fields (e.g. ``notes``) are not parameters: they are kept as they came and end up as columns of the
metadata. An unknown model or an image-less model is the item's failure, with its reason, before anything runs.

The output folder is a Hugging Face ``imagefolder``: ``datasets.load_dataset("imagefolder", data_dir=out)`` and
``pandas.read_json(out / "metadata.jsonl", lines=True)`` both read it as a table. ``metadata.jsonl`` holds one
flat row per item in its final state (see :func:`metadata_rows`), rewritten at the end of every run.

Each item has a deterministic id (its ``id``, else its line number and a hash of its normalised parameters) and
writes ``<id>.png`` (PNG text metadata: prompt, seed, model, Space), atomically. The crash-safe journal
(``manifest.jsonl`` in the output folder) gets one line per finished attempt — status ``done`` or ``failed`` with the
prompt, the parameters, the seed used, the Space, the file and the error — flushed and fsynced before the next.
Running the same batch again skips the items whose last line is ``done`` and whose file exists, and retries the others.

Pacing: the first ZeroGPU quota error of any kind but "pending" is a wall for the whole batch (see
:mod:`janusflux.pacing`): no further request goes out while the allowance is spent; the batch pauses for the
retry-after or until the reset (from the error or the Hub's quota API) when that fits ``max_wait``, else it stops and
its summary says when the allowance resets (resume by running it again). With ``until_done=True`` it waits out every
reset until the work is done or ``deadline`` passes. Ctrl-C or SIGTERM stop taking new items and let the ones in flight
finish (a second signal cancels them); :class:`BatchStopping` reports it at once; the manifest stays consistent and
a later run resumes. ``concurrency`` counts calls in flight per model group, a group being a model's first Space
(its mirrors included: the session spreads a group's calls over the mirrors).
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .allowance import UsageMeter
from .batch_events import (
    BatchPaused,
    BatchStart,
    BatchStopping,
    BatchSummary,
    BatchWaiting,
    ItemDone,
    ItemFailed,
    ItemSkipped,
    ItemStart,
    OnEvent,
)
from .batch_items import PARAMS, BatchItem, load_items
from .batch_journal import (
    _append_usage,
    _Manifest,
    _remove_stale_parts,
    _write_metadata,
    metadata_rows,
    read_manifest,
    usage_path,
)
from .batch_runner import _Runner
from .errors import InvalidInputError
from .pacing import PROBE_EVERY, Walls

__all__ = [
    "PARAMS",
    "BatchItem",
    "BatchPaused",
    "BatchStart",
    "BatchStopping",
    "BatchSummary",
    "BatchWaiting",
    "ItemDone",
    "ItemFailed",
    "ItemSkipped",
    "ItemStart",
    "load_items",
    "metadata_rows",
    "read_manifest",
    "run_batch",
    "usage_path",
]


def run_batch(
    items_or_path: Any,
    out_dir: str | os.PathLike[str],
    *,
    model: str = "flux",
    session: Any = None,
    concurrency: int = 2,
    manifest: str | os.PathLike[str] | None = None,
    on_event: OnEvent | None = None,
    stop_event: threading.Event | None = None,
    abort_event: threading.Event | None = None,
    max_wait: float = 3600.0,
    timeout: float | None = None,
    call_max_wait: float = 0.5,
    handle_signals: bool = True,
    until_done: bool = False,
    deadline: float | datetime | None = None,
    probe_every: float = PROBE_EVERY,
    **defaults: Any,
) -> BatchSummary:
    """Run a batch (see the module docstring) and return its :class:`BatchSummary`.

    ``session``: the :class:`~janusflux.Session` to use (default: a new one from the environment, closed at the end).
    ``concurrency``: calls in flight per model group (a model's first Space and its mirrors). ``on_event(item, event)``
    receives the calls' progress events and the batch's own (:class:`ItemStart`, :class:`ItemDone`,
    :class:`ItemFailed`, :class:`ItemSkipped`, :class:`BatchPaused`, :class:`BatchWaiting`, :class:`BatchStart`,
    :class:`BatchStopping`), from worker threads. ``stop_event``: set it to stop taking new items (in-flight ones
    finish); ``abort_event``: set it to cancel the ones in flight too. ``max_wait``: the longest quota pause accepted.
    ``timeout``: per call. ``call_max_wait``: the wait budget each call gets inside the session (small, so that quota
    walls come back to the batch, which pauses as a whole). ``handle_signals``: in the main thread, SIGINT/SIGTERM
    set ``stop_event`` (a second one sets ``abort_event``) for the run's duration.
    ``until_done``: a quota wall pauses the batch until the allowance resets however long that is (the reset time
    from the error or the Hub's quota API; ``probe_every`` seconds when unknown), again after every reset, until
    every item is done, ``deadline`` passes (seconds from now or a datetime; the batch then stops with
    ``GenerationTimeoutError``) or it is stopped. :class:`BatchWaiting` events count a pause down.
    ``defaults``: ``seed``, ``aspect_ratio``, ``width``, ``height``, ``steps``, ``guidance`` for every item.
    """
    t0 = time.monotonic()
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise InvalidInputError("concurrency", f"expected an int >= 1, got {concurrency!r}")
    if not isinstance(max_wait, (int, float)) or max_wait < 0:
        raise InvalidInputError("max_wait", f"expected seconds >= 0, got {max_wait!r}")
    if not isinstance(probe_every, (int, float)) or probe_every <= 0:
        raise InvalidInputError("probe_every", f"expected seconds > 0, got {probe_every!r}")
    until = _deadline(deadline)
    items = load_items(items_or_path, model=model, **defaults)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    man = _Manifest(Path(manifest) if manifest is not None else out / "manifest.jsonl")
    stop = stop_event or threading.Event()
    abort = abort_event or threading.Event()
    own_session = session is None
    summary = BatchSummary(total=len(items), out_dir=str(out), manifest=str(man.path))
    runner = None
    restore: list[tuple[signal.Signals, Any]] = []
    try:
        _remove_stale_parts(out, items)
        last = man.last()
        todo: list[BatchItem] = []
        for item in items:
            rec = last.get(item.id)
            files = (rec or {}).get("files") or [(rec or {}).get("file")]
            if rec and rec.get("status") == "done" and all(f and (out / f).is_file() for f in files):
                summary.skipped += 1
                if on_event is not None:
                    on_event(item, ItemSkipped(record=rec))
            else:
                todo.append(item)
        if on_event is not None:
            on_event(None, BatchStart(total=len(items), to_run=len(todo)))
        if own_session and todo:
            from .session import Session

            session = Session()
        walls = Walls(session, float(max_wait), until_done=until_done, deadline=until, probe_every=probe_every)
        runner = _Runner(session, out, man, on_event, stop, abort, walls, timeout, call_max_wait)
        if todo and session is not None and session.token_for(session.hf_endpoint):
            runner.meter = UsageMeter(session)
            runner.measure()
        # One queue and `concurrency` workers per model group (a model's first Space and its mirrors): a slow group does
        # not hold the others back.
        groups: dict[str, queue.Queue[BatchItem]] = {}
        for item in todo:
            groups.setdefault(_group(item), queue.Queue()).put(item)
        threads = [threading.Thread(target=runner.work, args=(q,), name=f"janusflux-batch-{g}-{i}", daemon=True)
                   for g, q in groups.items() for i in range(concurrency)]
        if handle_signals and threading.current_thread() is threading.main_thread():
            def on_signal(signum: int, frame: Any) -> None:
                (abort if stop.is_set() else stop).set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    restore.append((sig, signal.signal(sig, on_signal)))
                except (ValueError, OSError):  # not allowed here
                    pass
        for t in threads:
            t.start()
        told = (False, False)
        tick = 0.0
        while any(t.is_alive() for t in threads):
            try:
                for t in threads:
                    t.join(0.1)
            except KeyboardInterrupt:  # no handler installed: the same two-step stop
                (abort if stop.is_set() else stop).set()
            left = runner.pause_left()
            if left > 0 and time.monotonic() - tick >= 1.0 and not stop.is_set():  # a countdown, once a second
                tick = time.monotonic()
                runner.emit(None, BatchWaiting(seconds_left=left, resets_at=runner.resets_at))
            state = (stop.is_set() or abort.is_set(), abort.is_set())
            if state != told and runner.stopped_by is None:  # acknowledged at once, not when the items end
                told = state
                runner.emit(None, BatchStopping(abort=state[1], in_flight=runner.in_flight))
        if runner.crash is not None:
            raise runner.crash
        runner.measure()
        usage = runner.meter.record() if runner.meter is not None else None
        if usage is not None:  # what this run charged: `plan_batch` refines its estimate from these lines
            _append_usage(man.path, usage)
    finally:
        _write_metadata(out, items, man.path)
        for sig, handler in restore:
            signal.signal(sig, handler)
        man.close()
        if own_session and session is not None:
            session.close()
    summary.done, summary.failed = len(runner.done), len(runner.failed)
    summary.failures = [{"id": r["id"], "line": r["line"], "error_type": r["error_type"], "error": r["error"]}
                        for r in runner.failed]
    summary.pending = summary.total - summary.skipped - summary.done - summary.failed
    summary.interrupted = abort.is_set() or (stop.is_set() and runner.stopped_by is None and summary.pending > 0)
    summary.stopped_by = runner.stopped_by
    summary.stop_reason = runner.stop_reason
    summary.resets, summary.resets_at = runner.walls.waits, runner.resets_at
    summary.paused = runner.paused
    summary.elapsed = time.monotonic() - t0
    return summary


def _deadline(deadline: float | datetime | None) -> float | None:
    """A deadline (seconds from now, or a datetime) as a ``time.monotonic()`` value."""
    if deadline is None:
        return None
    if isinstance(deadline, datetime):
        when = deadline if deadline.tzinfo is not None else deadline.astimezone()
        return time.monotonic() + (when - datetime.now(timezone.utc)).total_seconds()
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline <= 0:
        raise InvalidInputError("deadline", f"expected seconds > 0 or a datetime, got {deadline!r}")
    return time.monotonic() + float(deadline)


def _group(item: BatchItem) -> str:
    from .models import get_model

    try:
        return get_model(item.model).spaces[0]
    except (InvalidInputError, IndexError):
        return "invalid"
