"""Start and stop the twins: one uvicorn server per Space twin plus one for the Hub twin, all on loopback.

Each Space twin is served at the root of its own port, like a real `*.hf.space` host, so the file URLs gradio
returns are the ones a real Space returns. With `port=P` the Hub listens on P and Space number i of `SPACE_IDS` on
P + 1 + i (whether or not the others run), so a fixed port gives fixed URLs; `port=0` picks free ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import io
import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from . import zerogpu
from .duplicates import Duplicates
from .options import TwinOptions
from .state import SPECS, RecordedRequest, RequestLog, SpaceState, ZeroSettings, resolve_spaces
from .wordings import DEFAULT_WORDING

__all__ = ["PortInUseError", "TwinFleet", "start_twins"]

_CONTROL_PREFIX = "/_twin"


class StreamDropped(Exception):
    """Raised inside the server to cut an event stream mid-run (the `drop_stream` fault)."""


class _HideDroppedStreams(logging.Filter):
    """uvicorn logs an aborted response as an error; a deliberate `drop_stream` fault is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, StreamDropped):
                return False
            group = getattr(exc, "exceptions", None)  # a BaseExceptionGroup (3.11+) or its backport's (3.10)
            exc = exc.__cause__ or exc.__context__ or (group[0] if isinstance(group, tuple) and group else None)
        return True


logging.getLogger("uvicorn.error").addFilter(_HideDroppedStreams())


class TwinMiddleware:
    """ASGI middleware on every twin server: logs requests, then (Space twins) applies stages and HTTP faults."""

    def __init__(self, app: Any, server: str, log: RequestLog, state: SpaceState | None = None) -> None:
        self.app, self.server, self.log, self.state = app, server, log, state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        if not path.startswith(_CONTROL_PREFIX):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            self.log.add(RecordedRequest(self.server, scope["method"], path,
                                         scope.get("query_string", b"").decode("latin-1"), headers))
        st = self.state
        if st is None:
            return await self.app(scope, receive, send)
        stage = st.stage
        st.touch()
        if stage in ("SLEEPING", "APP_STARTING"):  # a request to a sleeping Space wakes it and waits for it
            while (wait := st.wake()) > 0:
                await asyncio.sleep(min(wait, 0.05))
        elif stage != "RUNNING":
            return await _json(send, 503, {"error": f"Space is not running (stage {stage})", "stage": stage})
        method = scope["method"]
        if method == "GET" and path.rstrip("/").endswith("/config") and st.faults.take("config_429"):
            return await _json(send, 429, {"error": "Too Many Requests"}, [(b"retry-after", b"1")])
        if method == "POST" and path.endswith("/queue/join") and st.faults.take("queue_full"):
            return await _json(send, 503, {"detail": "Queue is full."})
        if method == "GET" and path.endswith("/queue/data") and st.faults.peek("drop_stream"):
            return await self.app(scope, receive, _dropping_send(send, st))
        return await self.app(scope, receive, send)


def _dropping_send(send: Any, st: SpaceState) -> Any:
    """Pass the SSE through until a run has shown one message of progress, then abort the connection."""
    seen = {"generating": 0}

    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            generating = body.count(b'"process_generating"')
            done = b'"process_completed"' in body
            if (done or seen["generating"] + generating > 1) and st.faults.take("drop_stream"):
                if generating and not done and seen["generating"] == 0:
                    message = {**message, "body": body.split(b"\n\n")[0] + b"\n\n", "more_body": True}
                    await send(message)
                raise StreamDropped("drop_stream fault: event stream cut mid-run")
            seen["generating"] += generating
        await send(message)

    return wrapped


async def _json(send: Any, status: int, body: dict, extra: list | None = None) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": data})


