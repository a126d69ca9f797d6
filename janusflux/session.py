"""The session manager: gradio_client clients, tokens, ZeroGPU headers, lifecycle, retries and fallback.

One :class:`Session` owns one ``gradio_client.Client`` per Space (created lazily, reused across calls and threads,
closed with the session). Sync, async and streamed calls share :meth:`Session._call`, which runs in the caller's
thread (``generate``) or in a worker thread of the session (``agenerate``, ``stream``, ``astream``).

Tokens: explicit, else ``HF_TOKEN``, else huggingface_hub's saved login (``huggingface_hub.get_token``), and sent only
to Hugging Face hosts (``huggingface.co``, ``*.hf.space``, the configured ``HF_ENDPOINT``) unless the caller names
other hosts in ``send_token_to``. Every other URL gets ``token=False`` so gradio_client sends none.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import hashlib
import logging
import os
import queue
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator, Mapping, Sequence
from urllib.parse import urlparse

import tenacity

from . import policy
from .errors import (
    GenerationTimeoutError,
    InvalidInputError,
    JanusfluxError,
    SpaceAppError,
    SpaceBusyError,
    SpaceError,
    SpaceUnavailableError,
)
from .inputs import check_timeout
from .models import ModelSpec, get_model
from .results import (
    Done,
    Event,
    Fallback,
    Log,
    Preview,
    Progress,
    Queued,
    Result,
    Retry,
    Started,
    Waiting,
    Waking,
)
from .spaces import Context, Prepared, get_adapter
from .zerogpu import JwtCache, classify, jwt_url

__all__ = ["Session"]

log = logging.getLogger("janusflux")

DEFAULT_ENDPOINT = "https://huggingface.co"
RUNNING = {"RUNNING", "RUNNING_BUILDING"}
WAKING = {"SLEEPING", "APP_STARTING", "RUNNING_APP_STARTING", "BUILDING", "STARTING"}
POLL = 0.02  # seconds between looks at a job's updates
WAKE_POLL = 0.5
CANCEL_GRACE = 2.0  # seconds a cancelled stream or task waits for its worker to cancel the job

Emit = Callable[[Event], None]


class _Secret:
    """A token that never shows itself in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"<token {redact(self._value)}>"

    __str__ = __repr__


def redact(token: str | None) -> str:
    """``hf_ab…yz`` style: enough to recognise a token, not enough to use it."""
    if not token:
        return "none"
    return f"{token[:3]}…{token[-2:]}" if len(token) > 8 else "***"


def _check_token(value: object, param: str) -> str | None:
    if value is None or value is False:
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise InvalidInputError(param, f"expected a token string (or False for none), got a {type(value).__name__}")
    return value.strip()


@dataclass
class _Conn:
    """A live connection to one Space."""

    key: str  # Space id, or the URL for URL-only Spaces
    url: str
    client: Any
    space_id: str | None
    bound: dict[str, ModelSpec] = field(default_factory=dict)
    inflight: int = 0
    retired: bool = False
    # Set when a job on this client was cancelled while others ran: Gradio then leaves the other jobs of the same
    # session hash hanging (reproduced with plain gradio_client), so they are restarted on a fresh client.
    poisoned: threading.Event = field(default_factory=threading.Event)


class _Cancelled(Exception):
    pass


class _Stalled(SpaceBusyError):
    """This job's event stream was stalled by a cancelled sibling: restart it on a fresh client."""


