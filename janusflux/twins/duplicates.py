"""Duplicates of Space twins (the Hub twin's duplicate route, `twins/spaces_admin.py`): a copy is a new Space twin,
built and served in the background like the fleet's own, on dedicated hardware. `TwinFleet` inherits these methods."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .state import SPECS, SpaceSpec, SpaceState

if TYPE_CHECKING:
    from .fleet import _Server
    from .options import TwinOptions

__all__ = ["Duplicates"]

_BUILD_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_thread(verbose: bool) -> Iterator[None]:
    """`_quiet` for a build in a background thread: only what this thread prints is dropped (redirect_stdout would
    swallow every other thread's output meanwhile)."""
    if verbose:
        yield
        return
    real, me = sys.stdout, threading.get_ident()

    class _Mute:
        def write(self, text: str) -> int:
            return len(text) if threading.get_ident() == me else real.write(text)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    proxy = _Mute()
    sys.stdout = proxy
    try:
        yield
    finally:
        if sys.stdout is proxy:
            sys.stdout = real


class Duplicates:
    """The fleet's duplicate, build and delete of copies (a mixin of `TwinFleet`, which owns the attributes)."""

    options: TwinOptions
    states: dict[str, SpaceState]
    verbose: bool
    _lock: threading.Lock
    _servers: list[_Server]
    _stopped: bool
    _space_server: Callable[[SpaceState, int], _Server]  # the server of one Space twin (`TwinFleet`)

    def duplicate(self, from_id: str, to_id: str, *, owner: str, hardware: str, sleep_time: int | None = None,
                  private: bool = True) -> SpaceState:
        """A copy of the Space twin ``from_id`` as ``to_id``: a new Space twin (same app, same model behaviour) on
        dedicated ``hardware`` (not ZeroGPU: no quota, no ZeroGPU errors), one call at a time (one GPU), owned by
        ``owner``. It is BUILDING at once and RUNNING ``options.build_time`` seconds later (BUILD_ERROR when the
        source has the ``build_error`` fault). KeyError for an unknown source, ValueError when ``to_id`` exists."""
        src = self.states[from_id]
        with self._lock:
            if to_id in self.states:
                raise ValueError(f"{to_id} already exists")
            spec = SpaceSpec(to_id, src.spec.family, src.spec.duration, len(SPECS) + len(self.states))
            st = SpaceState(spec, 1, dataclasses.replace(src.zerogpu))
            st.hardware, st.sleep_time, st.owner, st.private, st.source = hardware, sleep_time, owner, private, from_id
            st.set_stage("BUILDING", wake_after=self.options.build_time)
            self.states = {**self.states, to_id: st}  # copy on write: readers iterate a stable dict
        fails = bool(src.faults.take("build_error"))
        threading.Thread(target=self._build_copy, args=(st, fails), daemon=True, name=f"twin-build-{to_id}").start()
        return st

    def _build_copy(self, st: SpaceState, fails: bool) -> None:
        t0 = time.monotonic()
        if fails:
            time.sleep(self.options.build_time)
            st.set_stage("BUILD_ERROR")
            return
        try:
            with _BUILD_LOCK, _quiet_thread(self.verbose):  # gradio's Blocks context is global: one build at once
                server = self._space_server(st, 0)
            server.start()
            server.wait_started()
        except Exception:  # a build that fails is the Space's BUILD_ERROR, as on the Hub
            logging.getLogger("janusflux.twins").exception("building %s failed", st.spec.space_id)
            st.set_stage("BUILD_ERROR")
            return
        with self._lock:
            if self._stopped or st.spec.space_id not in self.states:  # deleted (or the fleet stopped) meanwhile
                server.stop()
                return
            self._servers.append(server)
        st.start("BUILDING", max(0.0, self.options.build_time - (time.monotonic() - t0)))

    def delete_space(self, space_id: str) -> None:
        """Remove a duplicate and stop its server (KeyError when it is not one)."""
        with self._lock:
            st = self.states[space_id]
            if st.source is None:
                raise KeyError(f"{space_id} is not a duplicate")
            self.states = {k: v for k, v in self.states.items() if k != space_id}
            servers = [s for s in self._servers if st.url and s.url == st.url]
            self._servers = [s for s in self._servers if s not in servers]
        for s in servers:
            s.stop()
