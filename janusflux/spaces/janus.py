"""Janus-Pro-7B: ``/multimodal_understanding(image, question, seed, top_p, temperature) -> str`` and
``/generate_image(prompt, seed, guidance, t2i_temperature) -> gallery of 5``.

The Space has no memory, so a conversation is folded into one question. The endpoint requires an image: a chat
without one is an InvalidInputError("image") before any request (nothing is sent in its place).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from ..errors import SpaceAppError
from ..inputs import check_seed, fold_conversation, prompt_from, resolve_size
from ..models import ModelSpec
from ..results import ImageList, TextResult
from ._base import Context, Prepared, check_known, constant, image_result, numeric, require_image

CHAT_SEED = 42  # the Space's default seed for understanding


def _chat_prepare(spec: ModelSpec, params: Mapping[str, Any]) -> Prepared:
    check_known(spec, params)
    question = fold_conversation(params.get("prompt"), params.get("messages"))
    seed = check_seed(params["seed"]) if params.get("seed") is not None else CHAT_SEED
    top_p, temperature = numeric(spec, params, "top_p"), numeric(spec, params, "temperature")
    image = require_image(spec, params.get("image"))  # an ImageInput, loaded by the session
    values = {"question": question, "seed": seed, "image": image.path, "top_p": top_p, "temperature": temperature}
    args = tuple(constant(src) if src.startswith("=") else values[src] for _, src in spec.args)
    uploads = {i: values["image"] for i, (_, src) in enumerate(spec.args) if src == "image"}
    return Prepared(spec, args, meta={"question": question, "seed": seed, "prompt": question}, upload_paths=uploads)


def _chat_parse(spec: ModelSpec, prepared: Prepared, output: Any, ctx: Context) -> TextResult:
    if isinstance(output, (list, tuple)) and len(output) == 1:
        output = output[0]
    if not isinstance(output, str):
        raise SpaceAppError(f"unexpected output {type(output).__name__}, expected text", title=spec.api_name)
    m = prepared.meta
    return TextResult(output, model=spec.alias, seed=m.get("seed"), question=m.get("question"),
                      space_id=m.get("space_id"))


def _image_prepare(spec: ModelSpec, params: Mapping[str, Any]) -> Prepared:
    check_known(spec, params)
    prompt = prompt_from(params.get("prompt"), params.get("messages"))
    size = resolve_size(spec, params.get("width"), params.get("height"), params.get("aspect_ratio"))
    values: dict[str, Any] = {"prompt": prompt, "seed": check_seed(params.get("seed")),
                              "guidance": numeric(spec, params, "guidance"),
                              "temperature": numeric(spec, params, "temperature")}
    if size:
        values["width"], values["height"] = size
    args = tuple(constant(src) if src.startswith("=") else values[src] for _, src in spec.args)
    return Prepared(spec, args, meta=values)


def _image_parse(spec: ModelSpec, prepared: Prepared, output: Any, ctx: Context) -> ImageList:
    if isinstance(output, tuple) and len(output) == 1:
        output = output[0]
    if not isinstance(output, list):
        raise SpaceAppError(f"unexpected output {type(output).__name__}, expected a gallery", title=spec.api_name)
    images = ImageList()
    for i, item in enumerate(output):
        value = item.get("image") if isinstance(item, Mapping) and "image" in item else item
        images.append(image_result(spec, prepared, value, ctx, index=i))
    return images


chat = SimpleNamespace(prepare=_chat_prepare, parse=_chat_parse, preview=None)
image = SimpleNamespace(prepare=_image_prepare, parse=_image_parse, preview=None)
