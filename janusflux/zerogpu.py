"""ZeroGPU: the per-Space JWT that identifies the caller, and the classification of ZeroGPU errors.

The JWT comes from ``GET {HF_ENDPOINT}/api/spaces/{id}/jwt`` (unofficial, answers ``{"token": ...}``, lives about
ten minutes) and travels as ``x-zerogpu-token`` with an ``x-zerogpu-uuid``. Error texts are those of the ``spaces``
package (see SPACES.md); :func:`classify` turns gradio_client's ``AppError`` into janusflux's typed errors.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from .errors import (
    ExpiredProxyToken,
    NoGPUAvailableError,
    QuotaExceededError,
    SpaceAppError,
    SpaceError,
)

__all__ = ["JwtCache", "classify", "parse_wait", "ExpiredProxyToken"]

JWT_LIFETIME = 600.0  # what janusflux asks for, seconds
JWT_MARGIN = 60.0  # refresh this long before expiry

_QUOTA = re.compile(r"\((\d+(?:\.\d+)?)s requested vs\.\s*(-?\d+(?:\.\d+)?)s left\)")
_WAIT = re.compile(r"Try again in\s+(?:(\d+)\s+days?,\s*)?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_TAGS = re.compile(r"<[^>]+>")


def parse_wait(message: str) -> float | None:
    """Seconds in "Try again in H:MM:SS" (a Python timedelta's str, possibly with days)."""
    m = _WAIT.search(message)
    if not m:
        return None
    days, h, mi, s = m.groups()
    return int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(s)


def _plain(message: str) -> str:
    return re.sub(r"\s+", " ", _TAGS.sub("", message)).strip()


def classify(title: str | None, message: str, *, space_id: str | None, endpoint: str | None) -> SpaceError:
    """Map a Space's error (title, message) onto the exception tree."""
    title = (title or "").strip()
    text = _plain(message or "")
    where = {"space_id": space_id, "endpoint": endpoint}
    if title == "ZeroGPU quota exceeded" or title.startswith("ZeroGPU quota"):
        if "No GPU was available" in text:
            return NoGPUAvailableError(text, reason="queue timeout", **where)
        if "Space app has reached its GPU limit" in text:
            return QuotaExceededError(text, scope="space", **where)
        if "runs limit" in text:
            return QuotaExceededError(text, scope="runs", retry_after=None, **where)
        m = _QUOTA.search(text)
        return QuotaExceededError(
            text, scope="user",
            requested=float(m.group(1)) if m else None, left=float(m.group(2)) if m else None,
            retry_after=parse_wait(text), **where)
    if title == "ZeroGPU pending credits exceeded":
        return QuotaExceededError(text, scope="pending", **where)
    if title == "ZeroGPU queue timeout":
        return NoGPUAvailableError(text, reason="queue timeout", **where)
    if title == "ZeroGPU client error":
        if "Expired ZeroGPU proxy token" in text:
            return ExpiredProxyToken(text, reason="expired token", **where)
        if "No GPU was available" in text:
            return NoGPUAvailableError(text, reason="no gpu", **where)
    return SpaceAppError(text, title=title or None, **where)


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
