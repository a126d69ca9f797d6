"""No request to a host the user did not configure: huggingface_hub's agent detection and gradio_client's telemetry.

Two requests of the libraries janusflux drives go to huggingface_hub's *global* endpoint (``HF_ENDPOINT`` read at
import, else huggingface.co), whatever Hub the session talks to:

* **Agent detection.** The first ``build_hf_headers()`` of the process (the first ``HfApi.space_info`` or the first
  ``Client()``) fetches ``/api/agent-harnesses`` from the global endpoint (3 s timeout) unless telemetry is off,
  then keeps the registry for the process. huggingface_hub has no per-call switch. When a session's Hub is another
  host, :func:`load_agent_registry` loads that registry from the session's Hub instead, once per process, into
  huggingface_hub's in-process cache (private: ``utils._detect_agent._registry``). Detection keeps working; only
  where the registry comes from changes, for the whole process (documented in the README).
* **gradio_client telemetry.** ``Client(analytics_enabled=False)`` is ORed with ``GRADIO_ANALYTICS_ENABLED`` (default
  "True"), so the flag alone does not stop the ``HEAD {global endpoint}/api/telemetry/...`` a new client sends.
  :func:`client_class` is a ``Client`` whose telemetry thread does nothing, used for janusflux's clients only (a
  scoped override of the private ``_telemetry_thread``); no environment variable is set.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from .reach import origin

__all__ = ["client_class", "load_agent_registry"]

log = logging.getLogger("janusflux")

REGISTRY_TIMEOUT = 3.0  # huggingface_hub's own timeout for this fetch
_lock = threading.Lock()


@functools.cache
def client_class() -> type[Any]:
    """``gradio_client.Client`` without its telemetry request (janusflux passes ``analytics_enabled=False`` and
    means it)."""
    from gradio_client import Client

    class QuietClient(Client):  # type: ignore[misc]
        def _telemetry_thread(self) -> None:
            return None

    return QuietClient


def load_agent_registry(hub: str) -> None:
    """Fill huggingface_hub's agent-harness registry from the session's Hub ``hub`` when it is not the global endpoint
    and the registry is not loaded yet (an unreadable answer loads the empty registry, as huggingface_hub does)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    if constants.HF_HUB_DISABLE_TELEMETRY or origin(hub) == origin(constants.ENDPOINT):
        return  # no detection, or it goes to the Hub this session uses anyway
    with _lock:
        if _detect_agent._registry is not None:
            return
        registry: Any = {"standardEnvVars": [], "harnesses": {}}
        try:
            import httpx

            r = httpx.get(f"{hub.rstrip('/')}/api/agent-harnesses", timeout=REGISTRY_TIMEOUT)
            answer = r.json() if r.status_code == 200 else None
            if isinstance(answer, dict) and isinstance(answer.get("harnesses"), dict):
                registry = answer
        except Exception as e:  # noqa: BLE001 - best effort, like huggingface_hub's own fetch
            log.debug("agent-harness registry from %s failed: %s", origin(hub), type(e).__name__)
        _detect_agent._registry = registry
