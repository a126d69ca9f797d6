"""Validate once: a call's model, prompt and parameters checked and normalised into one :class:`Request` before any
request is sent. Input files are loaded here, so adapters only map the request onto the endpoint's arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError
from ..inputs import check_timeout, load_image
from ..models import ModelSpec, get_model
from ..params import ACCEPTED, CALL_OPTIONS
from ..spaces import Context, Prepared, get_adapter
from .credentials import Secret, check_token

__all__ = ["Request", "build_request"]


@dataclass
class Request:
    """One checked call. ``prepared`` is None for an adapter that binds the Space by its API info first."""

    spec: ModelSpec
    params: dict[str, Any]  # the unified inputs (prompt included, input images loaded)
    prepared: Prepared | None
    timeout: float | None = None  # None: the session's
    max_wait: float | None = None  # None: the session's
    zerogpu_token: Secret | None = None  # this call's ZeroGPU identity, None: the session's
    zerogpu_uuid: str | None = None


def build_request(model: str | ModelSpec, prompt: str | None, params: Mapping[str, Any], ctx: Context) -> Request:
    """Check the call and prepare the endpoint's arguments (InvalidInputError naming the parameter on bad input)."""
    spec = get_model(model)
    for name in params:
        if name not in ACCEPTED:
            raise InvalidInputError(name, f"unknown parameter; generate() takes {', '.join(sorted(ACCEPTED))}")
    timeout = check_timeout("timeout", params.get("timeout"))
    max_wait = check_timeout("max_wait", params["max_wait"]) if params.get("max_wait") is not None else None
    token = check_token(params.get("zerogpu_token"), "zerogpu_token")
    uuid = params.get("zerogpu_uuid")
    if uuid is not None and (not isinstance(uuid, str) or not uuid.strip()):
        raise InvalidInputError("zerogpu_uuid", f"expected a non-empty str, got {type(uuid).__name__}")
    unified = {k: v for k, v in params.items() if k not in CALL_OPTIONS}
    unified["prompt"] = prompt
    adapter = get_adapter(spec.family)
    if unified.get("image") is not None and any(src == "image" for _, src in spec.args):  # the endpoint takes one
        unified["image"] = load_image(unified["image"], ctx.tmpdir, fetch=ctx.fetch)
    bind = getattr(adapter, "bind", None)
    if bind is not None:  # mapped (and its sizes checked) once the Space's API info is read
        adapter.check(unified)
        prepared = None
    else:
        prepared = adapter.prepare(spec, unified)
    return Request(spec, unified, prepared, timeout=timeout, max_wait=max_wait,
                   zerogpu_token=Secret(token) if token else None, zerogpu_uuid=uuid)
