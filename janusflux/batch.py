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

Pacing: when the user's ZeroGPU quota is exhausted (``QuotaExceededError(scope="user")`` with a retry-after), the
whole batch pauses for the retry-after (if it is within ``max_wait``) instead of hammering the Spaces; beyond
``max_wait`` the batch stops (resume it later). Ctrl-C or SIGTERM stop taking new items and let the ones in flight
finish (a second signal cancels them); :class:`BatchStopping` reports it at once; the manifest stays consistent and
a later run resumes. ``concurrency`` counts calls in flight per model group, a group being a model's first Space
(its mirrors included: the session spreads a group's calls over the mirrors).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import os
import queue
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import policy
from .errors import InvalidInputError, JanusfluxError, QuotaExceededError
from .params import IMAGE_SETTINGS

__all__ = [
    "BatchItem",
    "BatchPaused",
    "BatchStart",
    "BatchStopping",
    "BatchSummary",
    "ItemDone",
    "ItemFailed",
    "ItemSkipped",
    "ItemStart",
    "load_items",
    "metadata_rows",
    "read_manifest",
    "run_batch",
]

log = logging.getLogger("janusflux.batch")

PARAMS = IMAGE_SETTINGS
FIELDS = ("prompt", "model", "id", *PARAMS)
_INTS = ("seed", "width", "height", "steps")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
METADATA = "metadata.jsonl"
ABORT_POLL = 0.1  # seconds: how soon an abort reaches a call that hears nothing from its Space
MAX_PAUSES_PER_ITEM = 10
MAX_BACKOFFS_PER_ITEM = 6  # runs/pending limits: policy.backoff 1, 2, 4, 8, 16, 30 s


# -- items -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchItem:
    """One prompt of a batch. ``error`` is set when the item itself is invalid (it is then reported as failed)."""

    id: str
    line: int
    prompt: str | None
    model: str
    params: Mapping[str, Any]
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # the input's other columns, kept as they came

    @property
    def file(self) -> str:
        """The image's file name, derived from the id."""
        return f"{self.id}.png"


def _number(name: str, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InvalidInputError(name, f"expected a number, got {value!r}")
    if name in _INTS:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        raise InvalidInputError(name, f"expected an int, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidInputError(name, f"expected a number, got {value!r}")


def _normalise(raw: Mapping[str, Any], defaults: Mapping[str, Any],
               model: str) -> tuple[str | None, str, dict[str, Any]]:
    """(prompt, model, params) of a raw item over the defaults; raises InvalidInputError for a bad field. Other
    fields are not parameters: they are kept (see :attr:`BatchItem.extra`)."""
    prompt = raw.get("prompt")
    if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
        raise InvalidInputError("prompt", "is missing or empty")
    if not isinstance(prompt, str):
        raise InvalidInputError("prompt", f"expected a str, got {type(prompt).__name__}")
    item_model = raw.get("model")
    if item_model is None or (isinstance(item_model, str) and not item_model.strip()):
        item_model = model
    if not isinstance(item_model, str):
        raise InvalidInputError("model", f"expected a model alias, got {item_model!r}")
    params: dict[str, Any] = {}
    for name in PARAMS:
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            value = defaults.get(name)
        if value is None:
            continue
        if name == "aspect_ratio":
            if not isinstance(value, str):
                raise InvalidInputError(name, f"expected 'W:H', got {value!r}")
            params[name] = value.strip()
        else:
            params[name] = _number(name, value)
    item_model = item_model.strip().lower()
    _check_model(item_model)
    return prompt.strip(), item_model, params


def _check_model(alias: str) -> None:
    """An unknown alias or a model that makes no images is the item's error, found before anything runs."""
    from .models import get_model

    spec = get_model(alias)
    if spec.kind != "text-to-image":
        raise InvalidInputError("model", f"{alias} is a {spec.kind} model; a batch makes images")


def _auto_id(line: int, payload: Any) -> str:
    digest = hashlib.sha256(f"{line}\n{json.dumps(payload, sort_keys=True, default=str)}".encode()).hexdigest()
    return f"{line:05d}-{digest[:10]}"


def _rows(source: Any) -> Iterable[tuple[int, Any]]:
    """(line number, raw item or an exception) from a path or an iterable."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix not in (".txt", ".jsonl", ".csv"):
            raise InvalidInputError("input", f"expected a .txt, .jsonl or .csv file, got {str(path)!r}")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError as e:
            raise InvalidInputError("input", f"no such file: {str(path)!r}") from e
        except UnicodeDecodeError as e:
            raise InvalidInputError("input", f"not UTF-8 text: {str(path)!r}") from e
        if suffix == ".txt":
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    yield n, {"prompt": line.strip()}
        elif suffix == ".jsonl":
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    yield n, InvalidInputError("input", f"line {n} is not JSON ({e.args[0]})")
                    continue
                yield n, {"prompt": obj} if isinstance(obj, str) else obj
        else:
            reader = csv.DictReader(io.StringIO(text))
            if reader.fieldnames is None or "prompt" not in [f.strip() for f in reader.fieldnames]:
                raise InvalidInputError("input", "a .csv needs a header row with a 'prompt' column")
            for row in reader:
                n = reader.line_num
                if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    continue
                if None in row:  # more cells than headers
                    yield n, InvalidInputError("input", f"line {n} has more cells than the header")
                    continue
                yield n, {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
        return
    if isinstance(source, (bytes, Mapping)):
        raise InvalidInputError("input", "expected a path or a list of prompts / item dicts")
    for n, obj in enumerate(source, 1):
        yield n, {"prompt": obj} if isinstance(obj, str) else obj


def load_items(source: Any, *, model: str = "flux", **defaults: Any) -> list[BatchItem]:
    """Read and normalise a batch's items. A bad file raises :class:`InvalidInputError`; a bad item is returned with
    its ``error`` set (the batch reports it as failed and goes on)."""
    bad = sorted(k for k in defaults if k not in PARAMS)
    if bad:
        raise InvalidInputError(bad[0], f"unknown batch default; give {', '.join(PARAMS)}")
    items: list[BatchItem] = []
    seen: set[str] = set()
    for line, raw in _rows(source):
        error: str | None = None
        prompt, item_model = None, model
        params: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        explicit = None
        try:
            if isinstance(raw, Exception):
                raise raw
            if not isinstance(raw, Mapping):
                raise InvalidInputError("input",
                                        f"line {line}: expected an object or a prompt, got {type(raw).__name__}")
            explicit = raw.get("id")
            if explicit is not None and str(explicit).strip() != "":
                explicit = str(explicit).strip()
                if not _ID.match(explicit):
                    explicit = None
                    raise InvalidInputError("id", "use letters, digits, '.', '_' or '-' (at most 100)")
            else:
                explicit = None
            extra = {str(k): v for k, v in raw.items() if k not in FIELDS}
            prompt, item_model, params = _normalise(raw, defaults, model)
        except InvalidInputError as e:
            error = f"{type(e).__name__}: {e}"
        payload = {"prompt": prompt, "model": item_model, "params": params} if error is None else \
            {"raw": raw if not isinstance(raw, Exception) else str(raw)}
        item_id = explicit or _auto_id(line, payload)
        if item_id in seen:
            error = error or f"InvalidInputError: id: duplicate id {item_id!r}"
            item_id = _auto_id(line, {"duplicate": item_id})
        seen.add(item_id)
        items.append(BatchItem(id=item_id, line=line, prompt=prompt, model=item_model, params=params, error=error,
                               extra=extra))
    return items


# -- manifest --------------------------------------------------------------------------------------------------------
def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every readable line of a manifest, in order (a line cut short by a crash is skipped)."""
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and "id" in rec and "status" in rec:
                    out.append(rec)
    except FileNotFoundError:
        pass
    return out


class _Manifest:
    """Append-only JSONL; every line flushed and fsynced before the call returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # A crash may have cut the last line short: start on a fresh line so the next record stays readable.
        if path.exists() and path.stat().st_size > 0:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                needs_newline = f.read(1) != b"\n"
            if needs_newline:
                with open(path, "ab") as f:
                    f.write(b"\n")
        self._f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open until close()

    def last(self) -> dict[str, dict[str, Any]]:
        return {rec["id"]: rec for rec in read_manifest(self.path)}

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, default=str, ensure_ascii=False) + "\n"
        with self._lock:
            self._f.write(line)
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        with self._lock:
            self._f.close()


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
    """The whole batch waits (ZeroGPU quota retry-after)."""

    seconds: float
    reason: str
    type: str = field(default="batch-paused", init=False)


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

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.pending == 0 and not self.interrupted and self.stopped_by is None

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "done": self.done, "skipped": self.skipped, "failed": self.failed,
                "pending": self.pending, "elapsed": round(self.elapsed, 3), "paused": round(self.paused, 3),
                "interrupted": self.interrupted, "ok": self.ok,
                "stopped_by": (None if self.stopped_by is None
                               else f"{type(self.stopped_by).__name__}: {self.stopped_by}"),
                "out_dir": self.out_dir, "manifest": self.manifest, "failures": self.failures}

    def __str__(self) -> str:
        extra = " (interrupted: run again to resume)" if self.interrupted else ""
        if self.stopped_by is not None:
            extra = f" (stopped: {type(self.stopped_by).__name__}: {self.stopped_by}; run again to resume)"
        return (f"batch: {self.total} items: {self.done} done, {self.skipped} skipped, {self.failed} failed, "
                f"{self.pending} pending in {self.elapsed:.1f}s{extra}; manifest {self.manifest}")


# -- the runner -------------------------------------------------------------------------------------------------------
class _Aborted(Exception):
    pass


class _Runner:
    def __init__(self, session: Any, out_dir: Path, manifest: _Manifest, on_event: OnEvent | None,
                 stop: threading.Event, abort: threading.Event, max_wait: float, timeout: float | None,
                 call_max_wait: float) -> None:
        self.session, self.out_dir, self.manifest = session, out_dir, manifest
        self.on_event, self.stop, self.abort = on_event, stop, abort
        self.max_wait, self.timeout, self.call_max_wait = max_wait, timeout, call_max_wait
        self._lock = threading.Lock()
        self._pause_until = 0.0
        self.paused = 0.0
        self.done: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []
        self.stopped_by: BaseException | None = None
        self.crash: BaseException | None = None
        self.in_flight = 0

    def emit(self, item: BatchItem | None, ev: Any) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(item, ev)
        except Exception:
            log.exception("batch on_event callback failed")

    # pacing
    def pause(self, seconds: float, reason: str) -> None:
        with self._lock:
            until = time.monotonic() + seconds
            if until <= self._pause_until:
                return
            self._pause_until = until
        self.emit(None, BatchPaused(seconds=seconds, reason=reason))

    def gate(self) -> bool:
        """Wait out a batch pause. False when the batch is stopping."""
        while True:
            if self.stop.is_set():
                return False
            with self._lock:
                left = self._pause_until - time.monotonic()
            if left <= 0:
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
                files, result = self.generate(item)
            except _Aborted:
                return
            except QuotaExceededError as e:
                text = f"{type(e).__name__}: {e}"
                # the pacing is the session's policy, with the batch's own wait budget and pause count
                d = policy.decide(e, pauses + 1, self.max_wait)
                if e.scope == "user" and e.retry_after is not None:
                    if d.action == "wait" and pauses < MAX_PAUSES_PER_ITEM:
                        pauses += 1
                        self.pause(d.seconds, "ZeroGPU quota exhausted: waiting for the retry-after")
                        continue
                    self.fail(item, text, type(e).__name__, started)
                    self.stopped_by = e  # every other item would hit the same wall: stop, resume later
                    self.stop.set()
                    return
                if d.action == "wait" and pauses < MAX_BACKOFFS_PER_ITEM:
                    pauses += 1
                    self.pause(d.seconds, d.reason)
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


def _remove_stale_parts(out_dir: Path, items: list[BatchItem]) -> None:
    """Temporary files of ``atomic_write`` left by a killed run."""
    names = {item.file for item in items} | {f"{item.id}-" for item in items}
    for p in out_dir.glob(".*.part"):
        inner = p.name[1:]
        if any(inner.startswith(n + ".") or (n.endswith("-") and inner.startswith(n)) for n in names):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


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
    **defaults: Any,
) -> BatchSummary:
    """Run a batch (see the module docstring) and return its :class:`BatchSummary`.

    ``session``: the :class:`~janusflux.Session` to use (default: a new one from the environment, closed at the end).
    ``concurrency``: calls in flight per model group (a model's first Space and its mirrors). ``on_event(item, event)``
    receives the calls' progress events and the batch's own (:class:`ItemStart`, :class:`ItemDone`,
    :class:`ItemFailed`, :class:`ItemSkipped`, :class:`BatchPaused`, :class:`BatchStart`, :class:`BatchStopping`), from
    worker threads. ``stop_event``: set it to stop taking new items (in-flight ones finish); ``abort_event``: set it
    to cancel the ones in flight too. ``max_wait``: the longest quota pause accepted. ``timeout``: per call.
    ``call_max_wait``: the wait budget each call gets inside the session (small, so that quota walls come back to the
    batch, which pauses as a whole). ``handle_signals``: in the main thread, SIGINT/SIGTERM set ``stop_event`` (a
    second one sets ``abort_event``) for the run's duration.
    ``defaults``: ``seed``, ``aspect_ratio``, ``width``, ``height``, ``steps``, ``guidance`` for every item.
    """
    t0 = time.monotonic()
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise InvalidInputError("concurrency", f"expected an int >= 1, got {concurrency!r}")
    if not isinstance(max_wait, (int, float)) or max_wait < 0:
        raise InvalidInputError("max_wait", f"expected seconds >= 0, got {max_wait!r}")
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
        runner = _Runner(session, out, man, on_event, stop, abort, float(max_wait), timeout, call_max_wait)
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
        while any(t.is_alive() for t in threads):
            try:
                for t in threads:
                    t.join(0.1)
            except KeyboardInterrupt:  # no handler installed: the same two-step stop
                (abort if stop.is_set() else stop).set()
            state = (stop.is_set() or abort.is_set(), abort.is_set())
            if state != told and runner.stopped_by is None:  # acknowledged at once, not when the items end
                told = state
                runner.emit(None, BatchStopping(abort=state[1], in_flight=runner.in_flight))
        if runner.crash is not None:
            raise runner.crash
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
    summary.paused = runner.paused
    summary.elapsed = time.monotonic() - t0
    return summary


def _steps_and_guidance(item: BatchItem) -> tuple[Any, Any]:
    from .models import get_model

    try:
        spec = get_model(item.model)
    except InvalidInputError:
        return item.params.get("steps"), item.params.get("guidance")
    return tuple(item.params.get(k, spec.defaults.get(k) if k in spec.accepts else None)
                 for k in ("steps", "guidance"))


def metadata_rows(out_dir: str | os.PathLike[str], items: list[BatchItem],
                  journal: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One flat row per item in its final state: ``file_name`` (None unless done), ``id``, ``prompt``, ``model``,
    ``space``, ``seed``, ``width``, ``height``, ``steps``, ``guidance``, ``aspect_ratio``, ``status`` (done, failed,
    pending), ``error``, ``elapsed``, ``line``, ``files`` (only when an item made several images), then the input's
    extra columns as they came (``input_<name>`` where a name is taken)."""
    out = Path(out_dir)
    last = {rec["id"]: rec for rec in read_manifest(journal)}
    rows = []
    for item in items:
        rec = last.get(item.id, {})
        status, error = rec.get("status", "pending"), rec.get("error")
        files = rec.get("files") or [rec.get("file")]
        if status == "done" and not all(f and (out / f).is_file() for f in files):
            status, error = "pending", "the image file is missing: run the batch again"
        done = status == "done"
        steps, guidance = _steps_and_guidance(item)
        row: dict[str, Any] = {
            "file_name": files[0] if done else None, "id": item.id, "prompt": item.prompt, "model": item.model,
            "space": rec.get("space_id") if done else None, "seed": rec.get("seed", item.params.get("seed")),
            "width": rec.get("width", item.params.get("width")), "height": rec.get("height", item.params.get("height")),
            "steps": steps, "guidance": guidance, "aspect_ratio": item.params.get("aspect_ratio"),
            "status": status, "error": error, "elapsed": rec.get("elapsed"), "line": item.line,
            "files": files if done else [],
        }
        for k, v in item.extra.items():
            row[k if k not in row else f"input_{k}"] = v
        rows.append(row)
    if all(len(r["files"]) <= 1 for r in rows):
        for r in rows:
            del r["files"]
    names = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k) for k in names} for r in rows]


def _write_metadata(out_dir: Path, items: list[BatchItem], journal: Path) -> None:
    """``metadata.jsonl``: the folder is a Hugging Face ``imagefolder`` (written whole, atomically, at the end)."""
    from .results import atomic_write

    rows = metadata_rows(out_dir, items, journal)
    text = "".join(json.dumps(r, default=str, ensure_ascii=False) + "\n" for r in rows)
    try:
        atomic_write(out_dir / METADATA, text.encode("utf-8"))
    except OSError as e:  # the journal is the record; a full disk must not hide the batch's own outcome
        log.warning("could not write %s: %s", out_dir / METADATA, e)


def _group(item: BatchItem) -> str:
    from .models import get_model

    try:
        return get_model(item.model).spaces[0]
    except (InvalidInputError, IndexError):
        return "invalid"
