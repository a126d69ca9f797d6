"""The janusflux exception tree.

Every error janusflux raises derives from :class:`JanusfluxError`::

    JanusfluxError
    ├── InvalidInputError (ValueError)        bad argument, raised before any request; .param names it
    │   ├── UnknownModelError (KeyError)      alias not in the registry; .suggestions lists close matches
    │   └── SessionClosedError                a call on a closed session (.param is "session")
    ├── ResultError (ValueError)              a result object built without an image to point at
    ├── ResultGoneError (FileNotFoundError)   a result's image can no longer be read or downloaded
    └── SpaceError                            anything a Space answered; .space_id and .endpoint
        ├── SpaceUnavailableError             paused, broken, or still building/waking past the deadline; .stage
        ├── SpaceBusyError                    queue full, 429, connection dropped: another mirror may help
        │   ├── NoGPUAvailableError           ZeroGPU queue timeout / no GPU free
        │   ├── HostUnreachableError          the first connection to a host (Hub or Space) failed; .host
        │   ├── ExpiredProxyToken             the ZeroGPU token was refused as expired (fetch a new one)
        │   └── StalledJobError               a cancelled sibling job stalled this job's event stream
        ├── HubResponseError                  the Hub answered something that could not be read (not retried)
        ├── QuotaExceededError                ZeroGPU quota; .scope, .requested, .left, .retry_after, .resets_at,
        │                                     .spent (scope "daily" or "runs": nothing to wait for in this call)
        ├── SpaceAppError                     the Space's own error (worker error, app error); .title
        │   ├── IllegalDurationError          ZeroGPU refuses the GPU duration asked for; .requested
        │   ├── SpaceRefusedError             janusflux refused what the Space asked for (another origin, a local
        │   │                                 file, a file over the byte cap); .why
        │   └── GPUTaskAbortedError           ZeroGPU worker error "GPU task aborted" (often transient)
        └── GenerationTimeoutError (TimeoutError)  the caller's deadline passed

The original gradio_client / httpx exception is always chained (``raise ... from e``). Exception texts never contain
a token: they are built from the Space's message, the Space id and the endpoint only. An error built from a Space's
answer keeps that answer as sent (HTML and line breaks included) in ``.space_title`` and ``.space_message``; its
``str()`` is the readable plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

__all__ = [
    "ExpiredProxyToken",
    "GPUTaskAbortedError",
    "GenerationTimeoutError",
    "HostUnreachableError",
    "HubResponseError",
    "IllegalDurationError",
    "InvalidInputError",
    "JanusfluxError",
    "NoGPUAvailableError",
    "QuotaExceededError",
    "ResultError",
    "ResultGoneError",
    "SessionClosedError",
    "SpaceAppError",
    "SpaceBusyError",
    "SpaceError",
    "SpaceRefusedError",
    "SpaceUnavailableError",
    "StalledJobError",
    "UnknownModelError",
]


class JanusfluxError(Exception):
    """Root of every error raised by janusflux."""


class InvalidInputError(JanusfluxError, ValueError):
    """An argument is wrong. Raised before any request is sent. ``param`` names the argument."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        self.message = message
        super().__init__(f"{param}: {message}")


class UnknownModelError(InvalidInputError, KeyError):
    """The model alias is not registered."""

    def __init__(self, alias: object, suggestions: Sequence[str], known: Sequence[str]) -> None:
        self.alias = alias
        self.suggestions = list(suggestions)
        self.known = list(known)
        hint = f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        super().__init__("model", f"unknown model {alias!r}.{hint} Known models: {', '.join(self.known)}.")

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return f"{self.param}: {self.message}"


class SessionClosedError(InvalidInputError):
    """The session was closed; open a new one. (An InvalidInputError naming ``session``, as before.)"""

    def __init__(self) -> None:
        super().__init__("session", "this session is closed")


class ResultError(JanusfluxError, ValueError):
    """A result object was built wrongly (an ImageResult needs a url or a path)."""


class ResultGoneError(JanusfluxError, FileNotFoundError):
    """A result's image is no longer available (its file was removed, or its URL no longer answers)."""


class SpaceError(JanusfluxError):
    """Something went wrong on (or on the way to) a Space."""

    def __init__(self, message: str, *, space_id: str | None = None, endpoint: str | None = None,
                 space_title: str | None = None, space_message: str | None = None) -> None:
        self.message = message
        self.space_id = space_id
        self.endpoint = endpoint
        self.space_title = space_title  # the Space's error title and text as sent, when they came from a Space
        self.space_message = space_message
        super().__init__(self._text())

    def _text(self) -> str:
        where = f" [{self.space_id}{self.endpoint or ''}]" if self.space_id else ""
        return f"{self.message}{where}"

    def name_endpoint(self, endpoint: str) -> None:
        """Name the call's endpoint on an error raised before the Space was connected (a Hub stage, ``/config``, the
        Hub unreachable): every typed error of a call names the endpoint it was for."""
        if self.endpoint is None:
            self.endpoint = endpoint
            self.args = (self._text(),)


class SpaceUnavailableError(SpaceError):
    """The Space cannot serve: paused, runtime or build error, or still building/waking past the deadline."""

    def __init__(self, message: str, *, stage: str | None = None, **kw: str | None) -> None:
        self.stage = stage
        super().__init__(message, **kw)


