"""FLUX.1-dev and FLUX.1-schnell: ``/infer(prompt, seed, randomize_seed, width, height[, guidance_scale],
num_inference_steps) -> (image, seed)``. janusflux draws the seed itself (randomize_seed=False) so the result
reports it; it still reads the seed the Space says it used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..inputs import check_seed, prompt_from, resolve_size
from ..models import ModelSpec
from ..results import ImageResult
from ._base import Context, Prepared, check_known, constant, image_result, numeric


def prepare(spec: ModelSpec, params: Mapping[str, Any]) -> Prepared:
    check_known(spec, params)
    prompt = prompt_from(params.get("prompt"), params.get("messages"))
    size = resolve_size(spec, params.get("width"), params.get("height"), params.get("aspect_ratio"))
    values: dict[str, Any] = {"prompt": prompt, "seed": check_seed(params.get("seed"))}
    if size:
        values["width"], values["height"] = size
    for name in ("steps", "guidance"):
        if name in spec.accepts:
            values[name] = numeric(spec, params, name)
    args = tuple(constant(src) if src.startswith("=") else values[src] for _, src in spec.args)
    return Prepared(spec, args, meta=values)


def _seed_of(output: Any, fallback: Any) -> Any:
    if isinstance(output, (list, tuple)) and len(output) > 1:
        try:
            return int(output[1])
        except (TypeError, ValueError):
            return fallback
    return fallback


def parse(spec: ModelSpec, prepared: Prepared, output: Any, ctx: Context) -> ImageResult:
    image = output[0] if isinstance(output, (list, tuple)) else output
    return image_result(spec, prepared, image, ctx, seed=_seed_of(output, prepared.meta.get("seed")))


def preview(spec: ModelSpec, prepared: Prepared, output: Any, ctx: Context) -> ImageResult | None:
    image = output[0] if isinstance(output, (list, tuple)) else output
    if image is None:
        return None
    return image_result(spec, prepared, image, ctx)
