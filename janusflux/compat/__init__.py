"""Compatibility front doors for code written against older interfaces.

- :mod:`janusflux.compat.g4f`: the documented ``G4F`` / ``FluxDev`` async generators (``create_async_generator``).
"""

from __future__ import annotations

from .g4f import G4F, FluxDev, ImagePreview, ImageResponse, Reasoning, ResponseType

__all__ = ["G4F", "FluxDev", "ImagePreview", "ImageResponse", "Reasoning", "ResponseType"]
