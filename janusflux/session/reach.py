"""First contact: which hosts this session has reached, and what a failed connection to one it never reached means.

A connection that cannot be made to a host the session never reached (refused, unknown name, connect timeout) is
almost always a configuration or network problem (offline, a typo'd endpoint, twins not started): it is reported at
once as :class:`HostUnreachableError` naming the host, instead of being retried like a connection that dropped.
Once a host has answered, a failed connection to it is a dropped connection again (retried by the policy).
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

from ..errors import HostUnreachableError

__all__ = ["Reach", "is_connect_failure", "is_transport_error", "origin"]

_CONNECT = {"ConnectError", "ConnectTimeout"}  # httpx's and httpx2's (huggingface_hub) names for a failed connect


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, without user info, path or query (safe to print)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _chain(e: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def is_connect_failure(e: BaseException) -> bool:
    """Whether ``e`` (or what caused it) is a connection that could not be made at all."""
    for x in _chain(e):
        if isinstance(x, (ConnectionRefusedError, socket.gaierror)):
            return True
        if any(c.__name__ in _CONNECT for c in type(x).__mro__):
            return True
    return False


def is_transport_error(e: BaseException) -> bool:
    """Whether ``e`` is an httpx/httpx2 transport error (a read timeout, a dropped connection...) or an OSError."""
    return isinstance(e, OSError) or any(c.__name__ == "TransportError" for c in type(e).__mro__)


class Reach:
    """The hosts (origins) this session has had an answer from."""

    def __init__(self) -> None:
        self._hosts: set[str] = set()
        self._lock = threading.Lock()

    def reached(self, url: str) -> None:
        with self._lock:
            self._hosts.add(origin(url))

    def unreachable(self, e: BaseException, url: str, role: str, space_id: str | None) -> HostUnreachableError | None:
        """The error to raise when ``e`` is a failed first connection to ``url``'s host, else None."""
        host = origin(url)
        with self._lock:
            first = host not in self._hosts
        if not first or not is_connect_failure(e):
            return None
        root = _chain(e)[-1]
        cause = f"{type(root).__name__}: {root}" if str(root) else type(root).__name__
        return HostUnreachableError(host, role, cause, space_id=space_id)
