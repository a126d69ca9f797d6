"""The batch's events (passed to ``on_event``) and its :class:`BatchSummary`; re-exported by :mod:`janusflux.batch`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .batch_items import BatchItem
from .errors import QuotaExceededError


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
