"""ZeroGPU: the per-Space JWT that identifies the caller, and the classification of ZeroGPU errors.

The JWT comes from ``GET {HF_ENDPOINT}/api/spaces/{id}/jwt`` (unofficial, answers ``{"token": ...}``, lives about
ten minutes) and travels as ``x-zerogpu-token`` with an ``x-zerogpu-uuid``. :func:`classify` (in
:mod:`janusflux.zerogpu_texts`, re-exported here) turns gradio_client's ``AppError`` into janusflux's typed errors.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ExpiredProxyToken
from .zerogpu_texts import classify, parse_wait

__all__ = ["ExpiredProxyToken", "JwtCache", "classify", "parse_wait"]

JWT_LIFETIME = 600.0  # what janusflux asks for, seconds
JWT_MARGIN = 60.0  # refresh this long before expiry

def _jwt_exp(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying (only to know when to refresh)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        exp = json.loads(base64.urlsafe_b64decode(payload)).get("exp")
        return float(exp) if exp is not None else None
    except (IndexError, ValueError, TypeError):
        return None


class JwtCache:
    """ZeroGPU tokens per (Space, identity), fetched once and reused until shortly before they expire."""

    def __init__(self, fetch: Callable[[str], str], *, clock: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}
        self.fetches = 0

    def get(self, space_id: str) -> str:
        with self._lock:
            space_lock = self._fetching.setdefault(space_id, threading.Lock())
        with space_lock:  # concurrent first calls to one Space share a single fetch
            with self._lock:
                hit = self._tokens.get(space_id)
                if hit and hit[1] - JWT_MARGIN > self._clock():
                    return hit[0]
            token = self._fetch(space_id)
            exp = _jwt_exp(token) or (self._clock() + JWT_LIFETIME)
            with self._lock:
                self._tokens[space_id] = (token, exp)
                self.fetches += 1
            return token

    def invalidate(self, space_id: str) -> None:
        with self._lock:
            self._tokens.pop(space_id, None)


def jwt_url(endpoint: str, space_id: str, now: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """The URL and query of the JWT request."""
    expiration = (now or datetime.now(timezone.utc)) + timedelta(seconds=JWT_LIFETIME)
    return (f"{endpoint.rstrip('/')}/api/spaces/{space_id}/jwt",
            {"expiration": expiration.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "include_pro_status": "true"})
