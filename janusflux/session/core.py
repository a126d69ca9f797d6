"""The Session: configuration, the public calls, and the parts it composes (see ARCHITECTURE.md).

One :class:`Session` owns one ``gradio_client.Client`` per Space (created lazily, reused across calls and threads,
closed with the session). A call is checked into a :class:`~janusflux.session.request.Request` in the caller's
thread, then run by :func:`~janusflux.session.loop.run_call` in the caller's thread (``generate``) or in a worker
thread of the session (``agenerate``, ``stream``, ``astream``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

from typing_extensions import Self, Unpack

from .. import policy
from ..errors import InvalidInputError, SessionClosedError, SpaceBusyError
from ..inputs import check_timeout
from ..models import ModelSpec
from ..origins import origin_of
from ..params import GenerateParams
from ..replicas import Replica, replica_table, with_replicas
from ..results import Done, Event, Result
from ..spaces import Context
from ..zerogpu import JwtCache
from .credentials import Credentials, Secret, check_token
from .http import DOWNLOAD_TIMEOUT, MAX_DOWNLOAD_BYTES, Http
from .hub import Hub
from .job import Job, set_timing
from .loop import run_call
from .pool import Conn, Pool, open_conn
from .quiet import load_agent_registry
from .quota import fill_reset
from .reach import Reach
from .request import Request, build_request
from .routing import Router
from .zerogpu_headers import call_headers, fetch_jwt

__all__ = ["Session"]

CANCEL_GRACE = 2.0  # seconds a cancelled stream or task waits for its worker to cancel the job

Emit = Callable[[Event], None]


def check_url(param: str, url: object) -> str:
    """An http(s) URL a Space is served from, without its trailing slash."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidInputError(param, f"expected an http(s) URL, got {url!r}")
    return url.rstrip("/")


def check_space_urls(space_urls: object) -> dict[str, str]:
    """The ``space_urls`` option: a mapping of Space ids to http(s) URLs."""
    if space_urls is None:
        return {}
    if not isinstance(space_urls, Mapping):
        raise InvalidInputError("space_urls", f"expected a mapping of Space id to URL, got {space_urls!r}")
    out: dict[str, str] = {}
    for space, url in space_urls.items():
        if not isinstance(space, str) or not space:
            raise InvalidInputError("space_urls", f"expected Space ids as keys, got {space!r}")
        out[space] = check_url("space_urls", url)
    return out


