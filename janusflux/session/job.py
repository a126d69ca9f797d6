"""One attempt on one Space: bind the model if its adapter maps by API info, submit the job with its headers,
follow its updates into events (enforcing the deadline and cancellation), map errors, parse the output."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import (
    GenerationTimeoutError,
    JanusfluxError,
    SpaceBusyError,
    StalledJobError,
)
from ..models import ModelSpec
from ..results import Event, Log, Result, Warned
from ..spaces import Context, Prepared, get_adapter
from .errormap import map_error
from .events import FollowState, flush, translate
from .hub import Cancelled
from .pool import Conn, Pool
from .zerogpu_headers import SECRET_HEADERS, scrub

__all__ = ["Job", "scrub_exception", "set_timing"]

POLL = 0.02  # seconds between looks at a job's updates

Emit = Callable[[Event], None]

log = logging.getLogger("janusflux")


@dataclass
class Job:
    """What one attempt needs besides the connection: the call's parts and the session's services."""

    spec: ModelSpec
    params: dict[str, Any]
    prepared: Prepared | None
    headers: Callable[[Conn], dict[str, str]]
    pool: Pool
    context: Callable[[Conn], Context]  # how outputs of this connection are parsed and downloaded
    emit: Emit
    cancel: threading.Event  # the caller cancelled
    closing: threading.Event  # the session is closing
    deadline: float | None
    secrets: tuple[str, ...] = ()  # the session's secrets: redacted from a Space's error texts
    first_warning: Callable[[str, str], bool] = lambda where, code: True  # (Space, code) not warned of before

    def run(self, conn: Conn) -> Result:
        spec, prepared = self.spec, self.prepared
        adapter = get_adapter(spec.family)
        if prepared is None:  # the adapter maps this Space from its API info (bound once per client)
            bound = conn.bound.get(spec.alias)
            if bound is None:
                info = conn.client.view_api(print_info=False, return_format="dict")
                bound = conn.bound[spec.alias] = adapter.bind(spec, info)
            spec = bound
            adapter = get_adapter(spec.family)
            prepared = adapter.prepare(spec, self.params)
        prepared.meta["space_id"] = conn.where
        ctx = self.context(conn)
        args = list(prepared.args)
        if prepared.upload_paths:
            from gradio_client import handle_file

            for i, path in prepared.upload_paths.items():
                args[i] = handle_file(path)
        headers = self.headers(conn)
        secrets = self.secrets + tuple(v for k, v in headers.items() if k in SECRET_HEADERS)
        submitted = time.monotonic()
        try:
            job = conn.client.submit(*args, api_name=spec.api_name, headers=headers)
        except JanusfluxError:
            raise
        except Exception as e:
            scrub_exception(e, secrets)
            raise map_error(e, space_id=conn.where, endpoint=spec.api_name) from e
        timings: dict[str, float] = {}
        self.pool.begin(conn)
        try:
            preview = getattr(adapter, "preview", None)
            state = FollowState(
                where=conn.where, steps=int(prepared.meta.get("steps") or 10**9),
                preview=None if preview is None else lambda out: preview(spec, prepared, out, ctx))
            self._follow(job, conn, spec, state, submitted, timings, secrets)
            output = job.future.result()
        except (Cancelled, GenerationTimeoutError):
            self.pool.discard(conn)  # a cancelled job can leave the client's shared event stream unusable
            raise
        except StalledJobError:
            job.cancel()
            raise
        except JanusfluxError:
            raise
        except Exception as e:
            scrub_exception(e, secrets)
            mapped = map_error(e, space_id=conn.where, endpoint=spec.api_name)
            if isinstance(mapped, SpaceBusyError):
                self.pool.discard(conn)
            raise mapped from e
        finally:
            self.pool.end(conn)
        result: Result = adapter.parse(spec, prepared, output, ctx)
        for k, v in timings.items():
            set_timing(result, k, v)
        return result

    def _follow(self, job: Any, conn: Conn, spec: ModelSpec, state: FollowState, submitted: float,
                timings: dict[str, float], secrets: tuple[str, ...]) -> None:
        """Turn the job's updates into events until it is done; enforce the deadline and cancellation, and stop
        when the connection's guard cut its event stream."""
        updates = getattr(getattr(job, "communicator", None), "updates", None)
        while True:
            done = job.future.done()
            while updates is not None and not updates.empty():
                for event in translate(updates.get_nowait(), state):
                    if isinstance(event, Log):
                        event.message = scrub(event.message, secrets)
                    if isinstance(event, Warned):
                        if not self.first_warning(conn.where, event.code):
                            continue  # once per Space per session
                        log.warning("%s: %s", conn.where, event.message)
                    if event.type == "started":
                        timings.setdefault("queued", time.monotonic() - submitted)
                    self.emit(event)
            if done:
                for event in flush(state):
                    self.emit(event)
                return
            if self.cancel.is_set() or self.closing.is_set():
                self.pool.discard(conn)  # retire first: the cancel's late messages must not reach a new job's stream
                if conn.inflight > 1:
                    conn.poisoned.set()
                job.cancel()
                raise Cancelled()
            if conn.guard is not None and conn.guard.failure is not None:
                self.pool.discard(conn)
                raise conn.guard.failure
            if conn.poisoned.is_set():
                raise StalledJobError("a job cancelled beside this one stalls the Space's event stream for its "
                                      "session", reason="sibling cancelled", space_id=conn.where,
                                      endpoint=spec.api_name)
            if self.deadline is not None and time.monotonic() > self.deadline:
                self.pool.discard(conn)
                job.cancel()
                raise GenerationTimeoutError("the call did not finish before its timeout", space_id=conn.where,
                                             endpoint=spec.api_name)
            concurrent.futures.wait([job.future], timeout=POLL)


def scrub_exception(e: BaseException, secrets: tuple[str, ...]) -> None:
    """Redact the session's secrets from a Space's error in place (its text is kept on the error janusflux raises,
    and the original stays chained): a Space that echoes request headers must not put them into exception texts."""
    e.args = tuple(scrub(a, secrets) if isinstance(a, str) else a for a in e.args)
    for name in ("message", "title"):
        value = getattr(e, name, None)
        if isinstance(value, str):
            setattr(e, name, scrub(value, secrets))


def set_timing(result: Any, key: str, value: float) -> None:
    items = result if isinstance(result, list) else [result]
    for item in items:
        t = getattr(item, "timings", None)
        if isinstance(t, dict):
            t.setdefault(key, round(value, 4))
