"""When a spent ZeroGPU allowance comes back: the Hub's quota API (``huggingface_hub.HfApi.get_zero_gpu_quota``).

Asked once per raised :class:`~janusflux.errors.QuotaExceededError` whose allowance is spent (``.spent``), and only
when the session knows an HF token for its Hub endpoint: an anonymous caller has no quota to look up, and a call with
its own ZeroGPU token may be someone else's identity. Nothing else asks it; ``requested`` / ``left`` are never
compared to decide that a call would fit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from ..errors import QuotaExceededError
from .credentials import Credentials

__all__ = ["fill_reset"]

log = logging.getLogger("janusflux")


def fill_reset(error: QuotaExceededError, credentials: Credentials, *, now: datetime | None = None) -> None:
    """Set ``error.resets_at`` (and ``retry_after``, seconds from ``now``) from the quota API when the session has a
    token for its Hub endpoint; leave both None otherwise, or when the API gives no reset time or fails."""
    endpoint = credentials.hf_endpoint
    token = credentials.hub_token(endpoint)
    if not token:
        return
    from huggingface_hub import HfApi

    try:
        resets_at = HfApi(endpoint=endpoint).get_zero_gpu_quota(token=token).resets_at
    except Exception as e:  # noqa: BLE001 - the error raised is the quota refusal; the reset time is a bonus
        log.debug("ZeroGPU quota lookup failed: %s", type(e).__name__)
        return
    if resets_at is None:
        return
    if resets_at.tzinfo is None:
        resets_at = resets_at.replace(tzinfo=timezone.utc)
    error.resets_at = resets_at
    error.retry_after = max(0.0, (resets_at - (now or datetime.now(timezone.utc))).total_seconds())
