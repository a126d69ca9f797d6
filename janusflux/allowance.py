"""The account's ZeroGPU allowance, as the Hub reports it (huggingface_hub ``get_zero_gpu_quota``).

    import janusflux
    q = janusflux.quota()              # the default session's endpoint and token
    print(q)                           # ZeroGPU: 1810s of 2400s left, resets at 2026-11-29 09:12:03 UTC (in 11h42m)

``janusflux quota`` (``--json``) prints the same (this module is ``janusflux.allowance`` so that the function can be
``janusflux.quota``). The batch runner asks it where a quota error does not say when the
allowance comes back (a spent allowance: ``0s left``, the runs limit). The quota is per account: without a token there
is nothing to ask (ZeroGPU counts anonymous callers per IP address), and :func:`quota` raises ``InvalidInputError``
naming ``token``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidInputError, SpaceUnavailableError

__all__ = ["Quota", "UsageMeter", "format_duration", "quota", "try_quota"]

log = logging.getLogger("janusflux.allowance")


def format_duration(seconds: float) -> str:
    """``1h02m03s`` / ``4m05s`` / ``6s``."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{sec:02d}s"
    if m:
        return f"{m}m{sec:02d}s"
    return f"{sec}s"


@dataclass(frozen=True)
class Quota:
    """The ZeroGPU allowance of the account behind a token, in GPU seconds. ``resets_at`` is None when the allowance
    has not been used since its last reset (the Hub starts the clock at the first call)."""

    base: float
    remaining: float
    resets_at: datetime | None
    overquota_used: float | None
    endpoint: str

    @property
    def used(self) -> float:
        return max(0.0, self.base - self.remaining)

    def resets_in(self, now: datetime | None = None) -> float | None:
        """Seconds until the reset (0 when it is past), None when unknown."""
        if self.resets_at is None:
            return None
        now = now or datetime.now(timezone.utc)
        return max(0.0, (self.resets_at - now).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "remaining": self.remaining, "used": self.used,
                "resets_at": None if self.resets_at is None else self.resets_at.isoformat(),
                "resets_in": self.resets_in(), "overquota_used": self.overquota_used, "endpoint": self.endpoint}

    def __str__(self) -> str:
        text = f"ZeroGPU: {self.remaining:g}s of {self.base:g}s left"
        if self.resets_at is not None:
            text += f", resets at {self.resets_at:%Y-%m-%d %H:%M:%S} UTC (in {format_duration(self.resets_in() or 0)})"
        else:
            text += " (not used since its last reset)"
        if self.overquota_used:
            text += f"; {self.overquota_used:g}s over quota (paid)"
        return text


def _endpoint_and_token(session: Any, token: str | None, endpoint: str | None) -> tuple[str, str | None]:
    if session is None and (token is None or endpoint is None):
        from . import default_session

        session = default_session()
    hub = endpoint or session.hf_endpoint
    return hub.rstrip("/"), token if token is not None else session.token_for(hub)


def quota(session: Any = None, *, token: str | None = None, endpoint: str | None = None) -> Quota:
    """The ZeroGPU allowance of the session's account (default: janusflux's default session) on its Hub endpoint.

    ``InvalidInputError`` (``token``) without a token or when the Hub refuses it; ``SpaceUnavailableError`` when
    the Hub cannot be reached. The token goes to the session's Hub endpoint only, through huggingface_hub."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    hub, tok = _endpoint_and_token(session, token, endpoint)
    if not tok:
        raise InvalidInputError("token", "the ZeroGPU quota is per account: give a Hugging Face token (HF_TOKEN, "
                                         "`hf auth login` or Session(token=...)); anonymous calls count per IP address")
    import httpx

    try:
        q = HfApi(endpoint=hub).get_zero_gpu_quota(token=tok)
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            raise InvalidInputError("token", f"the Hub ({hub}) refused the token ({status})") from None
        raise SpaceUnavailableError(f"the Hub ({hub}) answered {status} for the ZeroGPU quota",
                                    stage="HUB_ERROR") from None
    except (httpx.HTTPError, OSError) as e:
        raise SpaceUnavailableError(f"the Hub ({hub}) is unreachable: {type(e).__name__}",
                                    stage="UNREACHABLE") from None
    resets = q.resets_at
    if resets is not None and resets.tzinfo is None:
        resets = resets.replace(tzinfo=timezone.utc)
    return Quota(base=float(q.base), remaining=float(q.remaining), resets_at=resets,
                 overquota_used=None if q.overquota_used is None else float(q.overquota_used), endpoint=hub)


def try_quota(session: Any) -> Quota | None:
    """:func:`quota`, or None when it cannot be known (no token, Hub refusal or unreachable): for callers that only
    use it to refine a wait or an estimate."""
    try:
        return quota(session)
    except (InvalidInputError, SpaceUnavailableError) as e:
        log.debug("ZeroGPU quota unknown: %s", e)
        return None


class UsageMeter:
    """What a run charged to the allowance, measured from quota snapshots (:func:`try_quota`) taken at the start, at
    each quota wall, after each pause and at the end: between two snapshots of the same window, ``charged`` grows by
    the allowance used and ``declared`` by the declared ZeroGPU durations of the calls finished (a pair that spans a
    reset is skipped). ``charged / declared`` is the hardware factor the account was really charged."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.charged = 0.0
        self.declared = 0.0
        self._last: tuple[Quota, float] | None = None
        self._lock = threading.Lock()

    def mark(self, declared_so_far: float) -> Quota | None:
        """Take a snapshot; ``declared_so_far``: the declared seconds of the calls finished so far in this run."""
        q = try_quota(self.session)
        with self._lock:
            if q is None:
                return None
            if self._last is not None:
                a, declared = self._last
                if q.remaining <= a.remaining and (a.resets_at is None or a.resets_at == q.resets_at):
                    self.charged += a.remaining - q.remaining
                    self.declared += declared_so_far - declared
            self._last = (q, declared_so_far)
        return q

    def forget(self) -> None:
        """Drop the last snapshot (it was not taken at a quiet moment): the next one starts a new pair."""
        with self._lock:
            self._last = None

    def record(self) -> dict[str, float] | None:
        """The journal's usage record, or None when nothing was measured."""
        if self.declared <= 0 or self.charged <= 0:
            return None
        return {"charged": round(self.charged, 3), "declared": round(self.declared, 3)}
