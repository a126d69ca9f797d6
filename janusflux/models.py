"""The model registry: an alias is a row of data, not a class.

A :class:`ModelSpec` says which Spaces serve a model (official first, then mirrors, in fallback order), which endpoint
to call, how janusflux's unified parameters map onto the endpoint's arguments (in the endpoint's order), and the
limits that are checked before any request is sent. Families (``flux``, ``janus-chat``, ``janus-image``, ``auto``)
name the adapter in :mod:`janusflux.spaces` that turns a unified request into arguments and the output into a result.
"""

from __future__ import annotations

import dataclasses
import difflib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import InvalidInputError, UnknownModelError

__all__ = ["ModelSpec", "Range", "get_model", "list_models", "register_model", "unregister_model"]

Kind = Literal["text-to-image", "vision-chat"]
SEED_MAX = 2_147_483_647


@dataclass(frozen=True)
class Range:
    """An inclusive numeric range with a step, as a Gradio slider declares it."""

    lo: float
    hi: float
    step: float | None = None

    def __str__(self) -> str:
        def fmt(v: float) -> str:
            return str(int(v)) if float(v).is_integer() else f"{v:g}"

        step = f" step {fmt(self.step)}" if self.step else ""
        return f"{fmt(self.lo)}..{fmt(self.hi)}{step}"


