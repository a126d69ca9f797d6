"""What adapters share: the prepared call and the context the session hands them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError, SpaceRefusedError
from ..inputs import check_number, check_seed, unknown_params
from ..models import ModelSpec
from ..origins import origin_of
from ..params import UNIFIED
from ..results import ImageResult


@dataclass
class Context:
    """Session services an adapter may use: fetching bytes of a result file, a temp folder for inputs, and the URL
    of the Space connection whose outputs are parsed (file outputs must be on its origin)."""

    fetch: Callable[..., bytes]
    tmpdir: str
    cache_dir: str | None = None
    space_url: str | None = None


@dataclass
class Prepared:
    """A validated call: the endpoint arguments in order, and what the result should remember."""

    spec: ModelSpec
    args: tuple[Any, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    upload_paths: dict[int, str] = field(default_factory=dict)  # arg index -> local file to send with handle_file


def constant(src: str) -> Any:
    import ast

    return ast.literal_eval(src[1:])


def check_known(spec: ModelSpec, params: Mapping[str, Any], extra: tuple[str, ...] = ()) -> None:
    allowed = set(spec.accepts) | {"prompt", "messages"} | set(extra)
    if "width" in spec.accepts or spec.fixed_size:
        allowed |= {"width", "height", "aspect_ratio"}
    unknown_params(spec, {k: v for k, v in params.items() if k in UNIFIED}, allowed)


def require_image(spec: ModelSpec, image: Any) -> Any:
    """The image of a vision chat, which needs one: nothing is sent in its place."""
    if image is None:
        raise InvalidInputError("image", f"{spec.alias} answers questions about an image and none was given: pass "
                                         "image= (a path, URL, bytes or PIL image; --image FILE on the command line)")
    return image


def numeric(spec: ModelSpec, params: Mapping[str, Any], name: str) -> Any:
    """A unified numeric parameter checked against the spec's range, or the spec's default."""
    value = params.get(name)
    if value is None:
        return spec.defaults.get(name)
    if name == "seed":
        return check_seed(value)
    rng = spec.limits.get(name)
    if rng is None:
        raise InvalidInputError(name, f"{spec.alias} takes no {name}")
    return check_number(name, value, rng, integer=name == "steps")


def file_url(value: Any, where: str, space_url: str | None) -> str:
    """The URL of a file output of gradio_client (download_files=False gives a dict with 'url' and 'path'). It must
    be an http(s) URL on the Space's origin: a local path, or a URL elsewhere, is never read on a Space's word."""
    url = value.get("url") if isinstance(value, Mapping) else value if isinstance(value, str) else None
    if not isinstance(url, str):
        shape = "a file without a URL" if isinstance(value, Mapping) else type(value).__name__
        raise SpaceRefusedError(f"unexpected output from the Space: {shape} where a file URL was expected",
                                why="not a URL", endpoint=where)
    origin = origin_of(url)
    if origin is None:
        raise SpaceRefusedError("the Space answered a local path or a non-http URL where a file URL was expected",
                                why="local file", endpoint=where)
    if space_url is not None and origin != origin_of(space_url):
        raise SpaceRefusedError(f"the Space's file URL is on another origin ({origin[0]}://{origin[1]}:{origin[2]})",
                                why="other origin", endpoint=where)
    return url


def image_result(spec: ModelSpec, prepared: Prepared, value: Any, ctx: Context, **kw: Any) -> ImageResult:
    url = file_url(value, spec.api_name, ctx.space_url)
    meta = {**prepared.meta, **kw}
    return ImageResult(url=url, fetch=ctx.fetch, cache_dir=ctx.cache_dir,
                       model=spec.alias, prompt=meta.get("prompt"), seed=meta.get("seed"),
                       width=meta.get("width"), height=meta.get("height"), index=meta.get("index"),
                       space_id=meta.get("space_id"))
