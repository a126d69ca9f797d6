"""The batch's worker loop: one thread per call slot takes items from its Space group's queue, calls, saves,
journals, and pauses the whole batch at a quota wall (used by :func:`janusflux.batch.run_batch`)."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import policy
from .allowance import UsageMeter
from .batch_events import BatchPaused, ItemDone, ItemFailed, ItemStart, OnEvent
from .batch_items import BatchItem
from .batch_journal import _Manifest
from .errors import GenerationTimeoutError, InvalidInputError, JanusfluxError, QuotaExceededError
from .pacing import Walls

log = logging.getLogger("janusflux.batch")

ABORT_POLL = 0.1  # seconds: how soon an abort reaches a call that hears nothing from its Space
MAX_BACKOFFS_PER_ITEM = 6  # runs/pending limits: policy.backoff 1, 2, 4, 8, 16, 30 s
SETTLE_MAX = 120.0  # seconds a quota wall waits for the calls in flight before measuring the allowance used


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


def _declared(item: BatchItem) -> float:
    """The item's model's declared ZeroGPU duration (0 when unknown)."""
    from .models import get_model

    try:
        return float(get_model(item.model).zerogpu_duration or 0)
    except InvalidInputError:
        return 0.0
