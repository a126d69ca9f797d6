"""Any text-to-image Space, mapped by parameter names from its API info (``register_model(alias, spaces=...)``).

The adapter hook ``bind(spec, api_info)`` (the session calls it with the Space's API info before ``prepare``) picks
the endpoint (the spec's api_name, else the first named endpoint with a prompt-like parameter), maps known parameter
names onto unified ones and keeps the Space's defaults for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import SpaceAppError
from ..inputs import prompt_from
from ..models import ModelSpec, Range
from . import flux
from ._base import Prepared

_NAMES = {
    "prompt": "prompt", "text": "prompt", "input": "prompt", "caption": "prompt",
    "seed": "seed", "width": "width", "height": "height",
    "guidance_scale": "guidance", "guidance": "guidance", "cfg": "guidance", "cfg_scale": "guidance",
    "num_inference_steps": "steps", "steps": "steps", "inference_steps": "steps",
}


def bind(spec: ModelSpec, api_info: Mapping[str, Any]) -> ModelSpec:
    endpoints: Mapping[str, Any] = api_info.get("named_endpoints", {})
    name = spec.api_name or next(
        (n for n, e in endpoints.items()
         if any(_NAMES.get(p.get("parameter_name", "")) == "prompt" for p in e.get("parameters", []))), None)
    if not name or name not in endpoints:
        raise SpaceAppError(f"no text-to-image endpoint found among {sorted(endpoints)}", title="auto mapping")
    args: list[tuple[str, str]] = []
    limits: dict[str, Range] = dict(spec.limits)
    defaults: dict[str, Any] = {}
    for p in endpoints[name].get("parameters", []):
        pname = p.get("parameter_name") or p.get("label") or ""
        unified = _NAMES.get(pname.lower())
        if pname.lower() == "randomize_seed":
            args.append((pname, "=False"))
        elif unified:
            args.append((pname, unified))
            if p.get("parameter_has_default") and unified != "seed":
                defaults[unified] = p.get("parameter_default")
            if unified in ("width", "height"):
                limits.setdefault(unified, Range(64, 4096, 8))
            if unified in ("guidance", "steps"):
                limits.setdefault(unified, Range(0, 1000, 1 if unified == "steps" else None))
        elif p.get("parameter_has_default"):
            args.append((pname, "=" + repr(p.get("parameter_default"))))
        else:
            raise SpaceAppError(f"cannot map required parameter {pname!r} of {name}", title="auto mapping")
    return spec.replace(family="flux", api_name=name, args=tuple(args), limits=limits,
                        defaults={**defaults, **spec.defaults})


def check(params: Mapping[str, Any]) -> None:
    """What can be checked before the Space's API info is read (the sizes are checked once bound)."""
    prompt_from(params.get("prompt"), params.get("messages"))


def prepare(spec: ModelSpec, params: Mapping[str, Any]) -> Prepared:
    return flux.prepare(spec, params)


parse = flux.parse
preview = flux.preview
