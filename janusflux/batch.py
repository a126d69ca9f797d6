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

import asyncio
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import policy
from .allowance import UsageMeter
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
from .errors import GenerationTimeoutError, InvalidInputError, JanusfluxError, QuotaExceededError
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

log = logging.getLogger("janusflux.batch")

ABORT_POLL = 0.1  # seconds: how soon an abort reaches a call that hears nothing from its Space
MAX_BACKOFFS_PER_ITEM = 6  # runs/pending limits: policy.backoff 1, 2, 4, 8, 16, 30 s
SETTLE_MAX = 120.0  # seconds a quota wall waits for the calls in flight before measuring the allowance used


# -- events and summary ----------------------------------------------------------------------------------------------
@dataclass
class BatchStart:
    total: int
    to_run: int
    type: str = field(default="batch-start", init=False)


@dataclass
class ItemStart:
    type: str = field(default="item-start", init=False)


@dataclass
class ItemSkipped:
    record: dict[str, Any]
    type: str = field(default="item-skipped", init=False)


@dataclass
class ItemDone:
    record: dict[str, Any]
    type: str = field(default="item-done", init=False)


@dataclass
class ItemFailed:
    record: dict[str, Any]
    error: str
    type: str = field(default="item-failed", init=False)


@dataclass
class BatchStopping:
    """The batch was asked to stop (Ctrl-C / SIGTERM or ``stop_event``): no new items; ``abort`` when the items in
    flight are cancelled too (a second signal or ``abort_event``). Sent at once, before the items in flight end."""

    abort: bool
    in_flight: int
    type: str = field(default="batch-stopping", init=False)


@dataclass
class BatchPaused:
    """The whole batch waits for the ZeroGPU allowance (a retry-after, or its reset at ``resets_at``)."""

    seconds: float
    reason: str
    resets_at: datetime | None = None
    type: str = field(default="batch-paused", init=False)


@dataclass
class BatchWaiting:
    """Sent about once a second while the batch is paused: ``seconds_left`` of the pause (a countdown)."""

    seconds_left: float
    resets_at: datetime | None = None
    type: str = field(default="batch-waiting", init=False)


OnEvent = Callable[[BatchItem | None, Any], None]