class Session:
    """Owns Space clients and the policy. Use as a context manager, or call :meth:`close`.

    Parameters (all optional):
        token: HF token; None = ``HF_TOKEN`` or the saved login; False = never send one.
        hf_endpoint: the Hub (default ``HF_ENDPOINT`` or https://huggingface.co); tokens may go there.
        send_token_to: extra hosts allowed to receive the token (e.g. your own dedicated endpoint).
        space_urls: ``{space_id: url}`` to serve a Space from another URL (a twin, a duplicate) without the Hub.
        zerogpu: fetch and send ZeroGPU tokens (``x-zerogpu-token``/``x-zerogpu-uuid``) when a token is known.
        zerogpu_token / zerogpu_uuid: use this ZeroGPU token and uuid instead of fetching one.
        ip_token: an ``x-ip-token`` to pass through (inside a Gradio app gradio_client forwards it by itself).
        max_wait: seconds the session may spend waiting (quota retry-after, backoff) per call.
        timeout: default per-call deadline in seconds (None = none).
        max_attempts: attempts per call across all Spaces.
        wake_timeout: seconds to wait for a sleeping or starting Space.
        max_workers: worker threads for async and streamed calls (bounds concurrency).
        cache_dir: where downloaded result images go (default: a temp folder removed on close).
    """

    def __init__(
        self,
        *,
        token: str | bool | None = None,
        hf_endpoint: str | None = None,
        send_token_to: Sequence[str] = (),
        space_urls: Mapping[str, str] | None = None,
        zerogpu: bool = True,
        zerogpu_token: str | None = None,
        zerogpu_uuid: str | None = None,
        ip_token: str | None = None,
        max_wait: float = 600.0,
        timeout: float | None = None,
        max_attempts: int = policy.MAX_ATTEMPTS,
        wake_timeout: float = 300.0,
        max_workers: int = 32,
        cache_dir: str | None = None,
    ) -> None:
        if token is True:
            raise InvalidInputError("token", "expected a token string, None or False, got True")
        explicit = _check_token(token, "token")
        if token is None:
            from huggingface_hub import get_token

            explicit = _check_token(get_token(), "token")
        self._token = _Secret(explicit) if explicit else None
        self.token_source = ("argument" if isinstance(token, str) else "disabled" if token is False else
                             "HF_TOKEN" if os.environ.get("HF_TOKEN") else
                             "huggingface_hub login" if explicit else "none")
        self.hf_endpoint = (hf_endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        if not urlparse(self.hf_endpoint).scheme.startswith("http"):
            raise InvalidInputError("hf_endpoint", f"expected an http(s) URL, got {self.hf_endpoint!r}")
        if isinstance(send_token_to, str) or not all(isinstance(h, str) for h in send_token_to):
            raise InvalidInputError("send_token_to", "expected a list of host names")
        self._token_hosts = {h.lower() for h in send_token_to}
        self._space_urls = {k: v.rstrip("/") for k, v in (space_urls or {}).items()}
        self.zerogpu = zerogpu
        self._zerogpu_token = _check_token(zerogpu_token, "zerogpu_token")
        if zerogpu_uuid is not None and not isinstance(zerogpu_uuid, str):
            raise InvalidInputError("zerogpu_uuid", f"expected a str, got {type(zerogpu_uuid).__name__}")
        self._zerogpu_uuid = zerogpu_uuid or uuid.uuid4().hex
        self._ip_token = _check_token(ip_token, "ip_token")
        self.max_wait = check_timeout("max_wait", max_wait) or 0.0
        self.timeout = check_timeout("timeout", timeout)
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
            raise InvalidInputError("max_attempts", f"expected an int >= 1, got {max_attempts!r}")
        self.max_attempts = max_attempts
        self.wake_timeout = check_timeout("wake_timeout", wake_timeout) or 0.0
        if not isinstance(max_workers, int) or max_workers < 1:
            raise InvalidInputError("max_workers", f"expected an int >= 1, got {max_workers!r}")
        self._own_cache = cache_dir is None
        self.cache_dir = cache_dir or tempfile.mkdtemp(prefix="janusflux-")
        self._tmpdir = os.path.join(self.cache_dir, "inputs")
        os.makedirs(self._tmpdir, exist_ok=True)
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # gradio_client's own telemetry switch

        self._conns: dict[str, _Conn] = {}
        self._retired: list[Any] = []
        self._busy: dict[str, int] = {}  # calls in flight per Space key
        self._conn_locks: dict[str, threading.Lock] = {}
        self._cool: dict[str, float] = {}
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers,
                                                               thread_name_prefix="janusflux")
        self._http: Any = None
        self._ssl: ssl.SSLContext | None = None
        self._jwt = JwtCache(self._fetch_jwt)
        self._closed = False
        self._closing = threading.Event()
        self._counts = {"clients": 0, "hub_calls": 0}

    # -- public API ------------------------------------------------------------------------------------------------
    def generate(self, model: str | ModelSpec = "flux", prompt: str | None = None, **params: Any) -> Result:
        """Run a model and return its result (see :func:`janusflux.generate` for the parameters)."""
        return self._call(model, prompt, params, lambda e: None, threading.Event())

    async def agenerate(self, model: str | ModelSpec = "flux", prompt: str | None = None, **params: Any) -> Result:
        """Async :meth:`generate`. Cancelling the task cancels the job on the Space."""
        cancel = threading.Event()
        spec, prepared = self._prepare(model, prompt, params)
        ctx = contextvars.copy_context()
        fut = asyncio.get_running_loop().run_in_executor(
            self._executor, ctx.run, self._run_prepared, spec, prepared, params, lambda e: None, cancel)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            cancel.set()  # the worker cancels the job on the Space and retires its client
            fut.add_done_callback(_consume)  # its CancelledError is expected: retrieve it so asyncio stays quiet
            await asyncio.wait([fut], timeout=CANCEL_GRACE)
            raise

    def stream(self, model: str | ModelSpec = "flux", prompt: str | None = None, **params: Any) -> Iterator[Event]:
        """Yield progress events, ending with :class:`~janusflux.results.Done`. Bad input raises here, before the
        iterator is returned. Closing the iterator early cancels the job."""
        spec, prepared = self._prepare(model, prompt, params)
        return self._stream(spec, prepared, params)

    def _stream(self, spec: ModelSpec, prepared: Prepared | None, params: dict[str, Any]) -> Iterator[Event]:
        q: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()
        ctx = contextvars.copy_context()

        fut = self._executor.submit(ctx.run, self._produce, spec, prepared, params, q.put, cancel)
        try:
            while True:
                item = q.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Done):
                    return
        finally:
            if not fut.done():
                cancel.set()
                concurrent.futures.wait([fut], timeout=CANCEL_GRACE)

    def _produce(self, spec: ModelSpec, prepared: Prepared | None, params: dict[str, Any], put: Emit,
                 cancel: threading.Event) -> None:
        """A stream's worker: every event, then Done with the result, or the exception, handed to ``put``."""
        try:
            put(Done(result=self._run_prepared(spec, prepared, params, put, cancel)))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(e)  # type: ignore[arg-type]

    def astream(self, model: str | ModelSpec = "flux", prompt: str | None = None,
                **params: Any) -> AsyncIterator[Event]:
        """Async :meth:`stream` (``async for event in session.astream(...)``). Bad input raises here."""
        spec, prepared = self._prepare(model, prompt, params)
        return self._astream(spec, prepared, params)

    async def _astream(self, spec: ModelSpec, prepared: Prepared | None,
                       params: dict[str, Any]) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        ctx = contextvars.copy_context()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(q.put_nowait, item)

        fut = loop.run_in_executor(self._executor, ctx.run, self._produce, spec, prepared, params, put, cancel)
        try:
            while True:
                item = await q.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Done):
                    return
        finally:
            if not fut.done():
                cancel.set()
                await asyncio.wait([fut], timeout=CANCEL_GRACE)

    def route(self, space: str, url: str) -> None:
        """Serve ``space`` (a Space id) from ``url`` from now on (a twin, a duplicate, a dedicated endpoint)."""
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError("url", f"expected an http(s) URL, got {url!r}")
        with self._lock:
            self._space_urls[space] = url.rstrip("/")
            old = self._conns.get(space)
        if old:
            self._discard(old)

    def close(self) -> None:
        """Close every client, stop the worker threads and remove the session's temp files."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._closing.set()  # running calls cancel their jobs and end
            clients = [c.client for c in self._conns.values()] + self._retired
            self._conns, self._retired = {}, []
        for client in clients:
            _close_client(client)
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._http is not None:
            self._http.close()
        if self._own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        else:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __repr__(self) -> str:
        return (f"Session(hf_endpoint={self.hf_endpoint!r}, token={self._token!r}, token_source={self.token_source!r}, "
                f"clients={len(self._conns)}, closed={self._closed})")

    @property
    def stats(self) -> dict[str, int]:
        """Clients opened, Hub look-ups made and ZeroGPU tokens fetched by this session so far."""
        with self._lock:
            return {**self._counts, "jwt_fetches": self._jwt.fetches}

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def token_for(self, url: str) -> str | None:
        """The token if ``url`` is a host that may receive it, else None."""
        return self._token.reveal() if self._token and self.is_token_host(url) else None

    def is_token_host(self, url: str) -> bool:
        """Hugging Face hosts (over https), the configured Hub endpoint (same scheme, host and port) and the hosts
        named in ``send_token_to`` (``host`` or ``host:port``)."""
        u = urlparse(url)
        host = (u.hostname or "").lower()
        if not host:
            return False
        if u.scheme == "https" and (host == "huggingface.co" or host.endswith((".huggingface.co", ".hf.space"))):
            return True
        hub = urlparse(self.hf_endpoint)
        if (u.scheme, host, u.port) == (hub.scheme, (hub.hostname or "").lower(), hub.port):
            return True
        return host in self._token_hosts or f"{host}:{u.port}" in self._token_hosts

    # -- the core --------------------------------------------------------------------------------------------------
    def _prepare(self, model: str | ModelSpec, prompt: str | None, params: dict[str, Any]) -> tuple[ModelSpec, Prepared | None]:
        if self._closed:
            raise InvalidInputError("session", "this session is closed")
        spec = get_model(model)
        for name in params:
            if name not in _ACCEPTED:
                raise InvalidInputError(name, f"unknown parameter; generate() takes {', '.join(sorted(_ACCEPTED))}")
        check_timeout("timeout", params.get("timeout"))
        if params.get("max_wait") is not None:
            check_timeout("max_wait", params.get("max_wait"))
        params["prompt"] = prompt
        if spec.family == "auto":  # bound (and its sizes checked) once the Space's API info is read
            from .inputs import prompt_from

            prompt_from(prompt, params.get("messages"))
            return spec, None
        return spec, get_adapter(spec.family).prepare(spec, _unified(params), self._context())

    def _call(self, model: str | ModelSpec, prompt: str | None, params: dict[str, Any], emit: Emit,
              cancel: threading.Event) -> Result:
        spec, prepared = self._prepare(model, prompt, params)
        return self._run_prepared(spec, prepared, params, emit, cancel)

    def _run_prepared(self, spec: ModelSpec, prepared: Prepared | None, params: dict[str, Any], emit: Emit,
                      cancel: threading.Event) -> Result:
        timeout = check_timeout("timeout", params.get("timeout")) or self.timeout
        max_wait = check_timeout("max_wait", params.get("max_wait")) if params.get("max_wait") is not None else self.max_wait
        deadline = time.monotonic() + timeout if timeout else None
        started = time.monotonic()
        waited = [0.0]
        current: list[str | None] = [None]

        def attempt() -> Result:
            if cancel.is_set():
                raise _Cancelled()
            key = self._pick(spec)
            alternatives = len(spec.spaces) > 1
            if current[0] is not None and current[0] != key:
                emit(Fallback(from_space=current[0], to_space=key, reason=decisions[-1].reason if decisions else "",
                              space_id=key))
            current[0] = key
            try:
                return self._attempt(spec, key, prepared, params, emit, cancel, deadline, alternatives)
            finally:
                self._release(key)

        decisions: list[policy.Decision] = []
        closed_once = [False]

        def should_retry(state: tenacity.RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            if exc is None or cancel.is_set():
                return False
            budget = max(0.0, (max_wait or 0.0) - waited[0])
            if deadline is not None:
                budget = min(budget, deadline - time.monotonic())
            d = policy.decide(exc, state.attempt_number, budget, fresh_retry_used=closed_once[0])
            if isinstance(exc, SpaceBusyError) and exc.reason == "stream closed":
                closed_once[0] = True
            if d.refresh_jwt and current[0]:
                self._jwt.invalidate(current[0])
            if d.action == "switch" and current[0]:
                self._cool_down(current[0], d.cooldown)
                if isinstance(exc, SpaceUnavailableError) and self._until_free(spec) > 0:
                    d = policy.Decision("raise", reason="no other Space to try")
            decisions.append(d)
            return d.action != "raise"

        def wait_for(state: tenacity.RetryCallState) -> float:
            d = decisions[-1]
            seconds = d.seconds
            if d.action == "switch":
                seconds = self._until_free(spec)
                if seconds > 0:
                    seconds = min(seconds, policy.backoff(state.attempt_number))
            budget = max(0.0, (max_wait or 0.0) - waited[0])
            seconds = min(seconds, budget)
            waited[0] += seconds
            return seconds

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            secs = state.next_action.sleep if state.next_action else 0.0
            emit(Retry(attempt=state.attempt_number, error=str(exc), space_id=current[0]))
            if secs > 0:
                emit(Waiting(seconds=secs, reason=decisions[-1].reason, space_id=current[0]))

        def sleep(seconds: float) -> None:
            end = time.monotonic() + seconds
            while not cancel.wait(min(0.1, max(0.0, end - time.monotonic()))):
                if self._closing.is_set():
                    raise _Cancelled()
                if time.monotonic() >= end:
                    return
            raise _Cancelled()

        retrying = tenacity.Retrying(
            retry=should_retry, wait=wait_for, stop=tenacity.stop_after_attempt(self.max_attempts),
            before_sleep=before_sleep, sleep=sleep, reraise=True)
        try:
            result = retrying(attempt)
        except _Cancelled:
            raise concurrent.futures.CancelledError() from None
        _set_timing(result, "total", time.monotonic() - started)
        return result

    def _attempt(self, spec: ModelSpec, key: str, prepared: Prepared | None, params: dict[str, Any], emit: Emit,
                 cancel: threading.Event, deadline: float | None, alternatives: bool = False) -> Result:
        conn = self._connect(key, emit, deadline, alternatives, cancel)
        ctx = self._context()
        if prepared is None:  # an "auto" spec: map parameters from this Space's API info
            from .spaces import auto

            bound = conn.bound.get(spec.alias)
            if bound is None:
                info = conn.client.view_api(print_info=False, return_format="dict")
                bound = conn.bound[spec.alias] = auto.bind(spec, info)
            spec, prepared = bound, auto.prepare(bound, _unified(params), ctx)
        adapter = get_adapter(spec.family)
        prepared.meta["space_id"] = conn.space_id or conn.url
        args = list(prepared.args)
        if prepared.upload_paths:
            from gradio_client import handle_file

            for i, path in prepared.upload_paths.items():
                args[i] = handle_file(path)
        headers = self._call_headers(conn)
        submitted = time.monotonic()
        try:
            job = conn.client.submit(*args, api_name=spec.api_name, headers=headers)
        except Exception as e:  # noqa: BLE001 - mapped below
            raise self._map_error(e, conn, spec) from e
        timings: dict[str, float] = {}
        with self._lock:
            conn.inflight += 1
        try:
            self._follow(job, conn, spec, prepared, adapter, ctx, emit, cancel, deadline, submitted, timings)
            output = job.future.result()
        except (_Cancelled, GenerationTimeoutError):
            self._discard(conn)  # a cancelled job can leave the client's shared event stream unusable
            raise
        except _Stalled:
            job.cancel()
            raise
        except JanusfluxError:
            raise
        except Exception as e:  # noqa: BLE001 - mapped below
            mapped = self._map_error(e, conn, spec)
            if isinstance(mapped, SpaceBusyError):
                self._discard(conn)
            raise mapped from e
        finally:
            with self._lock:
                conn.inflight -= 1
                last = conn.retired and conn.inflight == 0
                if last and conn.client in self._retired:
                    self._retired.remove(conn.client)
            if last:
                _close_client(conn.client)
        result = adapter.parse(spec, prepared, output, ctx)
        for k, v in timings.items():
            _set_timing(result, k, v)
        return result

    def _follow(self, job: Any, conn: _Conn, spec: ModelSpec, prepared: Prepared, adapter: Any, ctx: Context,
                emit: Emit, cancel: threading.Event, deadline: float | None, submitted: float,
                timings: dict[str, float]) -> None:
        """Turn the job's updates into events until it is done; enforce the deadline and cancellation."""
        updates = getattr(getattr(job, "communicator", None), "updates", None)
        where = conn.space_id or conn.url
        last_rank: Any = object()
        step = 0
        while True:
            done = job.future.done()
            while updates is not None and not updates.empty():
                u = updates.get_nowait()
                if getattr(u, "type", None) == "output":
                    if getattr(u, "final", False) or not getattr(u, "success", True):
                        continue
                    preview = getattr(adapter, "preview", None)
                    # A generator's last yield is the final image, not a preview: at most one preview per step.
                    if preview is not None and step < int(prepared.meta.get("steps") or 10**9):
                        step += 1
                        image = preview(spec, prepared, u.outputs, ctx)
                        if image is not None:
                            emit(Preview(image=image, step=step, space_id=where))
                    continue
                code = getattr(getattr(u, "code", None), "value", None)
                if code == "IN_QUEUE" and u.rank != last_rank:
                    last_rank = u.rank
                    emit(Queued(rank=u.rank, queue_size=u.queue_size, eta=u.eta, space_id=where))
                elif code == "PROCESSING":
                    timings.setdefault("queued", time.monotonic() - submitted)
                    emit(Started(space_id=where))
                elif code == "LOG" and u.log:
                    emit(Log(message=u.log[0], level=u.log[1], space_id=where))
                elif code == "PROGRESS" and u.progress_data:
                    p = u.progress_data[0]
                    # (index, length) as gr.Progress / tqdm report it: index = steps completed so far
                    emit(Progress(step=p.index, total=p.length, desc=p.desc, space_id=where))
            if done:
                return
            if cancel.is_set() or self._closing.is_set():
                self._discard(conn)  # retire first: the cancel's late messages must not reach a new job's stream
                if conn.inflight > 1:
                    conn.poisoned.set()
                job.cancel()
                raise _Cancelled()
            if conn.poisoned.is_set():
                raise _Stalled("a job cancelled beside this one stalls the Space's event stream for its session",
                               reason="sibling cancelled", space_id=where, endpoint=spec.api_name)
            if deadline is not None and time.monotonic() > deadline:
                self._discard(conn)
                job.cancel()
                raise GenerationTimeoutError("the call did not finish before its timeout", space_id=conn.space_id or conn.url,
                                             endpoint=spec.api_name)
            concurrent.futures.wait([job.future], timeout=POLL)

    # -- Spaces: picking, connecting, lifecycle ----------------------------------------------------------------------
    def _pick(self, spec: ModelSpec) -> str:
        now = time.monotonic()
        with self._lock:
            free = [s for s in spec.spaces if self._cool.get(s, 0.0) <= now]
            if free:
                # The first Space in fallback order, unless it already runs more of this session's calls than a
                # mirror does: concurrent calls spread over the mirrors, a lone call goes to the official Space.
                key = min(free, key=lambda s: (self._busy.get(s, 0), spec.spaces.index(s)))
            else:
                key = min(spec.spaces, key=lambda s: self._cool.get(s, 0.0))
            self._busy[key] = self._busy.get(key, 0) + 1  # released by _release when the attempt ends
            return key

    def _release(self, key: str) -> None:
        with self._lock:
            self._busy[key] -= 1

    def _until_free(self, spec: ModelSpec) -> float:
        now = time.monotonic()
        with self._lock:
            return max(0.0, min(self._cool.get(s, 0.0) for s in spec.spaces) - now)

    def _cool_down(self, key: str, seconds: float) -> None:
        with self._lock:
            self._cool[key] = time.monotonic() + seconds
            conn = self._conns.get(key)
        if conn is not None:
            self._discard(conn)

    def _discard(self, conn: _Conn) -> None:
        """Forget a client whose connection may be broken; the next call opens a fresh one."""
        with self._lock:
            if self._conns.get(conn.key) is conn:
                del self._conns[conn.key]
            conn.retired = True
            idle = conn.inflight == 0
            if not idle:  # other calls still use it: the last one to finish shuts it down
                self._retired.append(conn.client)
        if idle:
            _close_client(conn.client)

    def _connect(self, key: str, emit: Emit, deadline: float | None, alternatives: bool = False,
                 cancel: threading.Event | None = None) -> _Conn:
        with self._lock:
            conn = self._conns.get(key)
            if conn is not None:
                return conn
            lock = self._conn_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                conn = self._conns.get(key)
            if conn is not None:
                return conn
            conn = self._open(key, emit, deadline, alternatives, cancel)
            with self._lock:
                if self._closed:
                    _close_client(conn.client)
                    raise InvalidInputError("session", "this session is closed")
                self._conns[key] = conn
                self._counts["clients"] += 1
            return conn

    def _resolve(self, key: str, emit: Emit, deadline: float | None, alternatives: bool = False,
                 cancel: threading.Event | None = None) -> tuple[str, str | None]:
        """The URL to talk to and the Space id (None for a bare URL). Waits for a sleeping or starting Space; a
        building one is waited for only when the model has no other Space (a build takes minutes)."""
        if key.startswith(("http://", "https://")):
            return key.rstrip("/"), None
        if key in self._space_urls:
            return self._space_urls[key], key
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError

        api = HfApi(endpoint=self.hf_endpoint)
        token = self.token_for(self.hf_endpoint) or False
        wake_deadline = time.monotonic() + self.wake_timeout
        woke = False
        while True:
            try:
                with self._lock:
                    self._counts["hub_calls"] += 1
                info = api.space_info(key, token=token)
            except HfHubHTTPError as e:
                status = getattr(getattr(e, "response", None), "status_code", None)
                if status == 404:
                    raise SpaceUnavailableError("Space not found on the Hub", stage="NOT_FOUND", space_id=key) from e
                raise SpaceBusyError(f"the Hub did not answer ({status})", reason="hub", space_id=key) from e
            except Exception as e:  # noqa: BLE001 - network errors of the Hub
                raise SpaceBusyError(f"the Hub is unreachable ({type(e).__name__})", reason="hub", space_id=key) from e
            stage = str(getattr(getattr(info, "runtime", None), "stage", None) or "RUNNING")
            stage = stage.split(".")[-1].upper()
            host = getattr(info, "host", None) or f"https://{key.replace('/', '-').replace('.', '-').lower()}.hf.space"
            if stage in RUNNING:
                return host.rstrip("/"), key
            if stage not in WAKING or (alternatives and stage == "BUILDING"):
                raise SpaceUnavailableError(f"the Space is {stage}", stage=stage, space_id=key)
            if time.monotonic() > wake_deadline or (deadline is not None and time.monotonic() > deadline):
                raise SpaceUnavailableError(f"the Space is still {stage} after waiting", stage=stage, space_id=key)
            if not woke:
                emit(Waking(stage=stage, space_id=key))
                woke = True
                if stage == "SLEEPING":
                    self._poke(host)
            if (cancel is not None and cancel.wait(WAKE_POLL)) or self._closing.is_set():
                raise _Cancelled()
            if cancel is None:
                time.sleep(WAKE_POLL)

    def _poke(self, host: str) -> None:
        """A request to a sleeping Space's host is what wakes it."""
        try:
            self._client_http().get(host.rstrip("/") + "/config", headers=self._plain_headers(host), timeout=10)
        except Exception as e:  # noqa: BLE001 - only a wake-up call
            log.debug("wake-up request failed: %s", type(e).__name__)

    def _open(self, key: str, emit: Emit, deadline: float | None, alternatives: bool = False,
              cancel: threading.Event | None = None) -> _Conn:
        from gradio_client import Client
        from gradio_client.utils import TooManyRequestsError

        url, space_id = self._resolve(key, emit, deadline, alternatives, cancel)
        hf = self.is_token_host(url)
        kwargs: dict[str, Any] = {}
        if url.startswith("https://"):
            kwargs["ssl_verify"] = self._ssl_context()
        try:
            client = Client(url, token=self.token_for(url) or False, verbose=False, download_files=False,
                            analytics_enabled=False, **kwargs)
        except TooManyRequestsError as e:
            raise SpaceBusyError("HTTP 429 on the Space's config", reason="429", space_id=space_id or url) from e
        except ValueError as e:
            if "invalid state" in str(e):
                raise SpaceUnavailableError(str(e), space_id=space_id or url) from e
            raise SpaceBusyError(f"could not load the Space ({e})", reason="config", space_id=space_id or url) from e
        except Exception as e:  # noqa: BLE001 - connection errors
            raise SpaceBusyError(f"could not reach the Space ({type(e).__name__})", reason="connection",
                                 space_id=space_id or url) from e
        log.debug("connected to %s at %s (token sent: %s)", space_id or url, url, hf and self._token is not None)
        return _Conn(key=key, url=url, client=client, space_id=space_id)

    def _call_headers(self, conn: _Conn) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self._ip_token:
            headers["x-ip-token"] = self._ip_token
        if not self.zerogpu or conn.space_id is None:
            return headers
        token = self._zerogpu_token
        if token is None and self._token is not None:
            try:
                token = self._jwt.get(conn.space_id)
            except Exception as e:  # noqa: BLE001 - best effort: without it the Space counts the caller by IP
                log.warning("no ZeroGPU token for %s (%s); calling anonymously", conn.space_id, e)
        if token:
            headers["x-zerogpu-token"] = token
            headers["x-zerogpu-uuid"] = self._zerogpu_uuid
        return headers

    def _fetch_jwt(self, space_id: str) -> str:
        url, query = jwt_url(self.hf_endpoint, space_id)
        r = self._client_http().get(url, params=query, headers=self._plain_headers(url), timeout=15)
        if r.status_code != 200:
            raise SpaceBusyError(f"ZeroGPU token request answered {r.status_code}", reason="jwt", space_id=space_id)
        return str(r.json()["token"])

    # -- HTTP helpers ------------------------------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            try:
                import certifi

                self._ssl = ssl.create_default_context(cafile=certifi.where())
            except ImportError:
                self._ssl = ssl.create_default_context()
        return self._ssl

    def _client_http(self) -> Any:
        if self._http is None:
            import httpx

            with self._lock:
                if self._http is None:
                    self._http = httpx.Client(follow_redirects=True, timeout=60)
        return self._http

    def _plain_headers(self, url: str) -> dict[str, str]:
        token = self.token_for(url)
        return {"authorization": f"Bearer {token}"} if token else {}

    def _fetch(self, url: str) -> bytes:
        """Download a result file (or an input image URL). The token goes only to token hosts."""
        r = self._client_http().get(url, headers=self._plain_headers(url))
        if r.status_code != 200:
            raise SpaceBusyError(f"download answered {r.status_code}", reason="download", space_id=url)
        return r.content

    def _context(self) -> Context:
        return Context(fetch=self._fetch, tmpdir=self._tmpdir, cache_dir=self.cache_dir)

    def _map_error(self, e: BaseException, conn: _Conn, spec: ModelSpec) -> JanusfluxError:
        from gradio_client.exceptions import AppError
        from gradio_client.utils import QueueError, TooManyRequestsError

        where = {"space_id": conn.space_id or conn.url, "endpoint": spec.api_name}
        if isinstance(e, AppError):
            return classify(getattr(e, "title", None), getattr(e, "message", str(e)), **where)
        if isinstance(e, QueueError):
            return SpaceBusyError("the Space's queue is full", reason="queue full", **where)
        if isinstance(e, TooManyRequestsError):
            return SpaceBusyError("HTTP 429 from the Space", reason="429", **where)
        if isinstance(e, concurrent.futures.CancelledError):
            return SpaceBusyError("the event stream was closed before the result", reason="stream closed", **where)
        name = type(e).__name__
        if name.endswith(("Error", "Exception")) and type(e).__module__.startswith(("httpx", "httpcore")):
            return SpaceBusyError(f"connection to the Space failed ({name})", reason="connection", **where)
        if isinstance(e, (ConnectionError, OSError)) or "Server stopped" in str(e) or "Did not receive" in str(e):
            return SpaceBusyError(f"connection to the Space failed ({name})", reason="connection", **where)
        return SpaceAppError(f"{name}: {e}", **where)


_ACCEPTED = frozenset({"messages", "image", "aspect_ratio", "width", "height", "seed", "steps", "guidance",
                       "temperature", "top_p", "timeout", "max_wait", "prompt"})


def _consume(fut: "asyncio.Future[Any]") -> None:
    if not fut.cancelled():
        fut.exception()


def _unified(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in ("timeout", "max_wait")}


def _set_timing(result: Any, key: str, value: float) -> None:
    items = result if isinstance(result, list) else [result]
    for item in items:
        t = getattr(item, "timings", None)
        if isinstance(t, dict):
            t.setdefault(key, round(value, 4))


def _close_client(client: Any) -> None:
    try:
        client.close()
        for name in ("executor", "helper_executor", "stream_executor"):
            ex = getattr(client, name, None)
            if ex is not None:
                ex.shutdown(wait=False, cancel_futures=True)
    except Exception as e:  # noqa: BLE001 - closing is best effort
        log.debug("closing a client failed: %s", type(e).__name__)
