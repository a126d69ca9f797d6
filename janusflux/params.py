"""The one parameter set of a call: every list of parameter names in janusflux derives from :class:`GenerateParams`.

``Session.generate(model, prompt, **params)`` and the module-level ``janusflux.generate`` take these keywords (typed
with ``Unpack[GenerateParams]``); the adapters' unified names, the batch columns and the G4F pass-through come from
the tuples below.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["ACCEPTED", "CALL_OPTIONS", "IMAGE_SETTINGS", "MODEL_PARAMS", "UNIFIED", "GenerateParams"]


class GenerateParams(TypedDict, total=False):
    """The keyword parameters of ``generate`` / ``agenerate`` / ``stream`` / ``astream`` (all optional)."""

    messages: Any  # a chat: [{"role": ..., "content": ...}]; the prompt defaults to the last user message
    image: Any  # path, URL, bytes, PIL image or an ImageResult (what Janus is asked about)
    seed: int | None
    aspect_ratio: str | None
    width: int | None
    height: int | None
    steps: int | None
    guidance: float | None
    temperature: float | None
    top_p: float | None
    timeout: float | None  # this call's deadline, seconds (default: the session's)
    max_wait: float | None  # seconds this call may spend waiting (default: the session's)
    zerogpu_token: str | None  # this call's ZeroGPU identity, instead of the session's (a secret)
    zerogpu_uuid: str | None


#: Options of the call itself (deadline, waits, ZeroGPU identity), as opposed to the model's inputs.
CALL_OPTIONS = ("timeout", "max_wait", "zerogpu_token", "zerogpu_uuid")
#: The model inputs, in declaration order.
MODEL_PARAMS = tuple(name for name in GenerateParams.__annotations__ if name not in CALL_OPTIONS)
#: What adapters map onto an endpoint's arguments.
UNIFIED = ("prompt", *MODEL_PARAMS)
#: Every name ``generate`` accepts (``prompt`` included).
ACCEPTED = frozenset(UNIFIED) | frozenset(CALL_OPTIONS)
#: The per-item image settings a batch manifest may carry (one value per row, no chat, no input image).
IMAGE_SETTINGS = tuple(n for n in MODEL_PARAMS if n not in ("messages", "image", "temperature", "top_p"))
