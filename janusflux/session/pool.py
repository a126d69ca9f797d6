"""The client pool: one ``gradio_client.Client`` per Space, opened once and shared by calls and threads.

A client whose connection may be broken is retired: new calls open a fresh one, and the retired client shuts down
when its last call ends. :meth:`Pool.close` shuts every client down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import JanusfluxError, SessionClosedError, SpaceBusyError, SpaceUnavailableError
from ..models import ModelSpec
from .credentials import Credentials
from .guard import OriginGuard, check_client
from .http import Http

__all__ = ["Conn", "Pool", "close_client", "open_conn"]

log = logging.getLogger("janusflux")


@dataclass
class Conn:
    """A live connection to one Space."""

    key: str  # Space id, or the URL for URL-only Spaces
    url: str
    client: Any
    space_id: str | None
    guard: OriginGuard | None = None  # pins the client to the Space's origin; stops its streams on close
    token_sent: bool = False  # the client sends the HF token (the Space's origin is a token host)
    hub_named: bool = False  # the URL is the host the Hub named for space_id (not a route the caller set)
    bound: dict[str, ModelSpec] = field(default_factory=dict)  # specs bound by the Space's API info, per alias
    inflight: int = 0
    retired: bool = False
    # Set when a job on this client was cancelled while others ran: Gradio then leaves the other jobs of the same
    # session hash hanging (reproduced with plain gradio_client), so they are restarted on a fresh client.
    poisoned: threading.Event = field(default_factory=threading.Event)

    @property
    def where(self) -> str:
        return self.space_id or self.url


class Pool:
    """Live connections by Space key, per-key connect locks, retired clients still in use."""

    def __init__(self) -> None:
        self.conns: dict[str, Conn] = {}
        self.opened = 0
        self._retired: list[Any] = []
        self._connecting: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._closed = False

    def connect(self, key: str, open_conn: Callable[[], Conn]) -> Conn:
        """The live connection to ``key``; concurrent first calls to one Space share a single ``open_conn()``."""
        with self._lock:
            conn = self.conns.get(key)
            if conn is not None:
                return conn
            lock = self._connecting.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                conn = self.conns.get(key)
            if conn is not None:
                return conn
            conn = open_conn()
            with self._lock:
                if self._closed:
                    close_client(conn.client)
                    raise SessionClosedError()
                self.conns[key] = conn
                self.opened += 1
            return conn

    def get(self, key: str) -> Conn | None:
        with self._lock:
            return self.conns.get(key)

    def discard(self, conn: Conn) -> None:
        """Forget a client whose connection may be broken; the next call opens a fresh one."""
        with self._lock:
            if self.conns.get(conn.key) is conn:
                del self.conns[conn.key]
            conn.retired = True
            idle = conn.inflight == 0
            if not idle:  # other calls still use it: the last one to finish shuts it down
                self._retired.append(conn.client)
        if idle:
            close_client(conn.client)

    def begin(self, conn: Conn) -> None:
        with self._lock:
            conn.inflight += 1

    def end(self, conn: Conn) -> None:
        """A call on ``conn`` ended: a retired client shuts down with its last call."""
        with self._lock:
            conn.inflight -= 1
            last = conn.retired and conn.inflight == 0
            if last and conn.client in self._retired:
                self._retired.remove(conn.client)
        if last:
            close_client(conn.client)

    def close(self, grace: float = 0.0) -> None:
        """Close every client. Calls still running get up to ``grace`` seconds to end first (a closing session's calls
        cancel their jobs, and a job's cancel must go out before its client's connections are shut)."""
        with self._lock:
            self._closed = True
        end = time.monotonic() + grace
        while time.monotonic() < end:
            with self._lock:
                if not self._retired and not any(c.inflight for c in self.conns.values()):
                    break
            time.sleep(0.02)
        with self._lock:
            clients = [c.client for c in self.conns.values()] + self._retired
            self.conns, self._retired = {}, []
        for client in clients:
            close_client(client)


def open_conn(key: str, url: str, space_id: str | None, credentials: Credentials, http: Http, *,
              hub_named: bool = False) -> Conn:
    """A gradio_client Client for ``url``, pinned to its origin (the token only if the origin is a token host)."""
    from gradio_client.utils import TooManyRequestsError

    from .quiet import client_class

    kwargs: dict[str, Any] = {}
    if url.startswith("https://"):
        kwargs["ssl_verify"] = http.ssl_context()
    where = space_id or url
    token = credentials.token_for(url)
    guard = OriginGuard(url, where)
    try:
        client = client_class()(url, token=token or False, verbose=False, download_files=False,
                                analytics_enabled=False, httpx_kwargs={"auth": guard}, **kwargs)
    except JanusfluxError:
        guard.stop()
        raise
    except TooManyRequestsError as e:
        raise SpaceBusyError("HTTP 429 on the Space's config", reason="429", space_id=where) from e
    except ValueError as e:
        if "invalid state" in str(e):
            raise SpaceUnavailableError(str(e), space_id=where) from e
        raise SpaceBusyError(f"could not load the Space ({e})", reason="config", space_id=where) from e
    except Exception as e:
        raise SpaceBusyError(f"could not reach the Space ({type(e).__name__})", reason="connection",
                             space_id=where) from e
    try:
        check_client(client, url, where)
    except JanusfluxError:
        close_client(client)
        raise
    log.debug("connected to %s at %s (token sent: %s)", where, url, token is not None)
    return Conn(key=key, url=url, client=client, space_id=space_id, guard=guard, token_sent=token is not None,
                hub_named=hub_named)


def close_client(client: Any) -> None:
    """Stop the client's heartbeat, its executors and (through its guard) every stream it still reads."""
    guard = getattr(client, "httpx_kwargs", {}).get("auth")
    if isinstance(guard, OriginGuard):
        guard.stop()
    try:
        client.close()
        for name in ("executor", "helper_executor", "stream_executor"):
            ex = getattr(client, name, None)
            if ex is not None:
                ex.shutdown(wait=False, cancel_futures=True)
    except Exception as e:  # noqa: BLE001 - closing is best effort
        log.debug("closing a client failed: %s", type(e).__name__)