@dataclass(frozen=True)
class ModelSpec:
    """Everything janusflux knows about one model alias.

    ``args`` lists the endpoint's parameters in order as ``(endpoint_parameter, source)`` pairs, where source is a
    unified field (``prompt``, ``seed``, ``width``, ``height``, ``steps``, ``guidance``, ``temperature``, ``top_p``,
    ``image``, ``question``) or ``"=<python literal>"`` for a constant. ``dedicated`` names the Spaces of
    ``spaces`` that run on dedicated hardware (no ZeroGPU): they get no ZeroGPU headers, and a ZeroGPU quota wall
    switches to them instead of waiting (a session adds the user's replicas here: :mod:`janusflux.replicas`).
    """

    alias: str
    kind: Kind
    family: str
    spaces: tuple[str, ...]
    api_name: str
    args: tuple[tuple[str, str], ...] = ()
    limits: Mapping[str, Range] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    zerogpu_duration: int | None = None
    fixed_size: tuple[int, int] | None = None
    description: str = ""
    dedicated: frozenset[str] = frozenset()  # Spaces of `spaces` on dedicated hardware (the user's replicas)

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed, e.g. ``spec.replace(spaces=("http://127.0.0.1:7860",))``."""
        if "spaces" in changes:
            changes["spaces"] = tuple(changes["spaces"])
        if "dedicated" in changes:
            changes["dedicated"] = frozenset(changes["dedicated"])
        return dataclasses.replace(self, **changes)

    @property
    def accepts(self) -> frozenset[str]:
        """The unified parameters this model takes."""
        return frozenset(src for _, src in self.args if not src.startswith("="))


_SIZE = Range(256, 2048, 32)
_SEED = Range(0, SEED_MAX, 1)

FLUX_DEV = ModelSpec(
    alias="flux-dev",
    kind="text-to-image",
    family="flux",
    spaces=("black-forest-labs/FLUX.1-dev", "roxky/FLUX.1-dev"),
    api_name="/infer",
    args=(
        ("prompt", "prompt"),
        ("seed", "seed"),
        ("randomize_seed", "=False"),
        ("width", "width"),
        ("height", "height"),
        ("guidance_scale", "guidance"),
        ("num_inference_steps", "steps"),
    ),
    limits={"width": _SIZE, "height": _SIZE, "seed": _SEED, "guidance": Range(1, 15, 0.1), "steps": Range(1, 50, 1)},
    defaults={"width": 1024, "height": 1024, "guidance": 3.5, "steps": 28},
    zerogpu_duration=75,
    description="FLUX.1 [dev], 12B text-to-image; yields a preview per step",
)

FLUX_SCHNELL = ModelSpec(
    alias="flux-schnell",
    kind="text-to-image",
    family="flux",
    spaces=("black-forest-labs/FLUX.1-schnell",),
    api_name="/infer",
    args=(
        ("prompt", "prompt"),
        ("seed", "seed"),
        ("randomize_seed", "=False"),
        ("width", "width"),
        ("height", "height"),
        ("num_inference_steps", "steps"),
    ),
    limits={"width": _SIZE, "height": _SIZE, "seed": _SEED, "steps": Range(1, 50, 1)},
    defaults={"width": 1024, "height": 1024, "steps": 4},
    zerogpu_duration=60,
    description="FLUX.1 [schnell], few-step text-to-image",
)

JANUS_CHAT = ModelSpec(
    alias="janus-pro-7b",
    kind="vision-chat",
    family="janus-chat",
    spaces=("deepseek-ai/Janus-Pro-7B", "roxky/Janus-Pro-7B"),
    api_name="/multimodal_understanding",
    args=(("image", "image"), ("question", "question"), ("seed", "seed"), ("top_p", "top_p"),
          ("temperature", "temperature")),
    limits={"seed": _SEED, "top_p": Range(0, 1, 0.05), "temperature": Range(0, 1, 0.05)},
    defaults={"top_p": 0.95, "temperature": 0.1},
    zerogpu_duration=120,
    description="Janus-Pro-7B image understanding: answers a question about an image",
)

JANUS_IMAGE = ModelSpec(
    alias="janus-pro-7b-image",
    kind="text-to-image",
    family="janus-image",
    spaces=("deepseek-ai/Janus-Pro-7B", "roxky/Janus-Pro-7B"),
    api_name="/generate_image",
    args=(("prompt", "prompt"), ("seed", "seed"), ("guidance", "guidance"), ("t2i_temperature", "temperature")),
    limits={"seed": _SEED, "guidance": Range(1, 10, 0.5), "temperature": Range(0, 1, 0.05)},
    defaults={"guidance": 5.0, "temperature": 1.0},
    zerogpu_duration=120,
    fixed_size=(768, 768),
    description="Janus-Pro-7B text-to-image: a gallery of 5 images of 768x768",
)

_BUILTIN: dict[str, ModelSpec] = {s.alias: s for s in (FLUX_DEV, FLUX_SCHNELL, JANUS_CHAT, JANUS_IMAGE)}
_BUILTIN["flux"] = FLUX_DEV.replace(alias="flux")
_BUILTIN["janus"] = JANUS_CHAT.replace(alias="janus")
_BUILTIN["janus-pro"] = JANUS_CHAT.replace(alias="janus-pro")

_lock = threading.Lock()
_registry: dict[str, ModelSpec] = dict(_BUILTIN)


def list_models() -> dict[str, ModelSpec]:
    """A snapshot of the registry, alias → spec."""
    with _lock:
        return dict(_registry)


def get_model(alias: str | ModelSpec) -> ModelSpec:
    """Look an alias up (case-insensitive); an unknown one raises :class:`UnknownModelError` with close matches."""
    if isinstance(alias, ModelSpec):
        return alias
    if not isinstance(alias, str) or not alias.strip():
        raise InvalidInputError("model", f"expected a model alias (str), got {alias!r}")
    key = alias.strip().lower()
    with _lock:
        spec = _registry.get(key)
        known = sorted(_registry)
    if spec is None:
        raise UnknownModelError(alias, difflib.get_close_matches(key, known, n=3, cutoff=0.5), known)
    return spec


def register_model(
    alias: str,
    spec: ModelSpec | None = None,
    *,
    like: str | None = None,
    spaces: tuple[str, ...] | list[str] | str | None = None,
    api_name: str | None = None,
    replace: bool = False,
) -> ModelSpec:
    """Add an alias to the registry and return its spec.

    - ``register_model("mine", spec)`` registers a full spec.
    - ``register_model("my-flux", like="flux-dev", spaces=["me/FLUX.1-dev"])`` copies an existing alias onto other
      Spaces or URLs (a twin, your duplicate, a dedicated endpoint).
    - ``register_model("sdxl", spaces="someone/sdxl-space")`` registers any text-to-image Space by id: its endpoint
      and parameters are mapped by name from the Space's API info on first use (family ``auto``).
    """
    if not isinstance(alias, str) or not alias.strip():
        raise InvalidInputError("alias", f"expected a non-empty str, got {alias!r}")
    key = alias.strip().lower()
    if isinstance(spaces, str):
        spaces = (spaces,)
    if spaces is not None and (not spaces or not all(isinstance(s, str) and s.strip() for s in spaces)):
        raise InvalidInputError("spaces", "expected one or more Space ids or URLs")
    if spec is None:
        if like is not None:
            spec = get_model(like).replace(alias=key)
        elif spaces:
            spec = ModelSpec(alias=key, kind="text-to-image", family="auto", spaces=tuple(spaces),
                             api_name=api_name or "", limits={"seed": _SEED},
                             description="text-to-image Space mapped by parameter names")
        else:
            raise InvalidInputError("spec", "give a ModelSpec, like=<alias>, or spaces=<Space id or URL>")
    changes: dict[str, Any] = {"alias": key}
    if spaces:
        changes["spaces"] = tuple(spaces)
    if api_name:
        changes["api_name"] = api_name
    spec = spec.replace(**changes)
    with _lock:
        if key in _registry and not replace and _registry[key] != spec:
            raise InvalidInputError("alias", f"{key!r} is already registered (pass replace=True)")
        _registry[key] = spec
    return spec


def unregister_model(alias: str) -> None:
    """Remove a user-registered alias (built-in ones are restored to their defaults)."""
    key = alias.strip().lower()
    with _lock:
        if key in _BUILTIN:
            _registry[key] = _BUILTIN[key]
        else:
            _registry.pop(key, None)