@dataclass
class BatchSummary:
    """What a run did. ``skipped`` items were done by an earlier run; ``pending`` ones were not tried (stopped)."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    pending: int = 0
    elapsed: float = 0.0
    paused: float = 0.0
    interrupted: bool = False
    stopped_by: BaseException | None = None
    out_dir: str = ""
    manifest: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)
    resets: int = 0  # quota walls the batch waited out
    resets_at: datetime | None = None  # when the allowance comes back, when known (after a quota wall)
    stop_reason: str = ""

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.pending == 0 and not self.interrupted and self.stopped_by is None

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "done": self.done, "skipped": self.skipped, "failed": self.failed,
                "pending": self.pending, "elapsed": round(self.elapsed, 3), "paused": round(self.paused, 3),
                "interrupted": self.interrupted, "ok": self.ok,
                "stopped_by": (None if self.stopped_by is None
                               else f"{type(self.stopped_by).__name__}: {self.stopped_by}"),
                "stop_reason": self.stop_reason or None, "resets": self.resets,
                "resets_at": None if self.resets_at is None else self.resets_at.isoformat(),
                "out_dir": self.out_dir, "manifest": self.manifest, "failures": self.failures}

    def __str__(self) -> str:
        from .allowance import format_duration

        extra = " (interrupted: run again to resume)" if self.interrupted else ""
        if self.stopped_by is not None:
            why = f" ({self.stop_reason})" if self.stop_reason else ""
            extra = f" (stopped: {type(self.stopped_by).__name__}: {self.stopped_by}{why}; run again to resume)"
            if isinstance(self.stopped_by, QuotaExceededError):
                if self.resets_at is not None:
                    left = max(0.0, (self.resets_at - datetime.now(timezone.utc)).total_seconds())
                    when = f"resets at {self.resets_at:%Y-%m-%d %H:%M:%S} UTC (in {format_duration(left)})"
                else:
                    when = "reset time unknown (`janusflux quota` shows it with a token)"
                extra = (f" (stopped by a ZeroGPU quota wall: {type(self.stopped_by).__name__}: {self.stopped_by}; "
                         f"the allowance {when}; run the same command again then to resume, or add --until-done)")
        return (f"batch: {self.total} items: {self.done} done, {self.skipped} skipped, {self.failed} failed, "
                f"{self.pending} pending in {self.elapsed:.1f}s{extra}; manifest {self.manifest}")


# -- the runner -------------------------------------------------------------------------------------------------------
class _Aborted(Exception):
    pass


class _Runner:
    def __init__(self, session: Any, out_dir: Path, manifest: _Manifest, on_event: OnEvent | None,
                 stop: threading.Event, abort: threading.Event, walls: Walls, timeout: float | None,
                 call_max_wait: float) -> None:
        self.session, self.out_dir, self.manifest = session, out_dir, manifest
        self.on_event, self.stop, self.abort = on_event, stop, abort
        self.walls, self.timeout, self.call_max_wait = walls, timeout, call_max_wait
        self.max_wait = walls.max_wait
        self._lock = threading.Lock()
        self._wall_lock = threading.Lock()
        self._pause_until = 0.0
        self.resets_at: datetime | None = None
        self.stop_reason = ""
        self.meter: UsageMeter | None = None  # set when the session has a token: measures what the run charged
        self.declared = 0.0  # declared ZeroGPU seconds of the calls done in this run
        self._measured_pause = True
        self.paused = 0.0
        self.done: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []
        self.stopped_by: BaseException | None = None
        self.crash: BaseException | None = None
        self.in_flight = 0
        self.calls = 0  # calls sent and not answered yet

    def measure(self, settle: float = 0.0) -> None:
        """A quota snapshot for the usage record (see :class:`~janusflux.allowance.UsageMeter`), once no call is in
        flight (waiting up to ``settle`` seconds for that; a snapshot that cannot wait is dropped)."""
        if self.meter is None:
            return
        deadline = time.monotonic() + settle
        while True:
            with self._lock:
                calls, declared = self.calls, self.declared
            if calls == 0:
                self.meter.mark(declared)
                return
            if time.monotonic() >= deadline:
                self.meter.forget()
                return
            time.sleep(0.02)

    def emit(self, item: BatchItem | None, ev: Any) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(item, ev)
        except Exception:
            log.exception("batch on_event callback failed")

    # pacing
    def pause(self, seconds: float, reason: str, resets_at: datetime | None = None) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            if until <= self._pause_until:
                return
            self._pause_until = until
            self.resets_at = resets_at
            self._measured_pause = False
        self.emit(None, BatchPaused(seconds=seconds, reason=reason, resets_at=resets_at))

    def pause_left(self) -> float:
        with self._lock:
            return max(0.0, self._pause_until - time.monotonic())

    def halt(self, error: BaseException, reason: str = "") -> None:
        """Stop the batch because of ``error`` (the first one kept)."""
        with self._lock:
            if self.stopped_by is None:
                self.stopped_by, self.stop_reason = error, reason
        self.stop.set()

    def wall(self, e: QuotaExceededError) -> bool:
        """A quota wall (see :mod:`janusflux.pacing`): True when the whole batch pauses until the allowance comes
        back (no request goes out meanwhile), False when it stops."""
        with self._wall_lock:
            if self.stop.is_set():
                return False
            if self.pause_left() > 0:
                return True  # a call sent before the wall met it too: the pause already covers it
            w = self.walls.meet(e)
            self.resets_at = w.resets_at or self.resets_at
            if w.seconds is None:
                self.halt(e, w.reason)
                return False
            self.pause(w.seconds, w.reason, w.resets_at)
            # the window's use, once the calls sent before the wall are answered
            self.measure(settle=min(w.seconds / 2, SETTLE_MAX))
            return True

    def gate(self) -> bool:
        """Wait out a batch pause. False when the batch is stopping (or its deadline passed)."""
        while True:
            if self.stop.is_set():
                return False
            deadline = self.walls.deadline
            if deadline is not None and time.monotonic() >= deadline:
                self.halt(GenerationTimeoutError("the batch's deadline passed"), "deadline")
                return False
            with self._lock:
                left = self._pause_until - time.monotonic()
                measured = self._measured_pause
            if left <= 0:
                if not measured:  # the allowance as the pause left it, before any worker sends again
                    with self._wall_lock:
                        if not self._measured_pause:
                            self._measured_pause = True
                            self.measure()
                return True
            t0 = time.monotonic()
            self.stop.wait(min(left, 0.2))
            with self._lock:
                self.paused += time.monotonic() - t0

    # items
    def record(self, item: BatchItem, status: str, **fields: Any) -> dict[str, Any]:
        rec = {"id": item.id, "line": item.line, "status": status, "prompt": item.prompt, "model": item.model,
               "params": dict(item.params), **fields, "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if item.extra:
            rec["extra"] = dict(item.extra)
        self.manifest.append(rec)
        return rec

    def fail(self, item: BatchItem, error: str, error_type: str, started: float) -> None:
        rec = self.record(item, "failed", seed=item.params.get("seed"), space_id=None, file=None,
                          error=error, error_type=error_type, elapsed=round(time.monotonic() - started, 3))
        with self._lock:
            self.failed.append(rec)
        self.emit(item, ItemFailed(record=rec, error=error))

    def work(self, q: queue.Queue[BatchItem]) -> None:
        try:
            while not self.stop.is_set():
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    return
                with self._lock:
                    self.in_flight += 1
                try:
                    self.process(item)
                finally:
                    with self._lock:
                        self.in_flight -= 1
        except BaseException as e:  # noqa: BLE001 - e.g. the manifest cannot be written: stop everything
            self.crash = e
            self.stop.set()

    def process(self, item: BatchItem) -> None:
        started = time.monotonic()
        if item.error is not None:
            self.fail(item, item.error, "InvalidInputError", started)
            return
        pauses = 0
        while True:
            if not self.gate():
                return  # stopping: the item stays pending
            self.emit(item, ItemStart())
            try:
                with self._lock:
                    self.calls += 1
                try:
                    files, result = self.generate(item)
                finally:
                    with self._lock:
                        self.calls -= 1
            except _Aborted:
                return
            except QuotaExceededError as e:
                text = f"{type(e).__name__}: {e}"
                if e.scope == "pending":  # credits held by running tasks: the session's backoff, batch-wide
                    d = policy.decide(e, pauses + 1, self.max_wait)
                    if d.action == "wait" and pauses < MAX_BACKOFFS_PER_ITEM:
                        pauses += 1
                        self.pause(d.seconds, d.reason)
                        continue
                    self.fail(item, text, type(e).__name__, started)
                    return
                if self.wall(e):  # every other item would meet the same wall: the batch waits or stops
                    continue
                self.fail(item, text, type(e).__name__, started)
                return
            except JanusfluxError as e:
                self.fail(item, f"{type(e).__name__}: {e}", type(e).__name__, started)
                return
            except Exception as e:  # noqa: BLE001 - one item's failure must not end the batch
                self.fail(item, f"{type(e).__name__}: {e}", type(e).__name__, started)
                return
            first = result[0]
            rec = self.record(item, "done", seed=first.seed, space_id=first.space_id, file=files[0],
                              files=files if len(files) > 1 else None, width=first.width, height=first.height,
                              error=None,
                              elapsed=round(time.monotonic() - started, 3))
            with self._lock:
                self.done.append(rec)
                self.declared += _declared(item)
            self.walls.progress()
            self.emit(item, ItemDone(record=rec))
            return

    async def call(self, item: BatchItem, params: dict[str, Any]) -> Any:
        """One item's call; an abort (a second signal, ``abort_event``) cancels it within ``ABORT_POLL`` seconds,
        even while the Space sends nothing (a queue, a ZeroGPU wait)."""
        from .render import ticking
        from .results import Done

        events = ticking(self.session.astream(item.model, item.prompt, **params), ABORT_POLL)
        try:
            async for ev in events:
                if self.abort.is_set():
                    raise _Aborted()
                if isinstance(ev, Done):
                    return ev.result
                if ev is not None:
                    self.emit(item, ev)
        finally:
            await events.aclose()  # cancels the job if we leave early
        raise RuntimeError("the event stream ended without a result")

    def generate(self, item: BatchItem) -> tuple[list[str], list[Any]]:
        from .models import get_model
        from .results import ImageList, ImageResult

        spec = get_model(item.model)
        if spec.kind != "text-to-image":
            raise InvalidInputError("model", f"{item.model} is a {spec.kind} model; a batch makes images")
        params = dict(item.params, max_wait=self.call_max_wait)
        if self.timeout is not None:
            params["timeout"] = self.timeout
        result = asyncio.run(self.call(item, params))
        images = list(result) if isinstance(result, ImageList) else [result]
        if not images or not all(isinstance(im, ImageResult) for im in images):
            raise InvalidInputError("model", f"{item.model} returned no image")
        names = [item.file] if len(images) == 1 else [f"{item.id}-{i}.png" for i in range(len(images))]
        for image, name in zip(images, names, strict=True):
            image.save(self.out_dir / name)  # atomic, with PNG text metadata; the bytes go with the result
        return names, images


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
        # One queue and `concurrency` workers per Space: a slow Space does not hold the others back.
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


def _declared(item: BatchItem) -> float:
    """The item's model's declared ZeroGPU duration (0 when unknown)."""
    from .models import get_model

    try:
        return float(get_model(item.model).zerogpu_duration or 0)
    except InvalidInputError:
        return 0.0


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
