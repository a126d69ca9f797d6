"""Run janusflux against the bundled twins, in-process, offline.

    from janusflux.local import local_session
    with local_session() as session:
        session.generate("flux", "a lighthouse at dawn", width=256, height=256, steps=4).save("lighthouse.png")

:func:`local_session` starts the local twins of the Spaces and of the Hub on free loopback ports
(``janusflux.twins.start_twins``), yields a :class:`janusflux.Session` pointed at them and stops them on exit. It is
what ``janusflux ... --local`` (or ``JANUSFLUX_LOCAL=1``) uses; with ``JANUSFLUX_LOCAL=1`` the module-level
``janusflux.generate`` & co. use :func:`start_local_session` (twins started on the first call, stopped by
``janusflux.close()`` or at exit). It needs the ``twins`` extra (gradio).

The twins' images are made by the twins (not by FLUX or Janus): they are real image files with the requested size
and seed, good for trying the whole stack on a machine without a network or a token.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any

from .session import Session

__all__ = ["LOCAL_ENV", "LocalSession", "local_fleet", "local_requested", "local_session", "start_local_session",
           "twin_token"]

LOCAL_ENV = "JANUSFLUX_LOCAL"
DEFAULT_DELAY = 0.002  # seconds of pretend GPU time per step: a 28-step FLUX.1-dev call takes a few tenths
DEFAULT_QUOTA = 1_000_000.0  # GPU seconds per identity per day (twins' GENEROUS_QUOTA): no wall unless asked for


def twin_token() -> str:
    """A made-up HF token for the twins: the Hub twin treats it as a new free user. Never a real token."""
    return "hf_janusfluxtwin" + secrets.token_hex(12)


def local_requested(flag: bool = False) -> bool:
    """True when ``flag`` is set or the environment says ``JANUSFLUX_LOCAL=1`` (also true/yes/on)."""
    return bool(flag) or os.environ.get(LOCAL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _start_fleet(delay: float, quota: float, fleet_kwargs: dict[str, Any]) -> Any:
    try:
        from .twins import start_twins
    except ImportError as e:  # pragma: no cover - only without the extra
        raise ImportError("the local twins need gradio: pip install 'janusflux[twins]'") from e
    from .twins.options import NEWCOMER

    return start_twins(options=NEWCOMER, delay=delay, quota=quota, **{"port": 0, **fleet_kwargs})


@contextlib.contextmanager
def local_fleet(*, delay: float = DEFAULT_DELAY, quota: float = DEFAULT_QUOTA, **fleet_kwargs: Any) -> Iterator[Any]:
    """Start the twins (all Spaces and the Hub, free loopback ports) and stop them on exit. Yields the fleet.

    The twins print nothing unless ``verbose=True`` is passed through ``fleet_kwargs``. They start with
    ``janusflux.twins.options.NEWCOMER`` (production's hardware factor 1.5 and IP identity for anonymous callers,
    a generous allowance); ``fleet_kwargs`` override any ``TwinOptions`` field.
    """
    fleet = _start_fleet(delay, quota, fleet_kwargs)
    try:
        yield fleet
    finally:
        fleet.stop()


class LocalSession(Session):
    """A :class:`Session` on twins it started itself: closing the session (or the interpreter exiting) stops them.
    The running fleet is at ``.fleet`` (request log, knobs)."""

    def __init__(self, fleet: Any, **session_kwargs: Any) -> None:
        super().__init__(hf_endpoint=fleet.hub_url, **session_kwargs)
        self.fleet = fleet
        atexit.register(self.close)

    def close(self) -> None:
        if self._closed:
            return
        try:
            super().close()
        finally:
            self.fleet.stop()
            atexit.unregister(self.close)


def start_local_session(*, delay: float = DEFAULT_DELAY, quota: float = DEFAULT_QUOTA,
                        fleet_kwargs: dict[str, Any] | None = None, **session_kwargs: Any) -> LocalSession:
    """Start the twins and return a :class:`LocalSession` on them (close it to stop them; they stop at exit anyway).

    ``session_kwargs`` go to :class:`Session` (``token``, ``timeout``, ``max_wait``, ``cache_dir``...). The user's
    real token (``HF_TOKEN`` or the saved login) is never picked up: ``token`` defaults to a fresh twin token (a free
    user the Hub twin makes up, with its own quota), ``token=False`` makes the calls anonymous (counted per address),
    and a token passed explicitly is used as given. This is the default session under ``JANUSFLUX_LOCAL=1``.
    """
    session_kwargs.setdefault("token", twin_token())
    fleet = _start_fleet(delay, quota, fleet_kwargs or {})
    try:
        return LocalSession(fleet, **session_kwargs)
    except BaseException:
        fleet.stop()
        raise


@contextlib.contextmanager
def local_session(*, delay: float = DEFAULT_DELAY, quota: float = DEFAULT_QUOTA,
                  fleet_kwargs: dict[str, Any] | None = None, **session_kwargs: Any) -> Iterator[Session]:
    """:func:`start_local_session` as a context manager: the session is closed and the twins stopped on exit."""
    with start_local_session(delay=delay, quota=quota, fleet_kwargs=fleet_kwargs, **session_kwargs) as session:
        yield session
