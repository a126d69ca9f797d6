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
        │   ├── ExpiredProxyToken             the ZeroGPU token was refused as expired (fetch a new one)
        │   └── StalledJobError               a cancelled sibling job stalled this job's event stream
        ├── QuotaExceededError                ZeroGPU quota; .scope, .requested, .left, .retry_after
        ├── SpaceAppError                     the Space's own error (worker error, app error); .title
        └── GenerationTimeoutError (TimeoutError)  the caller's deadline passed

The original gradio_client / httpx exception is always chained (``raise ... from e``). Exception texts never contain
a token: they are built from the Space's message, the Space id and the endpoint only.
"""

from __future__ import annotations

from typing import Literal, Sequence

__all__ = [
    "GenerationTimeoutError",
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
    "SpaceUnavailableError",
    "StalledJobError",
    "ExpiredProxyToken",
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

    def __init__(self, message: str, *, space_id: str | None = None, endpoint: str | None = None) -> None:
        self.message = message
        self.space_id = space_id
        self.endpoint = endpoint
        where = f" [{space_id}{endpoint or ''}]" if space_id else ""
        super().__init__(f"{message}{where}")


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


class NoGPUAvailableError(SpaceBusyError):
    """ZeroGPU found no free GPU in time (queue timeout)."""


class ExpiredProxyToken(SpaceBusyError):
    """The ZeroGPU token was refused as expired: fetch a new one and try again."""


class StalledJobError(SpaceBusyError):
    """This job's event stream was stalled by a cancelled sibling: restart it on a fresh client."""


QuotaScope = Literal["user", "space", "runs", "pending"]


class QuotaExceededError(SpaceError):
    """ZeroGPU quota exhausted.

    ``scope`` tells whose limit it is: ``"user"`` (your quota: another ZeroGPU Space will not help; wait
    ``retry_after`` seconds), ``"space"`` (the Space's own limit for anonymous callers: a mirror may help),
    ``"runs"`` (the runs limit) or ``"pending"`` (too many credits allocated to running tasks).
    """

    def __init__(
        self,
        message: str,
        *,
        scope: QuotaScope,
        requested: float | None = None,
        left: float | None = None,
        retry_after: float | None = None,
        **kw: str | None,
    ) -> None:
        self.scope = scope
        self.requested = requested
        self.left = left
        self.retry_after = retry_after
        super().__init__(message, **kw)


class SpaceAppError(SpaceError):
    """The Space's own code failed (ZeroGPU worker error, an app error). Retrying will not help."""

    def __init__(self, message: str, *, title: str | None = None, **kw: str | None) -> None:
        self.title = title
        super().__init__(f"{title}: {message}" if title and title != "Error" else message, **kw)


class GenerationTimeoutError(SpaceError, TimeoutError):
    """The call did not finish before the caller's deadline."""