class Session:
    """Owns Space clients and the policy. Use as a context manager, or call :meth:`close`.

    Parameters (all optional):
        token: HF token; None = ``HF_TOKEN`` or the saved login; False = never send one.
        hf_endpoint: the Hub (default ``HF_ENDPOINT`` or https://huggingface.co); tokens may go there.
        send_token_to: origins allowed to receive the token besides Hugging Face's (e.g. your own dedicated
            endpoint): ``host`` (https on 443 only), ``host:port``, ``https://host[:port]`` or ``http://host:port``
            (see :mod:`janusflux.session.credentials` for who gets the token, the ZeroGPU token and the ip token).
        space_urls: ``{space_id: url}`` to serve a Space from another URL (a twin, a duplicate) without the Hub.
        zerogpu: fetch and send ZeroGPU tokens (``x-zerogpu-token``/``x-zerogpu-uuid``) when a token is known.
        zerogpu_token / zerogpu_uuid: use this ZeroGPU token and uuid instead of fetching one (a call may pass its own).
        ip_token: an ``x-ip-token`` to pass through (inside a Gradio app gradio_client forwards it by itself).
        max_wait: seconds the session may spend waiting (quota retry-after, backoff) per call.
        timeout: default per-call deadline in seconds (None = none).
        max_attempts: attempts per call across all Spaces.
        wake_timeout: seconds to wait for a sleeping or starting Space.
        max_workers: worker threads for async and streamed calls (bounds concurrency).
        cache_dir: where downloaded result images go (default: a temp folder removed on close).
        max_download_bytes: the most bytes a result file may have (default 32 MiB, room for a 2048x2048 PNG); a
            larger one raises ``SpaceRefusedError`` before it is read whole. A result download must finish within
            the call's timeout (or 120 s when the call had none).
        replicas: your replicas on dedicated hardware serve their model after its official Space (see
            :mod:`janusflux.replicas`): True = the replica list's entries for this Hub, False = none, or
            ``{replica Space id: official Space id}`` / a list of ``Replica``.
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
        cache_dir: str | os.PathLike[str] | None = None,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        replicas: bool | Mapping[str, str] | Sequence[Replica] = True,
    ) -> None:
        self._credentials = Credentials(token, hf_endpoint, send_token_to)
        space_urls = check_space_urls(space_urls)
        if not isinstance(zerogpu, bool):
            raise InvalidInputError("zerogpu", f"expected True or False, got {zerogpu!r}")
        if cache_dir is not None and (not isinstance(cache_dir, (str, os.PathLike)) or not os.fspath(cache_dir)):
            raise InvalidInputError("cache_dir", f"expected a directory path, got {cache_dir!r}")
        self._replicas = replica_table(replicas, self._credentials.hf_endpoint)
        self.zerogpu = zerogpu
        self._zerogpu_token = check_token(zerogpu_token, "zerogpu_token")
        if zerogpu_uuid is not None and not isinstance(zerogpu_uuid, str):
            raise InvalidInputError("zerogpu_uuid", f"expected a str, got {type(zerogpu_uuid).__name__}")
        self._zerogpu_uuid = zerogpu_uuid or uuid.uuid4().hex
        self._ip_token = check_token(ip_token, "ip_token")
        self.max_wait = check_timeout("max_wait", max_wait) or 0.0
        self.timeout = check_timeout("timeout", timeout)
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
            raise InvalidInputError("max_attempts", f"expected an int >= 1, got {max_attempts!r}")
        self.max_attempts = max_attempts
        if not isinstance(max_download_bytes, int) or isinstance(max_download_bytes, bool) or max_download_bytes < 1:
            raise InvalidInputError("max_download_bytes", f"expected an int >= 1, got {max_download_bytes!r}")
        self.max_download_bytes = max_download_bytes
        wake = check_timeout("wake_timeout", wake_timeout) or 0.0
        if not isinstance(max_workers, int) or max_workers < 1:
            raise InvalidInputError("max_workers", f"expected an int >= 1, got {max_workers!r}")
        self._own_cache = cache_dir is None
        self.cache_dir = os.fspath(cache_dir) if cache_dir is not None else tempfile.mkdtemp(prefix="janusflux-")
        self._tmpdir = os.path.join(self.cache_dir, "inputs")
        os.makedirs(self._tmpdir, exist_ok=True)

        self._closed = False
        self._closing = threading.Event()
        self._http = Http(self._credentials)
        self._reach = Reach()
        self._hub = Hub(self._credentials, self._http, space_urls, wake, self._closing, self._reach)
        self._pool = Pool()
        self._router = Router()
        self._jwt = JwtCache(lambda space_id: fetch_jwt(self._http, self.hf_endpoint, space_id))
        self._warned: set[tuple[str, str]] = set()  # (Space, warning code): each is told once per session
        self._warned_lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers,
                                                               thread_name_prefix="janusflux")

    # -- public API ------------------------------------------------------------------------------------------------
    def generate(self, model: str | ModelSpec = "flux", prompt: str | None = None,
                 **params: Unpack[GenerateParams]) -> Result:
        """Run a model and return its result (see :func:`janusflux.generate` for the parameters)."""
        return self._run(self._request(model, prompt, params), lambda e: None, threading.Event())

    async def agenerate(self, model: str | ModelSpec = "flux", prompt: str | None = None,
                        **params: Unpack[GenerateParams]) -> Result:
        """Async :meth:`generate`. Cancelling the task cancels the job on the Space."""
        cancel = threading.Event()
        request = self._request(model, prompt, params)
        ctx = contextvars.copy_context()
        fut = asyncio.get_running_loop().run_in_executor(
            self._executor, ctx.run, self._run, request, lambda e: None, cancel)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            cancel.set()  # the worker cancels the job on the Space and retires its client
            fut.add_done_callback(_consume)  # its CancelledError is expected: retrieve it so asyncio stays quiet
            await asyncio.wait([fut], timeout=CANCEL_GRACE)
            raise

    def stream(self, model: str | ModelSpec = "flux", prompt: str | None = None,
               **params: Unpack[GenerateParams]) -> Iterator[Event]:
        """Yield progress events, ending with :class:`~janusflux.results.Done`. Bad input raises here, before the
        iterator is returned. Closing the iterator early cancels the job."""
        return self._stream(self._request(model, prompt, params))

    def _stream(self, request: Request) -> Iterator[Event]:
        q: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()
        ctx = contextvars.copy_context()
        fut = self._executor.submit(ctx.run, self._produce, request, q.put, cancel)
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

    def astream(self, model: str | ModelSpec = "flux", prompt: str | None = None,
                **params: Unpack[GenerateParams]) -> AsyncIterator[Event]:
        """Async :meth:`stream` (``async for event in session.astream(...)``). Bad input raises here."""
        return self._astream(self._request(model, prompt, params))

    async def _astream(self, request: Request) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        ctx = contextvars.copy_context()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(q.put_nowait, item)

        fut = loop.run_in_executor(self._executor, ctx.run, self._produce, request, put, cancel)
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

    def _produce(self, request: Request, put: Callable[[Any], None], cancel: threading.Event) -> None:
        """A stream's worker: every event, then Done with the result, or the exception, handed to ``put``."""
        try:
            put(Done(result=self._run(request, put, cancel)))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(e)

    def route(self, space: str, url: str) -> None:
        """Serve ``space`` (a Space id) from ``url`` from now on (a twin, a duplicate, a dedicated endpoint). A route
        is not the host the Hub named: it gets the ZeroGPU and ip tokens only if it is a token host."""
        self._hub.space_urls[space] = check_url("url", url)
        old = self._pool.get(space)
        if old:
            self._pool.discard(old)

    def close(self) -> None:
        """Close every client, stop the worker threads and remove the session's temp files."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()  # running calls cancel their jobs and end
        self._pool.close(grace=CANCEL_GRACE)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._http.close()
        shutil.rmtree(self.cache_dir if self._own_cache else self._tmpdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __repr__(self) -> str:
        return (f"Session(hf_endpoint={self.hf_endpoint!r}, token={self._token!r}, token_source={self.token_source!r}, "
                f"clients={len(self._conns)}, closed={self._closed})")

    @property
    def stats(self) -> dict[str, int]:
        """Clients opened, Hub look-ups made and ZeroGPU tokens fetched by this session so far."""
        return {"clients": self._pool.opened, "hub_calls": self._hub.calls, "jwt_fetches": self._jwt.fetches}

    @property
    def hf_endpoint(self) -> str:
        return self._credentials.hf_endpoint

    @property
    def token_source(self) -> str:
        return self._credentials.source

    @property
    def has_token(self) -> bool:
        return self._credentials.token is not None

    @property
    def _token(self) -> Secret | None:
        return self._credentials.token

    @property
    def _conns(self) -> dict[str, Conn]:
        return self._pool.conns

    def token_for(self, url: str) -> str | None:
        """The token if some request of this session to ``url`` may carry it (a Hub API call on the
        ``hf_endpoint`` origin, or a token host: see :mod:`janusflux.session.credentials`), else None."""
        return self._credentials.token_for(url) or self._credentials.hub_token(url)

    def is_token_host(self, url: str) -> bool:
        """Whether ``url`` is on the Hub's origin or a token host (see :meth:`token_for`)."""
        return self._credentials.is_token_host(url) or origin_of(url) == self._credentials.hub_origin

    # -- a call ----------------------------------------------------------------------------------------------------
    def _request(self, model: str | ModelSpec, prompt: str | None, params: Mapping[str, Any]) -> Request:
        if self._closed:
            raise SessionClosedError()
        request = build_request(model, prompt, params, self._context())
        spec = with_replicas(request.spec, self._replicas)
        return request if spec is request.spec else dataclasses.replace(request, spec=spec)

    def _run(self, request: Request, emit: Emit, cancel: threading.Event) -> Result:
        timeout = request.timeout or self.timeout
        deadline = time.monotonic() + timeout if timeout else None
        started = time.monotonic()
        job = Job(request.spec, request.params, request.prepared, lambda conn: self._headers(request, conn),
                  self._pool, lambda conn: self._result_context(conn, timeout), emit, cancel, self._closing, deadline,
                  secrets=self._credentials.secrets() + tuple(t for t in (self._zerogpu_token, self._ip_token) if t),
                  first_warning=self._first_warning)
        alternatives = len(request.spec.spaces) > 1

        def attempt(key: str) -> Result:
            def open_key() -> Conn:
                load_agent_registry(self.hf_endpoint)  # before the first Hub call or Client of the process
                routed = key in self._hub.space_urls
                url, space_id = self._hub.resolve(key, emit, deadline, alternatives, cancel)
                try:
                    conn = open_conn(key, url, space_id, self._credentials, self._http,
                                     hub_named=space_id is not None and not routed)
                except SpaceBusyError as e:
                    unreachable = self._reach.unreachable(e, url, "Space", space_id or url)
                    if unreachable is None:
                        raise
                    raise unreachable from e.__cause__
                self._reach.reached(url)
                return conn

            return job.run(self._pool.connect(key, open_key))

        result = run_call(request.spec, attempt, router=self._router, pool=self._pool, jwt=self._jwt, emit=emit,
                          cancel=cancel, closing=self._closing,
                          max_wait=request.max_wait if request.max_wait is not None else self.max_wait,
                          deadline=deadline, max_attempts=self.max_attempts,
                          on_spent=None if request.zerogpu_token else lambda e: fill_reset(e, self._credentials))
        set_timing(result, "total", time.monotonic() - started)
        return result

    def _first_warning(self, where: str, code: str) -> bool:
        with self._warned_lock:
            new = (where, code) not in self._warned
            self._warned.add((where, code))
            return new

    def _headers(self, request: Request, conn: Conn) -> dict[str, str]:
        if conn.key in request.spec.dedicated:  # a replica on dedicated hardware: no ZeroGPU identity to give
            return {}
        token = request.zerogpu_token.reveal() if request.zerogpu_token else self._zerogpu_token
        zerogpu = self.zerogpu or request.zerogpu_token is not None  # a call's own ZeroGPU token is always sent
        # The ZeroGPU identity goes only to the host the Hub named for the Space, or to a token host.
        scoped = conn.hub_named or self._credentials.is_token_host(conn.url)
        return call_headers(conn.space_id, ip_token=self._ip_token, zerogpu=zerogpu, token=token,
                            uuid=request.zerogpu_uuid or self._zerogpu_uuid, jwt=self._jwt if self.has_token else None,
                            scoped=scoped)

    def _context(self) -> Context:
        """The context of checking a call: an ``image=`` URL gets the token only if its origin was named."""

        def fetch_input(url: str, max_bytes: int = MAX_DOWNLOAD_BYTES) -> bytes:
            token = self._credentials.token_for(url) if self._credentials.is_named(url) else None
            return self._http.fetch(url, token=token, max_bytes=max_bytes, timeout=self.timeout)

        return Context(fetch=fetch_input, tmpdir=self._tmpdir, cache_dir=self.cache_dir)

    def _result_context(self, conn: Conn, timeout: float | None) -> Context:
        """The context of parsing a Space's output: file URLs must be on the connection's origin, and a download
        gets the token only when the connection got it."""
        token = self._credentials.token_for(conn.url) if conn.token_sent else None
        origin = origin_of(conn.url)

        def fetch_result(url: str) -> bytes:
            return self._http.fetch(url, token=token if origin_of(url) == origin else None,
                                    max_bytes=self.max_download_bytes, timeout=timeout or DOWNLOAD_TIMEOUT,
                                    space_id=conn.where)

        return Context(fetch=fetch_result, tmpdir=self._tmpdir, cache_dir=self.cache_dir, space_url=conn.url)


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
