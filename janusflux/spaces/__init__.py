"""Space adapters: pure mapping of janusflux's unified inputs to an endpoint's arguments, and of its outputs to
results. No I/O here: the session checks the call, loads input images and does the calling.

A family module provides ``prepare(spec, params) -> Prepared`` and ``parse(spec, prepared, output, ctx)``, and
optionally ``preview(spec, prepared, output, ctx)`` for generator endpoints' intermediate outputs. Optional hook:
``bind(spec, api_info) -> ModelSpec`` with ``check(params)`` (a Space mapped from its API info: ``prepare`` runs once
bound).
"""

from __future__ import annotations

from types import ModuleType

from ..errors import InvalidInputError
from . import auto, flux, janus
from ._base import Context, Prepared

__all__ = ["Context", "Prepared", "get_adapter"]

_FAMILIES: dict[str, ModuleType] = {
    "flux": flux,
    "janus-chat": janus.chat,  # type: ignore[dict-item]
    "janus-image": janus.image,  # type: ignore[dict-item]
    "auto": auto,
}


def get_adapter(family: str) -> ModuleType:
    try:
        return _FAMILIES[family]
    except KeyError:
        raise InvalidInputError("family", f"unknown adapter family {family!r}; known: {', '.join(_FAMILIES)}") from None
