"""The call loop: attempts over a model's Spaces until one answers, every decision taken by :func:`policy.decide`.

One tenacity loop per call. Its state is one :class:`CallState`; after each failed attempt the policy says raise, wait
(same Space) or switch (the Space cools down, the next attempt picks another); :func:`policy.pause` says how long.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import tenacity

from .. import policy
from ..errors import GPUTaskAbortedError, QuotaExceededError, SpaceBusyError, SpaceError
from ..models import ModelSpec
from ..results import Event, Fallback, Result, Retry, Waiting
from ..zerogpu import JwtCache
from .hub import Cancelled
from .pool import Pool
from .routing import Router

__all__ = ["CallState", "run_call"]


@dataclass
class CallState:
    """One call's progress through the policy."""

    spec: ModelSpec
    max_wait: float
    deadline: float | None
    waited: float = 0.0
    current: str | None = None  # the Space of the last attempt
    fresh_retry_used: bool = False  # the one immediate retry after gradio_client ended a job early
    abort_retry_used: bool = False  # the one retry after "GPU task aborted"
    decisions: list[policy.Decision] = field(default_factory=list)

    @property
    def last(self) -> policy.Decision | None:
        return self.decisions[-1] if self.decisions else None

    def budget(self) -> float:
        """What remains of max_wait."""
        return max(0.0, self.max_wait - self.waited)

    def decide(self, error: BaseException, attempt: int, others_free: bool,
               dedicated_free: bool = False) -> policy.Decision:
        budget = self.budget()
        if self.deadline is not None:
            budget = min(budget, self.deadline - time.monotonic())
        d = policy.decide(error, attempt, budget, fresh_retry_used=self.fresh_retry_used,
                          abort_retry_used=self.abort_retry_used, others_free=others_free,
                          dedicated_free=dedicated_free)
        if isinstance(error, SpaceBusyError) and error.reason == "stream closed":
            self.fresh_retry_used = True
        if isinstance(error, GPUTaskAbortedError):
            self.abort_retry_used = True
        self.decisions.append(d)
        return d


def run_call(spec: ModelSpec, attempt: Callable[[str], Result], *, router: Router, pool: Pool, jwt: JwtCache,
             emit: Callable[[Event], None], cancel: threading.Event, closing: threading.Event, max_wait: float,
             deadline: float | None, max_attempts: int,
             on_spent: Callable[[QuotaExceededError], None] | None = None) -> Result:
    """Run ``attempt(space_key)`` until it returns, the policy raises, or ``max_attempts`` are spent.
    ``on_spent`` completes a spent-allowance error once, just before it is raised (its reset time)."""
    state = CallState(spec, max_wait, deadline)

    def one() -> Result:
        if cancel.is_set():
            raise Cancelled()
        key = router.pick(spec)
        if state.current is not None and state.current != key:
            emit(Fallback(from_space=state.current, to_space=key, reason=state.last.reason if state.last else "",
                          space_id=key))
        state.current = key
        try:
            return attempt(key)
        except SpaceError as e:
            e.name_endpoint(spec.api_name)
            raise
        finally:
            router.release(key)

    def should_retry(rs: tenacity.RetryCallState) -> bool:
        exc = rs.outcome.exception() if rs.outcome else None
        if exc is None or cancel.is_set():
            return False
        current = state.current
        d = state.decide(exc, rs.attempt_number, current is None or router.others_free(spec, current),
                         bool(spec.dedicated) and current not in spec.dedicated and router.free_among(spec.dedicated))
        if d.zerogpu_wall:  # the allowance is per account: every ZeroGPU Space of the model meets the same wall
            for key in spec.spaces:
                if key not in spec.dedicated and key != current:
                    router.cool_down(key, d.cooldown)
        if current is not None:
            if d.refresh_jwt:
                jwt.invalidate(current)
            if d.cooldown:
                router.cool_down(current, d.cooldown)
                conn = pool.get(current)
                if conn is not None:
                    pool.discard(conn)
        if d.action == "raise" and on_spent is not None and isinstance(exc, QuotaExceededError) and exc.spent:
            on_spent(exc)
        return d.action != "raise"

    def wait_for(rs: tenacity.RetryCallState) -> float:
        assert state.last is not None  # should_retry decided
        seconds = policy.pause(state.last, rs.attempt_number, router.until_free(spec), state.budget())
        state.waited += seconds
        return seconds

    def before_sleep(rs: tenacity.RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        secs = rs.next_action.sleep if rs.next_action else 0.0
        emit(Retry(attempt=rs.attempt_number, error=str(exc), space_id=state.current))
        if secs > 0 and state.last is not None:
            emit(Waiting(seconds=secs, reason=state.last.reason, space_id=state.current))

    def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        while not cancel.wait(min(0.1, max(0.0, end - time.monotonic()))):
            if closing.is_set():
                raise Cancelled()
            if time.monotonic() >= end:
                return
        raise Cancelled()

    retrying = tenacity.Retrying(retry=should_retry, wait=wait_for, stop=tenacity.stop_after_attempt(max_attempts),
                                 before_sleep=before_sleep, sleep=sleep, reraise=True)
    try:
        return retrying(one)
    except Cancelled:
        raise concurrent.futures.CancelledError() from None
