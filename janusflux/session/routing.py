"""Routing: which of a model's Spaces (official first, then the user's replicas, then mirrors) an attempt goes to,
and which are cooling down.

Concurrent calls spread over the mirrors (least busy first, fallback order on ties); a lone call goes to the official
Space. A Space that failed cools down for a while (see :mod:`janusflux.policy`) and is skipped while another is free.
"""

from __future__ import annotations

import threading
import time

from ..models import ModelSpec

__all__ = ["Router"]


class Router:
    """Busy counts and cooldowns per Space key."""

    def __init__(self) -> None:
        self._busy: dict[str, int] = {}  # attempts in flight per Space key
        self._cool: dict[str, float] = {}  # monotonic time until which a Space is skipped
        self._lock = threading.Lock()

    def pick(self, spec: ModelSpec) -> str:
        """The Space for the next attempt; it counts as busy until :meth:`release`."""
        now = time.monotonic()
        with self._lock:
            free = [s for s in spec.spaces if self._cool.get(s, 0.0) <= now]
            if free:
                # The first Space in fallback order, unless it already runs more of this session's calls than a
                # mirror does: concurrent calls spread over the mirrors, a lone call goes to the official Space.
                key = min(free, key=lambda s: (self._busy.get(s, 0), spec.spaces.index(s)))
            else:
                key = min(spec.spaces, key=lambda s: self._cool.get(s, 0.0))
            self._busy[key] = self._busy.get(key, 0) + 1
            return key

    def release(self, key: str) -> None:
        with self._lock:
            self._busy[key] -= 1

    def until_free(self, spec: ModelSpec) -> float:
        """Seconds until the first of the model's Spaces stops cooling down (0 when one is free)."""
        now = time.monotonic()
        with self._lock:
            return max(0.0, min(self._cool.get(s, 0.0) for s in spec.spaces) - now)

    def others_free(self, spec: ModelSpec, key: str) -> bool:
        """Whether a Space of the model other than ``key`` is not cooling down."""
        now = time.monotonic()
        with self._lock:
            return any(self._cool.get(s, 0.0) <= now for s in spec.spaces if s != key)

    def free_among(self, keys: frozenset[str]) -> bool:
        """Whether one of ``keys`` (e.g. the model's dedicated Spaces) is not cooling down."""
        now = time.monotonic()
        with self._lock:
            return any(self._cool.get(s, 0.0) <= now for s in keys)

    def cool_down(self, key: str, seconds: float) -> None:
        with self._lock:
            self._cool[key] = time.monotonic() + seconds