class PortInUseError(OSError):
    """A fixed port a twin should listen on is taken; the message says which one and what to do."""

    def __init__(self, host: str, port: int, role: str) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"port {port} on {host} ({role}) is already in use, perhaps by another `janusflux serve`. Stop that "
            f"process, or pick other ports with --port N (the Hub twin on N, the Space twins on N+1...N+5) or "
            f"--port 0 (free ports, printed at start)")
        self.host, self.port, self.role = host, port, role


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Swallow what gradio prints while building apps ("Will cache examples in ...") unless `verbose`."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class _Server:
    """A uvicorn server on a socket we bind ourselves (so port 0 is known before start), run in a thread."""

    def __init__(self, app: Any, host: str, port: int, role: str, verbose: bool = False) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as e:
            self.sock.close()
            if e.errno == errno.EADDRINUSE:
                raise PortInUseError(host, port, role) from None
            raise
        self.port = self.sock.getsockname()[1]
        host_part = f"[{host}]" if ":" in host else host
        self.url = f"http://{host_part}:{self.port}"
        config = uvicorn.Config(app, log_level="info" if verbose else "warning", lifespan="on",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name=f"twin-{self.port}")

    def start(self) -> None:
        self.thread.start()

    def wait_started(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"twin server on {self.url} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.sock.close()


class TwinFleet(Duplicates):
    """Running twins. Build it with `start_twins`; use it as a context manager or call `stop()`."""

    def __init__(self, spaces: list[str] | tuple[str, ...] | str | None = None, options: TwinOptions | None = None,
                 **fields: Any) -> None:
        opts = (options or TwinOptions()).replace(**fields)
        self.options = opts
        self.verbose = opts.verbose
        self.space_ids = resolve_spaces(spaces)
        self.host, self.base_port = opts.host, int(opts.port)
        self.duration_scale, self.delay = float(opts.duration_scale), float(opts.delay)
        self.zero = zerogpu.ZeroGPU(opts.quota, opts.quota_window, opts.users)
        self.log = RequestLog()
        self.states = {sid: SpaceState(SPECS[sid], opts.concurrency or 2, _zero_settings(opts, sid))
                       for sid in self.space_ids}
        self._initial_faults = dict(opts.faults or {})
        self._servers: list[_Server] = []
        self._lock = threading.Lock()
        self._stopped = True
        self.hub_url = ""

    # --- lifecycle ----------------------------------------------------------------------------------------------------
    def start(self) -> TwinFleet:
        os.environ.setdefault("GRADIO_EXAMPLES_CACHE", os.path.join(tempfile.gettempdir(), "janusflux-twins-cache"))
        if self._initial_faults:
            self.set_fault(None, **self._initial_faults)
        try:
            with _quiet(self.verbose):
                self._build()
            self._stopped = False
            for s in self._servers:
                s.start()
            for s in self._servers:
                s.wait_started()
        except BaseException:
            self.stop()
            raise
        return self

    def _build(self) -> None:
        """Bind every port and build every app (gradio imported here: starting is where its cost belongs)."""
        from .hub import build_hub

        hub = _Server(TwinMiddleware(build_hub(self), "hub", self.log), self.host, self.base_port, "the Hub twin",
                      self.verbose)
        self._servers.append(hub)
        self.hub_url = hub.url
        for st in self.states.values():
            port = self.base_port + 1 + st.spec.index if self.base_port else 0
            self._servers.append(self._space_server(st, port))

    def _space_server(self, st: SpaceState, port: int) -> _Server:
        """The server of one Space twin (not started); sets ``st.url``."""
        import gradio as gr
        from fastapi import FastAPI

        from .apps import Twin, build_app

        blocks = build_app(Twin(st, self.zero, self))
        limited = self.options.queue_max_size is not None  # a real ZeroGPU Space: bounded queue and concurrency
        blocks.queue(default_concurrency_limit=st.concurrency if limited else None,
                     max_size=self.options.queue_max_size)
        app = gr.mount_gradio_app(FastAPI(), blocks, path="")
        sid = st.spec.space_id
        server = _Server(TwinMiddleware(app, sid, self.log, st), self.host, port, f"the {sid} twin", self.verbose)
        st.url = server.url
        return server

    def stop(self) -> None:
        """Stop every server and free its port. Safe to call twice."""
        with self._lock:
            servers, self._servers = self._servers, []
            self._stopped = True
        for s in servers:
            s.server.should_exit = True
        for s in servers:
            s.stop()
        self._stopped = True

    def __enter__(self) -> TwinFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ----------------------------------------------------------------------------------------------------
    def url(self, space_id: str) -> str:
        """The Space twin's base URL (no trailing slash): what the Hub twin reports as the Space's `host`."""
        if space_id not in self.states:
            raise KeyError(f"No twin for {space_id!r}; running: {', '.join(self.states)}")
        return self.states[space_id].url

    @property
    def urls(self) -> dict[str, str]:
        return {sid: st.url for sid, st in self.states.items()}

    # --- knobs --------------------------------------------------------------------------------------------------------
    def _targets(self, space: str | None) -> list[SpaceState]:
        if space is None:
            return list(self.states.values())
        if space in self.states:
            return [self.states[space]]
        return [self.states[sid] for sid in resolve_spaces(space) if sid in self.states] or [self.states[space]]

    def set_fault(self, space: str | None = None, **knobs: Any) -> None:
        """Set fault knobs on one Space (id or family) or, with None, on all; `times=N` limits them to N calls."""
        times = knobs.pop("times", None)
        for st in self._targets(space):
            st.faults.set(times=times, **knobs)

    def clear_faults(self, space: str | None = None) -> None:
        for st in self._targets(space):
            st.faults.clear()

    def set_zerogpu(self, space: str | None = None, **settings: Any) -> None:
        """Change ZeroGPU settings (wording, hardware_factor, anonymous, waiting_toast) of one Space (id or family)
        or, with None, of all; they stay until changed again. ValueError for unknown names or values."""
        for st in self._targets(space):
            st.zerogpu.update(**settings)

    def set_stage(self, space_id: str, stage: str, wake_after: float = 1.0) -> None:
        self.url(space_id)  # KeyError for unknown ids
        self.states[space_id].set_stage(stage, wake_after)

    def reset_quota(self, identity: str | None = None) -> None:
        self.zero.ledger.reset(None if identity is None else self.zero.identity_key(identity))

    def quota_left(self, identity: str) -> float:
        """GPU seconds left for "alice", "user:alice", "ip:127.0.0.1" or a token "hf_..."."""
        return self.zero.ledger.left(self.zero.identity_key(identity))

    def issue_token(self, space_id: str, user_token: str | None = None, ip: str = "127.0.0.1",
                    lifetime: float = zerogpu.JWT_LIFETIME, token_format: str | None = None) -> str:
        """A ZeroGPU token as the Hub twin's /jwt route issues it (negative lifetime: already expired)."""
        return self.zero.issue_jwt(space_id, self.zero.users.lookup(user_token), ip, lifetime=lifetime,
                                   token_format=token_format or self.options.zerogpu_token_format)

    # --- request log --------------------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        return self.log.items()

    def clear_requests(self) -> None:
        self.log.clear()

    def state(self) -> dict[str, Any]:
        return {
            "hub": self.hub_url,
            "spaces": {sid: {"url": st.url, "stage": st.stage, "faults": st.faults.snapshot(),
                             "zerogpu": dataclasses.asdict(st.zerogpu),
                             "concurrency": st.concurrency, "duration": st.spec.duration}
                       for sid, st in self.states.items()},
            "quota": self.zero.ledger.quota, "quota_window": self.zero.ledger.window,
            "duration_scale": self.duration_scale, "delay": self.delay,
        }


def _zero_settings(opts: TwinOptions, space_id: str) -> ZeroSettings:
    wording = opts.zerogpu_wording
    if isinstance(wording, dict):
        spec = SPECS[space_id]
        wording = wording.get(space_id, wording.get(spec.family, DEFAULT_WORDING))
    settings = ZeroSettings()
    settings.update(wording=wording, hardware_factor=opts.hardware_factor, anonymous=opts.anonymous,
                    waiting_toast=opts.waiting_toast)
    return settings


def start_twins(spaces: list[str] | tuple[str, ...] | str | None = None, options: TwinOptions | None = None,
                **fields: Any) -> TwinFleet:
    """Start the Space twins (None = all; ids or family names) and the Hub twin; returns the running fleet.

    Options come from `options` (a `TwinOptions`) with any of its fields overridden by keyword:
    `start_twins(port=0, delay=0.0, quota=60)`.
    """
    return TwinFleet(spaces, options, **fields).start()
