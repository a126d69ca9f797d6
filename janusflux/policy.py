"""The retry and fallback policy, declared in one place.

=============================================  ===========================================================
error                                          what janusflux does
=============================================  ===========================================================
InvalidInputError, UnknownModelError           raise at once (nothing was sent)
SpaceAppError (worker error, app error),       raise at once: the Space's own code failed, or the duration
IllegalDurationError                           asked for is above the account's maximum (never a wait)
GPUTaskAbortedError ("GPU task aborted")       retry once, on the next mirror when there is one (often
                                               transient); raise when it happens again in the same call
GenerationTimeoutError                         raise at once: the caller's deadline passed
QuotaExceededError (any scope but "space")     every ZeroGPU Space of the model cools down until the wall
while a dedicated Space of the model (a        ends (retry-after / reset time; 5 min when unknown; a backoff
replica) is free                               for "pending"); switch to the replica at once: no quota wait
QuotaExceededError scope="daily"/"runs"        raise at once, whatever the budget: the allowance is spent
(``.spent``: 0s left and a zero or no wait,    until it resets (retrying only burns requests); the session
a zero or negative wait, "runnning out of      fills ``retry_after`` / ``resets_at`` from the quota API
daily", the runs limit)                        when it knows them
QuotaExceededError scope="user"                wait the parsed retry-after if it fits in ``max_wait`` (same
                                               Space: quota is per user across all ZeroGPU Spaces), else
                                               raise; raise when the text had no wait
QuotaExceededError scope="pending"             back off (exponential) within ``max_wait``; no switching
QuotaExceededError scope="space",              the Space cools down; switch to the next mirror at once;
NoGPUAvailableError, SpaceBusyError            when every mirror is cooling, back off until the first is free
(queue full, 429, connection dropped)          (never a storm of immediate retries)
HostUnreachableError (no connection to a       the Space cools down; switch to another mirror at once when
host never reached in this session)            one is free, else raise at once (offline, a wrong endpoint)
HubResponseError (an unreadable Hub answer)    raise at once (another try reads the same answer)
SpaceUnavailableError (paused, broken,         the Space cools down for longer; switch to a mirror; raise
building or waking past the deadline)          when none is left (every other Space is cooling down)
expired ZeroGPU token                          fetch a new one and retry at once
a job gradio_client ended early ("stream       retry at once on a fresh client (once for "stream closed",
closed"), or stalled by a cancelled sibling    then as a dropped connection: switch)
=============================================  ===========================================================

Attempts are bounded by ``max_attempts`` and every wait by what remains of ``max_wait``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import (
    ExpiredProxyToken,
    GenerationTimeoutError,
    GPUTaskAbortedError,
    HostUnreachableError,
    InvalidInputError,
    JanusfluxError,
    QuotaExceededError,
    SpaceAppError,
    SpaceBusyError,
    SpaceUnavailableError,
)

MAX_ATTEMPTS = 6
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0
COOLDOWN = 30.0  # seconds a Space that failed is skipped while another can be tried
UNAVAILABLE_COOLDOWN = 300.0


@dataclass(frozen=True)
class Decision:
    """What to do after an error: ``raise`` it, ``wait`` (seconds) on the same Space, or ``switch`` Spaces."""

    action: str  # "raise" | "wait" | "switch"
    seconds: float = 0.0
    cooldown: float = 0.0  # seconds the Space just tried is skipped from now on
    reason: str = ""
    refresh_jwt: bool = False  # drop the cached ZeroGPU token before the next attempt
    zerogpu_wall: bool = False  # the cooldown applies to every ZeroGPU Space of the model (the wall is per account)


def backoff(attempt: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_INITIAL * 2.0 ** max(0, attempt - 1))


def pause(decision: Decision, attempt: int, until_free: float, wait_budget: float) -> float:
    """Seconds to sleep before the next attempt: the decision's wait; for a switch, nothing while another Space is
    free, else until the first one is (at most the backoff); never more than the wait budget left."""
    seconds = decision.seconds
    if decision.action == "switch":
        seconds = until_free
        if seconds > 0:
            seconds = min(seconds, backoff(attempt))
    return min(seconds, wait_budget)


def wall_seconds(error: QuotaExceededError, now: datetime | None = None) -> float:
    """How long a ZeroGPU quota wall lasts: the retry-after, else until the reset time, else
    ``UNAVAILABLE_COOLDOWN``."""
    if error.retry_after is not None and error.retry_after > 0:
        return error.retry_after + 1.0  # printed in whole seconds, rounded down
    if error.resets_at is not None:
        return max(1.0, (error.resets_at - (now or datetime.now(timezone.utc))).total_seconds() + 1.0)
    return UNAVAILABLE_COOLDOWN


def decide(error: BaseException, attempt: int, wait_budget: float, *, fresh_retry_used: bool = False,
           abort_retry_used: bool = False, others_free: bool = True, dedicated_free: bool = False) -> Decision:
    """The policy as a pure function of the error, the attempt number (1-based), the wait budget left, whether this
    call already had its one immediate retry after gradio_client ended a job early (``fresh_retry_used``), its one
    retry after "GPU task aborted" (``abort_retry_used``), whether another of the model's Spaces is free (not
    cooling down), and whether one of its dedicated Spaces (no ZeroGPU allowance) is free (``dedicated_free``)."""
    if isinstance(error, ExpiredProxyToken):
        return Decision("wait", reason="expired ZeroGPU token", refresh_jwt=True)
    if isinstance(error, SpaceBusyError) and (
            error.reason == "sibling cancelled" or (error.reason == "stream closed" and not fresh_retry_used)):
        return Decision("wait", reason="restart on a fresh client")
    if isinstance(error, GPUTaskAbortedError) and not abort_retry_used:
        return Decision("switch", cooldown=COOLDOWN, reason="GPU task aborted: retry once")
    if isinstance(error, (InvalidInputError, SpaceAppError, GenerationTimeoutError)):
        return Decision("raise", reason="not retryable")
    if isinstance(error, QuotaExceededError):
        if dedicated_free and error.scope != "space":  # a replica has no allowance to wait for
            seconds = backoff(attempt) if error.scope == "pending" else wall_seconds(error)
            return Decision("switch", cooldown=seconds, zerogpu_wall=True,
                            reason="ZeroGPU quota: going on at a dedicated replica")
        if error.spent:
            return Decision("raise", reason=f"ZeroGPU allowance spent ({error.scope}) until it resets")
        if error.scope == "user":
            if error.retry_after is None:
                return Decision("raise", reason="ZeroGPU quota: no retry-after")
            if error.retry_after <= wait_budget:
                return Decision("wait", seconds=error.retry_after + 0.05, reason="ZeroGPU quota: retry-after")
            return Decision("raise", reason="ZeroGPU quota: retry-after beyond max_wait")
        if error.scope == "pending":
            seconds = backoff(attempt)
            if seconds <= wait_budget:
                return Decision("wait", seconds=seconds, reason="ZeroGPU pending limit")
            return Decision("raise", reason="backoff beyond max_wait")
        return Decision("switch", cooldown=COOLDOWN, reason="Space GPU limit")
    if isinstance(error, SpaceUnavailableError):
        if not others_free:  # the Space still cools down, but waiting for it would not help this call
            return Decision("raise", cooldown=UNAVAILABLE_COOLDOWN, reason="no other Space to try")
        return Decision("switch", cooldown=UNAVAILABLE_COOLDOWN, reason=f"Space unavailable ({error.stage})")
    if isinstance(error, HostUnreachableError) and not others_free:
        return Decision("raise", cooldown=COOLDOWN, reason="host unreachable: no other Space to try")
    if isinstance(error, SpaceBusyError):
        return Decision("switch", cooldown=COOLDOWN, reason=error.reason)
    if isinstance(error, JanusfluxError):
        return Decision("raise", reason="not retryable")
    return Decision("raise", reason="unexpected error")
