"""How a batch meets a ZeroGPU quota wall: pause the whole batch until the allowance comes back, or stop.

A wall is any :class:`~janusflux.errors.QuotaExceededError` but ``scope="pending"`` (too many credits in running
tasks: a short backoff, the session's policy): the user's quota with a retry-after, a spent allowance (``daily`` /
``runs``: ``0s left``, the runs limit, "runnning out of daily"), and the Space's own limit for callers without
identity (``space``). Every further request would meet the same wall, so the first one decides for the whole batch:

* the wait is the error's ``retry_after``, else its ``resets_at``, else the reset time the Hub's quota API reports
  (:func:`janusflux.quota.try_quota`, when the session has a token);
* it is accepted when it fits the batch's wait budget (``max_wait``); with ``until_done`` any wait is accepted up to
  the deadline, and a wall whose end is unknown is probed again after ``probe_every`` seconds;
* otherwise, or after ``MAX_IDLE_WALLS`` walls in a row with no item done in between (a call that can never fit),
  the batch stops and its summary says when the allowance resets.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .allowance import format_duration, try_quota
from .errors import QuotaExceededError

__all__ = ["MAX_IDLE_WALLS", "PROBE_EVERY", "Wall", "Walls"]

log = logging.getLogger("janusflux.batch")

MAX_IDLE_WALLS = 3  # walls in a row without an item done: the calls cannot fit any more; stop
PROBE_EVERY = 600.0  # seconds: with until_done, how long to wait when nobody says when the allowance comes back
MIN_WAIT = 1.0  # a wall's pause is never shorter (a reset reported as past, a retry-after of 0)
SLACK = 0.5  # seconds added to a reset time: the Hub's clock and ours differ a little


@dataclass(frozen=True)
class Wall:
    """The batch's answer to a quota wall: ``seconds`` to pause (None: stop), ``resets_at`` when known."""

    seconds: float | None
    resets_at: datetime | None
    reason: str


class Walls:
    """The batch-wide state of quota walls (thread-safe): the first worker to meet a wall decides, the others
    follow the pause it set."""

    def __init__(self, session: Any, max_wait: float, *, until_done: bool = False, deadline: float | None = None,
                 probe_every: float = PROBE_EVERY) -> None:
        self.session, self.max_wait, self.until_done = session, max_wait, until_done
        self.deadline = deadline  # time.monotonic() value, or None
        self.probe_every = probe_every
        self._lock = threading.Lock()
        self.idle = 0  # walls since the last item done
        self.waits = 0  # walls waited out (resets, with until_done)
        self.resets_at: datetime | None = None  # the last reset time known

    def progress(self) -> None:
        """An item finished: the walls so far were not a dead end."""
        with self._lock:
            self.idle = 0

    def budget(self) -> float:
        if not self.until_done:
            return self.max_wait
        if self.deadline is None:
            return float("inf")
        return max(0.0, self.deadline - time.monotonic())

    def _when(self, e: QuotaExceededError) -> tuple[float | None, datetime | None]:
        now = datetime.now(timezone.utc)
        if e.retry_after is not None:  # printed in whole seconds, rounded down: the wall may last 1 s longer
            seconds = max(e.retry_after, 0.0) + 1.0
            return seconds, e.resets_at or now + timedelta(seconds=seconds)
        if e.resets_at is not None:
            return max(0.0, (e.resets_at - now).total_seconds()) + SLACK, e.resets_at
        q = try_quota(self.session) if self.session is not None else None
        if q is not None and q.resets_at is not None:
            return q.resets_in(now) + SLACK, q.resets_at  # type: ignore[operator]
        return None, None

    def meet(self, e: QuotaExceededError) -> Wall:
        """Decide what the batch does about ``e`` (see the module docstring)."""
        with self._lock:
            seconds, resets_at = self._when(e)
            self.resets_at = resets_at or self.resets_at
            if self.idle >= MAX_IDLE_WALLS:
                return Wall(None, resets_at, f"{self.idle} quota walls in a row with no item done")
            if seconds is None and self.until_done:
                seconds = self.probe_every
                reason = ("ZeroGPU allowance spent; its reset time is unknown: trying again in "
                          f"{format_duration(seconds)}")
            elif seconds is None:
                return Wall(None, None, "ZeroGPU allowance spent; its reset time is unknown")
            else:
                at = f" at {resets_at:%Y-%m-%d %H:%M:%S} UTC" if resets_at is not None else ""
                reason = f"ZeroGPU quota: waiting {format_duration(seconds)} for the allowance{at}"
            seconds = max(seconds, MIN_WAIT)
            if seconds > self.budget():
                limit = "the deadline" if self.until_done else f"the batch's wait budget ({self.max_wait:g}s)"
                return Wall(None, resets_at, f"the allowance comes back after {limit}")
            self.idle += 1
            self.waits += 1
            log.info("%s", reason)
            return Wall(seconds, resets_at, reason)
