"""janusflux: FLUX.1 and Janus-Pro on Hugging Face Spaces through one call.

    import janusflux
    image = janusflux.generate("flux", "a lighthouse at dawn", aspect_ratio="16:9")
    image.save("lighthouse.png")

The module-level functions use a default :class:`Session` created on first use (and configurable with
:func:`configure`); create your own ``Session(...)`` for control.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator as _AsyncIterator
from collections.abc import Iterator as _Iterator
from typing import Any as _Any
from typing import cast as _cast

from typing_extensions import Unpack as _Unpack

from . import _tqdm_quiet  # noqa: F401 - first, before anything imports huggingface_hub
from .allowance import Quota, quota
from .errors import (
    GenerationTimeoutError,
    GPUTaskAbortedError,
    HostUnreachableError,
    HubResponseError,
    IllegalDurationError,
    InvalidInputError,
    JanusfluxError,
    NoGPUAvailableError,
    QuotaExceededError,
    SessionClosedError,
    SpaceAppError,
    SpaceBusyError,
    SpaceError,
    SpaceRefusedError,
    SpaceUnavailableError,
    UnknownModelError,
)
from .models import ModelSpec, Range, get_model, list_models, register_model, unregister_model
from .params import GenerateParams
from .results import (
    Done,
    Event,
    Fallback,
    ImageList,
    ImageResult,
    Log,
    Preview,
    Progress,
    Queued,
    Result,
    Retry,
    Started,
    TextResult,
    Waiting,
    Waking,
    Warned,
)
from .session import Session

__version__ = "0.1.0"

__all__ = [
    "Done",
    "Event",
    "Fallback",
    "GPUTaskAbortedError",
    "GenerateParams",
    "GenerationTimeoutError",
    "HostUnreachableError",
    "HubResponseError",
    "IllegalDurationError",
    "ImageList",
    "ImageResult",
    "InvalidInputError",
    "JanusfluxError",
    "Log",
    "ModelSpec",
    "NoGPUAvailableError",
    "Preview",
    "Progress",
    "Queued",
    "Quota",
    "QuotaExceededError",
    "Range",
    "Result",
    "Retry",
    "Session",
    "SessionClosedError",
    "SpaceAppError",
    "SpaceBusyError",
    "SpaceError",
    "SpaceRefusedError",
    "SpaceUnavailableError",
    "Started",
    "TextResult",
    "UnknownModelError",
    "Waiting",
    "Waking",
    "Warned",
    "__version__",
    "agenerate",
    "astream",
    "close",
    "configure",
    "default_session",
    "generate",
    "get_model",
    "list_models",
    "quota",
    "register_model",
    "stream",
    "unregister_model",
]

_default: Session | None = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """The session behind the module-level functions (created on first use, from the environment). With
    ``JANUSFLUX_LOCAL=1`` it runs on the bundled local twins, started then and stopped by :func:`close` or at exit
    (:func:`janusflux.local.start_local_session`)."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            from .local import local_requested, start_local_session

            _default = start_local_session() if local_requested() else Session()
        return _default


def configure(**options: _Any) -> Session:
    """Replace the default session with ``Session(**options)`` (the old one is closed)."""
    global _default
    new = Session(**options)
    with _default_lock:
        old, _default = _default, new
    if old is not None:
        old.close()
    return new


def close() -> None:
    """Close the default session (a new one is made on the next call)."""
    global _default
    with _default_lock:
        old, _default = _default, None
    if old is not None:
        old.close()


def generate(model: str | ModelSpec = "flux", prompt: str | None = None, **params: _Unpack[GenerateParams]) -> Result:
    """Run ``model`` (an alias such as ``"flux"``, ``"flux-schnell"``, ``"janus-pro-7b"``) and return its result.

    Text-to-image models return an :class:`ImageResult` (Janus text-to-image: an :class:`ImageList` of 5); the vision
    chat model returns a :class:`TextResult`. ``prompt`` defaults to the trailing user ``messages``; ``image`` (path,
    URL, bytes or PIL image) is what Janus is asked about. Sizes are snapped to the Space's step; ``seed`` is drawn
    when absent and the seed used is reported. Invalid input raises :class:`InvalidInputError` before any request.
    The parameters are those of :class:`GenerateParams`; a None value means "not given".
    """
    return default_session().generate(model, prompt, **_given(params))


async def agenerate(model: str | ModelSpec = "flux", prompt: str | None = None,
                    **params: _Unpack[GenerateParams]) -> Result:
    """Async :func:`generate`."""
    return await default_session().agenerate(model, prompt, **_given(params))


def stream(model: str | ModelSpec = "flux", prompt: str | None = None,
           **params: _Unpack[GenerateParams]) -> _Iterator[Event]:
    """:func:`generate` as a stream of events (queued, progress, previews, logs, waits, retries, fallbacks),
    ending with :class:`Done` whose ``result`` is the result."""
    return default_session().stream(model, prompt, **_given(params))


def astream(model: str | ModelSpec = "flux", prompt: str | None = None,
            **params: _Unpack[GenerateParams]) -> _AsyncIterator[Event]:
    """Async :func:`stream`."""
    return default_session().astream(model, prompt, **_given(params))


def _given(params: GenerateParams) -> GenerateParams:
    return _cast(GenerateParams, {k: v for k, v in params.items() if v is not None})
