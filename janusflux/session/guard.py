"""Pin a gradio_client ``Client`` to its Space's origin, and keep a handle on the streams it reads.

gradio_client takes only ``httpx_kwargs`` for its requests, and ``auth=`` is the one keyword every one of its httpx
calls accepts. :class:`OriginGuard` is that auth: it sees each request before it is sent and refuses any whose
origin (scheme, host, port) is not the Space's, so an absolute ``api_prefix`` in ``/config`` (or an old Gradio's
config fetcher host) never receives a byte. It also sees each response before gradio_client reads the body, and
wraps its stream: an event (bytes since the last blank line) larger than the cap ends the stream, and
:meth:`OriginGuard.stop` (called when the client is closed) ends every stream still open, including the event
reader gradio_client keeps in its own thread and does not stop itself. Requests after ``stop()`` still go out (the
cancel of a job must reach the Space); only their event streams are ended.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Generator, Iterator
from typing import Any

import httpx

from ..errors import SpaceRefusedError
from ..origins import origin_of

__all__ = ["MAX_EVENT_BYTES", "OriginGuard", "check_client"]

# The largest message a Space here sends is a few KiB of JSON (file outputs are URLs, previews too); 4 MiB leaves
# room for an inlined base64 image and bounds an unterminated line (gradio_client rescans its whole buffer per chunk).
MAX_EVENT_BYTES = 4 * 1024 * 1024
OLDEST_GRADIO = (3, 36, 2)  # gradio <= 3.36.1 makes gradio_client POST the config to a fixed fetcher host


class OriginGuard(httpx.Auth):
    """httpx auth that lets requests through only to ``url``'s origin and bounds and stops the responses."""

    def __init__(self, url: str, where: str, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.origin = origin_of(url)
        self.where = where
        self.max_event_bytes = max_event_bytes
        self.failure: SpaceRefusedError | None = None  # set when a stream was cut for its size
        self._stopped = threading.Event()
        self._open: set[httpx.Response] = set()
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = origin_of(str(request.url))
        if target != self.origin:
            scheme, host, port = target or ("?", str(request.url.host), 0)
            raise SpaceRefusedError(f"the Space directs requests to {scheme}://{host}:{port}, not its own origin "
                                    "(an absolute api_prefix, or an old Gradio's config fetcher)",
                                    why="other origin", space_id=self.where)
        response = yield request
        response.stream = _Bounded(response, self, request)
        with self._lock:
            self._open.add(response)
        if self._stopped.is_set() and "event-stream" in response.headers.get("content-type", ""):
            self.stop()  # an event stream that answered after stop(): end it too (a cancel's answer is read)

    def stop(self) -> None:
        """End every open stream now: mark them stopped, shut their sockets (a reader blocked in ``recv`` wakes)."""
        self._stopped.set()
        with self._lock:
            responses, self._open = list(self._open), set()
        for r in responses:
            sock = _socket(r)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()  # the Space sees the connection go away even if no reader closes it
                except OSError:
                    pass

    def closed(self, response: httpx.Response) -> None:
        with self._lock:
            self._open.discard(response)

    def cut(self, request: httpx.Request) -> None:
        self.failure = SpaceRefusedError(f"the Space sent an event larger than {self.max_event_bytes} bytes",
                                         why="event too large", space_id=self.where)
        raise httpx.RemoteProtocolError("event too large", request=request)  # gradio_client ends its reader quietly

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()


class _Bounded(httpx.SyncByteStream):
    """A response stream that counts the bytes of the current event and checks the guard's stop flag."""

    def __init__(self, response: httpx.Response, guard: OriginGuard, request: httpx.Request) -> None:
        self._inner: Any = response.stream
        self._response = response
        self._guard = guard
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        pending = 0
        try:
            for chunk in self._inner:
                if self._guard.stopped:
                    raise httpx.RemoteProtocolError("the Space connection was closed", request=self._request)
                end = chunk.rfind(b"\n\n")
                pending = len(chunk) - end - 2 if end >= 0 else pending + len(chunk)
                if pending > self._guard.max_event_bytes:
                    self._guard.cut(self._request)
                yield chunk
        except httpx.TransportError as e:
            if not self._guard.stopped or isinstance(e, httpx.RemoteProtocolError):
                raise
            # the socket was shut by stop(): end as a closed stream, which gradio_client's reader takes quietly
            raise httpx.RemoteProtocolError("the Space connection was closed", request=self._request) from e

    def close(self) -> None:
        self._guard.closed(self._response)
        self._inner.close()


def _socket(response: httpx.Response) -> socket.socket | None:
    stream = response.extensions.get("network_stream")
    try:
        sock = stream.get_extra_info("socket") if stream is not None else None
    except Exception:  # noqa: BLE001 - a transport without the info
        return None
    return sock if isinstance(sock, socket.socket) else None


def check_client(client: Any, url: str, where: str) -> None:
    """After ``Client()`` read ``/config``: every URL it will use is on ``url``'s origin, and its Gradio is newer than
    3.36.1. Raises :class:`SpaceRefusedError` saying which URL or version."""
    origin = origin_of(url)
    names = ("src", "src_prefixed", "api_url", "sse_url", "sse_data_url", "heartbeat_url", "upload_url", "reset_url")
    urls = {name: getattr(client, name, None) for name in names}
    for i, endpoint in enumerate(getattr(client, "endpoints", {}).values()):
        urls[f"endpoint {i} root_url"] = getattr(endpoint, "root_url", None)
    for name, value in urls.items():
        if isinstance(value, str) and origin_of(value) != origin:
            raise SpaceRefusedError(f"the Space's {name} points at another origin ({_origin_text(value)}); "
                                    "its api_prefix moves the protocol off the Space", why="other origin",
                                    space_id=where)
    version = _version(getattr(client, "app_version", None))
    if version is not None and version < OLDEST_GRADIO:
        raise SpaceRefusedError(f"the Space runs Gradio {client.app_version}, whose API info gradio_client posts to "
                                "a third host", why="old gradio", space_id=where)


def _origin_text(url: str) -> str:
    o = origin_of(url)
    return f"{o[0]}://{o[1]}:{o[2]}" if o else repr(url[:80])


def _version(text: object) -> tuple[int, ...] | None:
    if not isinstance(text, str):
        return None
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None