class SpaceBusyError(SpaceError):
    """The Space is at capacity (queue full, HTTP 429) or the connection dropped. Another mirror may help."""

    def __init__(self, message: str, *, reason: str = "busy", **kw: str | None) -> None:
        self.reason = reason
        super().__init__(message, **kw)


OFFLINE_HINT = ("Offline? Use the bundled local twins: add --local to a janusflux command, set JANUSFLUX_LOCAL=1 "
                "for the Python API, or run `janusflux serve all` and export the HF_ENDPOINT it prints.")


class HostUnreachableError(SpaceBusyError):
    """No connection could be made to a host this session had never reached (refused, unknown name, connect
    timeout): reported at once, not retried like a dropped connection. ``host`` is the ``scheme://host:port`` that
    could not be reached, ``role`` what it was for (``"Hub"`` or ``"Space"``); the text suggests the local twins."""

    def __init__(self, host: str, role: str, cause: str, **kw: str | None) -> None:
        self.host = host
        self.role = role
        what = "the Hub (to look up the Space)" if role == "Hub" else "the Space"
        super().__init__(f"cannot reach {host}, {what}: {cause}. {OFFLINE_HINT}", reason="unreachable", **kw)


class HubResponseError(SpaceError):
    """The Hub answered, but its answer could not be read (huggingface_hub failed on it). Not a connection
    problem and not retried: another try would read the same answer. ``host`` is the Hub's ``scheme://host:port``."""

    def __init__(self, host: str, cause: str, **kw: str | None) -> None:
        self.host = host
        super().__init__(f"the Hub at {host} sent an answer that could not be read ({cause})", **kw)


class NoGPUAvailableError(SpaceBusyError):
    """ZeroGPU found no free GPU in time (queue timeout)."""


class ExpiredProxyToken(SpaceBusyError):
    """The ZeroGPU token was refused as expired: fetch a new one and try again."""


class StalledJobError(SpaceBusyError):
    """This job's event stream was stalled by a cancelled sibling: restart it on a fresh client."""


QuotaScope = Literal["user", "daily", "runs", "space", "pending"]
SPENT_SCOPES: frozenset[str] = frozenset({"daily", "runs"})


class QuotaExceededError(SpaceError):
    """ZeroGPU quota exhausted.

    ``scope`` tells whose limit it is: ``"user"`` (your quota: another ZeroGPU Space will not help; wait
    ``retry_after`` seconds when the Space printed a wait), ``"daily"`` (your allowance is spent until it resets:
    ``0s left`` with a zero or absent wait, a zero or negative wait, or "runnning out of daily ZeroGPU quotas"),
    ``"runs"`` (the runs limit: spent as well), ``"space"`` (the Space's own limit for callers without identity: a
    mirror may help) or ``"pending"`` (too many credits allocated to running tasks). For a spent allowance
    (:attr:`spent`) ``retry_after`` and ``resets_at`` come from the Hub's quota API when known, else they are None.
    ``requested`` and ``left`` are the numbers as printed; they do not tell whether a call would fit (ZeroGPU
    scales the duration by a hardware factor before comparing).
    """

    def __init__(
        self,
        message: str,
        *,
        scope: QuotaScope,
        requested: float | None = None,
        left: float | None = None,
        retry_after: float | None = None,
        resets_at: datetime | None = None,
        **kw: str | None,
    ) -> None:
        self.scope = scope
        self.requested = requested
        self.left = left
        self.retry_after = retry_after
        self.resets_at = resets_at
        super().__init__(message, **kw)

    @property
    def spent(self) -> bool:
        """The allowance is spent until it resets: retrying within a call only burns requests."""
        return self.scope in SPENT_SCOPES


class SpaceAppError(SpaceError):
    """The Space's own code failed (ZeroGPU worker error, an app error). Retrying will not help."""

    def __init__(self, message: str, *, title: str | None = None, **kw: str | None) -> None:
        self.title = title
        super().__init__(f"{title}: {message}" if title and title != "Error" else message, **kw)


class IllegalDurationError(SpaceAppError):
    """ZeroGPU refuses the GPU duration the call asks for (``requested`` seconds, as printed): larger than the
    maximum allowed for this account. Not a quota wait: retrying, now or later, gets the same answer."""

    def __init__(self, message: str, *, requested: float | None = None, title: str | None = None,
                 **kw: str | None) -> None:
        self.requested = requested
        super().__init__(message, title=title, **kw)


class SpaceRefusedError(SpaceAppError):
    """The Space asked for something janusflux refuses: requests to another origin (an absolute ``api_prefix``, an
    old Gradio that posts its config elsewhere), a local file as an output, a file over the byte cap, an event
    larger than the stream's cap. ``why`` says which. Not retried: the same Space would ask again."""

    def __init__(self, message: str, *, why: str, **kw: str | None) -> None:
        self.why = why
        super().__init__(message, title="Refused", **kw)


class GPUTaskAbortedError(SpaceAppError):
    """ZeroGPU aborted the GPU task ("GPU task aborted", a worker error without an exception class). Often
    transient: janusflux retries it once, on another mirror when there is one."""


class GenerationTimeoutError(SpaceError, TimeoutError):
    """The call did not finish before the caller's deadline."""
