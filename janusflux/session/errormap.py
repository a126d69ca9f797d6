"""A pure mapping from what gradio_client (or the network under it) raised to janusflux's typed errors."""

from __future__ import annotations

import concurrent.futures

from ..errors import JanusfluxError, SpaceAppError, SpaceBusyError
from ..zerogpu import classify

__all__ = ["map_error"]


def map_error(e: BaseException, *, space_id: str, endpoint: str) -> JanusfluxError:
    """The janusflux error for ``e`` raised while calling ``endpoint`` of ``space_id``."""
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError, TooManyRequestsError

    if isinstance(e, AppError):
        return classify(getattr(e, "title", None), getattr(e, "message", str(e)), space_id=space_id,
                        endpoint=endpoint)
    if isinstance(e, QueueError):
        return SpaceBusyError("the Space's queue is full", reason="queue full", space_id=space_id, endpoint=endpoint)
    if isinstance(e, TooManyRequestsError):
        return SpaceBusyError("HTTP 429 from the Space", reason="429", space_id=space_id, endpoint=endpoint)
    if isinstance(e, concurrent.futures.CancelledError):
        return SpaceBusyError("the event stream was closed before the result", reason="stream closed",
                              space_id=space_id, endpoint=endpoint)
    name = type(e).__name__
    dropped = ((name.endswith(("Error", "Exception")) and type(e).__module__.startswith(("httpx", "httpcore")))
               or isinstance(e, (ConnectionError, OSError)) or "Server stopped" in str(e)
               or "Did not receive" in str(e))
    if dropped:
        return SpaceBusyError(f"connection to the Space failed ({name})", reason="connection", space_id=space_id,
                              endpoint=endpoint)
    return SpaceAppError(f"{name}: {e}", space_id=space_id, endpoint=endpoint)
