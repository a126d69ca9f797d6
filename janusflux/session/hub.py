"""The Hub side: which URL serves a Space (``space_info``), and waiting for a sleeping or starting Space to wake.

A Space served from a known URL (``space_urls``, :meth:`Session.route`) or given as a bare URL skips the Hub.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from ..errors import HubResponseError, SpaceBusyError, SpaceUnavailableError
from ..results import Event, Waking
from .credentials import Credentials
from .http import Http
from .reach import Reach, is_transport_error, origin

__all__ = ["Cancelled", "Hub"]

log = logging.getLogger("janusflux")

RUNNING = {"RUNNING", "RUNNING_BUILDING"}
WAKING = {"SLEEPING", "APP_STARTING", "RUNNING_APP_STARTING", "BUILDING", "STARTING"}
WAKE_POLL = 0.5


class Cancelled(Exception):
    """The caller cancelled the call (or the session is closing): stop at once."""


class Hub:
    """Space resolution through the Hub, and the routes that bypass it."""

    def __init__(self, credentials: Credentials, http: Http, space_urls: Mapping[str, str] | None,
                 wake_timeout: float, closing: threading.Event, reach: Reach) -> None:
        self._credentials = credentials
        self._reach = reach
        self._http = http
        self.space_urls = {k: v.rstrip("/") for k, v in (space_urls or {}).items()}
        self.wake_timeout = wake_timeout
        self._closing = closing
        self._lock = threading.Lock()
        self.calls = 0

    def resolve(self, key: str, emit: Callable[[Event], None], deadline: float | None, alternatives: bool = False,
                cancel: threading.Event | None = None) -> tuple[str, str | None]:
        """The URL to talk to and the Space id (None for a bare URL). Waits for a sleeping or starting Space; a
        building one is waited for only when the model has no other Space (a build takes minutes)."""
        if key.startswith(("http://", "https://")):
            return key.rstrip("/"), None
        if key in self.space_urls:
            return self.space_urls[key], key
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError

        endpoint = self._credentials.hf_endpoint
        api = HfApi(endpoint=endpoint)
        token = self._credentials.hub_token(endpoint) or False
        wake_deadline = time.monotonic() + self.wake_timeout
        woke = False
        while True:
            try:
                with self._lock:
                    self.calls += 1
                info = api.space_info(key, token=token)
            except HfHubHTTPError as e:
                status = getattr(getattr(e, "response", None), "status_code", None)
                if status == 404:
                    raise SpaceUnavailableError("Space not found on the Hub", stage="NOT_FOUND", space_id=key) from e
                raise SpaceBusyError(f"the Hub did not answer ({status})", reason="hub", space_id=key) from e
            except Exception as e:
                unreachable = self._reach.unreachable(e, endpoint, "Hub", key)
                if unreachable is not None:
                    raise unreachable from e
                if is_transport_error(e):  # a Hub that answered before dropped the connection or timed out
                    raise SpaceBusyError(f"the Hub is unreachable ({type(e).__name__})", reason="hub",
                                         space_id=key) from e
                raise HubResponseError(origin(endpoint), f"{type(e).__name__}: {e}", space_id=key) from e
            self._reach.reached(endpoint)
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
                    self.poke(host)
            if (cancel is not None and cancel.wait(WAKE_POLL)) or self._closing.is_set():
                raise Cancelled()
            if cancel is None:
                time.sleep(WAKE_POLL)

    def poke(self, host: str) -> None:
        """A request to a sleeping Space's host is what wakes it."""
        try:
            self._http.get(host.rstrip("/") + "/config", timeout=10)
        except Exception as e:  # noqa: BLE001 - only a wake-up call
            log.debug("wake-up request failed: %s", type(e).__name__)
