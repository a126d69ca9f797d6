"""Checking and normalising what the caller passed. Pure functions, no network: every error here is raised before
any request is sent, and names the parameter."""

from __future__ import annotations

import contextlib
import contextvars
import io
import math
import numbers
import os
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeGuard

from .errors import InvalidInputError, JanusfluxError
from .models import SEED_MAX, ModelSpec, Range

__all__ = ["Messages", "fold_conversation", "parse_aspect_ratio", "prompt_from", "resolve_size"]

Messages = Sequence[Mapping[str, Any]]
_ROLES = ("system", "user", "assistant")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*$")


def _is_int(v: object) -> TypeGuard[numbers.Integral]:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: object) -> TypeGuard[numbers.Real]:
    if not isinstance(v, numbers.Real) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond float's range
        return False


def message_text(content: Any, param: str) -> str:
    """The text of a message's content: a str, or a list of parts of which the ``text`` ones count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, Mapping) and "type" in part:
                continue  # image parts etc. are carried by `image=`
            else:
                raise InvalidInputError(param, f"unsupported content part {part!r}")
        return "\n".join(texts)
    raise InvalidInputError(param, f"content must be a str or a list of parts, got {type(content).__name__}")


def check_messages(messages: object) -> list[tuple[str, str]]:
    """Validate messages and return (role, text) pairs."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidInputError("messages",
                                f"expected a list of {{'role', 'content'}} dicts, got {type(messages).__name__}")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping):
            raise InvalidInputError("messages",
                                    f"item {i} is a {type(m).__name__}, expected a dict with role and content")
        role = m.get("role")
        if role not in _ROLES:
            raise InvalidInputError("messages", f"item {i} has role {role!r}; expected one of {', '.join(_ROLES)}")
        if "content" not in m:
            raise InvalidInputError("messages", f"item {i} has no content")
        out.append((str(role), message_text(m["content"], "messages")))
    return out


def prompt_from(prompt: object, messages: object) -> str:
    """The explicit prompt, else the trailing user messages (the G4F module's rule)."""
    if prompt is not None:
        if not isinstance(prompt, str):
            raise InvalidInputError("prompt", f"expected a str, got {type(prompt).__name__}")
        if not prompt.strip():
            raise InvalidInputError("prompt", "is empty")
        return prompt
    if messages is None:
        raise InvalidInputError("prompt", "give a prompt or messages")
    pairs = check_messages(messages)
    tail: list[str] = []
    for role, text in reversed(pairs):
        if role != "user":
            break
        tail.append(text)
    text = "\n".join(reversed(tail)).strip()
    if not text:
        raise InvalidInputError("messages", "no user message with text at the end of the conversation")
    return text


def fold_conversation(prompt: object, messages: object) -> str:
    """One question for a Space without memory: earlier turns become a transcript, the last user turn the question."""
    pairs = check_messages(messages) if messages is not None else []
    if prompt is not None:
        pairs.append(("user", prompt_from(prompt, None)))
    if not pairs:
        raise InvalidInputError("messages", "give a question (prompt) or messages")
    if not any(role == "user" and text.strip() for role, text in pairs):
        raise InvalidInputError("messages", "no user message with text")
    if len(pairs) == 1:
        return pairs[0][1]
    lines = [f"{role.capitalize()}: {text}" for role, text in pairs]
    if pairs[-1][0] != "user":
        lines.append("User: (continue)")
    return "\n".join(lines) + "\nAssistant:"


def parse_aspect_ratio(value: object) -> float:
    if not isinstance(value, str):
        raise InvalidInputError("aspect_ratio", f"expected a 'W:H' string such as '16:9', got {value!r}")
    m = _RATIO.match(value)
    if not m:
        raise InvalidInputError("aspect_ratio", f"expected 'W:H' such as '16:9', got {value!r}")
    w, h = float(m.group(1)), float(m.group(2))
    if w <= 0 or h <= 0:
        raise InvalidInputError("aspect_ratio", f"both sides must be positive, got {value!r}")
    return w / h


def _snap(param: str, value: object, rng: Range) -> int:
    if not _is_int(value):
        raise InvalidInputError(param, f"expected an int, got {value!r}")
    step = int(rng.step or 1)
    snapped = round(Fraction(int(value), step)) * step  # exact: an int too big for a float is just out of range
    if not rng.lo <= snapped <= rng.hi:
        raise InvalidInputError(param, f"{value} is outside {rng}")
    return snapped


RATIO_TOLERANCE = 0.01  # relative: explicit sizes "agree" with an aspect ratio within 1 % (before snapping)


def _ratio_text(r: float) -> str:
    """A ratio the way users write it: 4 -> '4:1', 0.25 -> '1:4', 1.5 -> '1.5:1'."""
    return f"{r:.3g}:1" if r >= 1 else f"1:{1 / r:.3g}"


def _fit(value: float, rng: Range) -> int:
    """A size derived from an aspect ratio, snapped to the step and kept inside the range."""
    step = int(rng.step or 1)
    snapped = int(round(value / step) * step)
    lo, hi = int(math.ceil(rng.lo / step) * step), int(math.floor(rng.hi / step) * step)
    return min(max(snapped, lo), hi)


def resolve_size(spec: ModelSpec, width: object, height: object, aspect_ratio: object) -> tuple[int, int] | None:
    """Width and height for the Space: explicit sizes snapped to its step, else an aspect ratio at the default area
    (or at the one size given). An aspect ratio that disagrees with explicit width and height, or that the model
    cannot make, is an error in the caller's terms (the ratio given, the range allowed); nothing is overridden."""
    if spec.fixed_size is not None:
        fw, fh = spec.fixed_size
        for name, v, fixed in (("width", width, fw), ("height", height, fh)):
            if v is not None and v != fixed:
                raise InvalidInputError(name, f"{spec.alias} makes {fw}x{fh} images only, got {v!r}")
        if aspect_ratio is not None and abs(parse_aspect_ratio(aspect_ratio) - fw / fh) > 1e-9:
            raise InvalidInputError("aspect_ratio", f"{spec.alias} makes {fw}x{fh} images only, got {aspect_ratio!r}")
        return fw, fh
    if "width" not in spec.limits:
        for name, v in (("width", width), ("height", height), ("aspect_ratio", aspect_ratio)):
            if v is not None:
                raise InvalidInputError(name, f"{spec.alias} takes no {name}")
        return None
    wr, hr = spec.limits["width"], spec.limits["height"]
    ratio = parse_aspect_ratio(aspect_ratio) if aspect_ratio is not None else None
    w = _snap("width", width, wr) if width is not None else None
    h = _snap("height", height, hr) if height is not None else None
    if ratio is None or (w is not None and h is not None):
        given = float(width) / float(height) if ratio is not None else None  # type: ignore[arg-type]
        if ratio is not None and given is not None and abs(given / ratio - 1) > RATIO_TOLERANCE:
            raise InvalidInputError("aspect_ratio", f"{aspect_ratio!r} conflicts with width={width} and "
                                                    f"height={height} ({_ratio_text(given)}): give the sizes or the "
                                                    "aspect ratio (with at most one of width/height), not both")
        return (w if w is not None else int(spec.defaults.get("width", 1024)),
                h if h is not None else int(spec.defaults.get("height", 1024)))
    if w is not None:  # the height follows the ratio
        lo, hi, at = w / hr.hi, w / hr.lo, f" at width={width}"
    elif h is not None:  # the width follows the ratio
        lo, hi, at = wr.lo / h, wr.hi / h, f" at height={height}"
    else:  # both follow the ratio, at the model's default area
        area = int(spec.defaults.get("width", 1024)) * int(spec.defaults.get("height", 1024))
        lo, hi, at = max(wr.lo ** 2 / area, area / hr.hi ** 2), min(wr.hi ** 2 / area, area / hr.lo ** 2), ""
    if not lo * (1 - 1e-9) <= ratio <= hi * (1 + 1e-9):
        raise InvalidInputError("aspect_ratio", f"{aspect_ratio!r} is outside what {spec.alias} can make{at}: from "
                                                f"{_ratio_text(lo)} to {_ratio_text(hi)} (width {wr}, height {hr})")
    if w is not None:
        return w, _fit(w / ratio, hr)
    if h is not None:
        return _fit(h * ratio, wr), h
    return _fit(math.sqrt(area * ratio), wr), _fit(math.sqrt(area / ratio), hr)


_SEED_SOURCE: contextvars.ContextVar[random.Random | None] = contextvars.ContextVar("janusflux_seed_source",
                                                                                  default=None)


@contextlib.contextmanager
def seed_source(rng: random.Random) -> Iterator[random.Random]:
    """Draw the seeds of calls made without ``seed=`` from ``rng`` inside the block (the pytest plugin uses a source
    named after the test, so a cassette recorded without ``seed=`` replays the same requests)."""
    token = _SEED_SOURCE.set(rng)
    try:
        yield rng
    finally:
        _SEED_SOURCE.reset(token)


def check_seed(seed: object, rng: random.Random | None = None) -> int:
    if seed is None:
        return (rng or _SEED_SOURCE.get() or random.SystemRandom()).randint(0, SEED_MAX)
    if not _is_int(seed):
        raise InvalidInputError("seed", f"expected an int in 0..{SEED_MAX}, got {seed!r}")
    if not 0 <= int(seed) <= SEED_MAX:
        raise InvalidInputError("seed", f"{seed} is outside 0..{SEED_MAX}")
    return int(seed)


def check_number(param: str, value: object, rng: Range, *, integer: bool = False) -> float | int:
    number: float | int
    if integer and _is_int(value):
        number = int(value)
    elif not integer and _is_real(value):
        number = float(value)
    else:
        raise InvalidInputError(param, f"expected {'an int' if integer else 'a number'} in {rng}, got {value!r}")
    if not rng.lo <= number <= rng.hi:
        raise InvalidInputError(param, f"{value} is outside {rng}")
    return number


def check_timeout(param: str, value: object) -> float | None:
    if value is None:
        return None
    if not _is_real(value) or float(value) <= 0:
        raise InvalidInputError(param, f"expected a positive number of seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ImageInput:
    """An input image made ready for upload: a local file path and, when janusflux wrote it, a flag to delete it."""

    path: str
    temporary: bool = False


_MAX_IMAGE_BYTES = 50 * 1024 * 1024


def _check_image_bytes(data: bytes, param: str) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InvalidInputError(param, f"not a readable image ({type(e).__name__})") from e


def load_image(image: object, tmpdir: str, *, param: str = "image", fetch: Any = None) -> ImageInput:
    """Accept a path, ``file://``/http(s) URL, bytes or PIL image; verify it is an image; return a file to upload."""
    import tempfile

    from PIL import Image

    def write(data: bytes) -> ImageInput:
        _check_image_bytes(data, param)
        fd, path = tempfile.mkstemp(suffix=".png", prefix="janusflux-in-", dir=tmpdir)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return ImageInput(path, temporary=True)

    if hasattr(image, "png_bytes") and hasattr(image, "data"):  # an ImageResult, e.g. from a previous generate()
        return write(bytes(image.data))
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        try:
            image.save(buf, format="PNG")
        except Exception as e:
            raise InvalidInputError(param, f"cannot encode the PIL image ({e})") from e
        return write(buf.getvalue())
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data:
            raise InvalidInputError(param, "is empty bytes")
        return write(data)
    if isinstance(image, str) and re.match(r"^https?://", image):
        if fetch is None:
            raise InvalidInputError(param, "URL images need a session to fetch them")
        try:  # the cap is applied while reading: a larger body is never read whole
            data = fetch(image, max_bytes=_MAX_IMAGE_BYTES)
        except JanusfluxError as e:
            raise InvalidInputError(param, f"cannot use the image at the URL ({e})") from e
        return write(data)
    if isinstance(image, str) and image.startswith("file://"):
        image = image[len("file://"):]
    if isinstance(image, (str, os.PathLike)):
        p = Path(image)
        if not p.is_file():
            raise InvalidInputError(param, f"no such file: {str(p)!r}")
        if p.stat().st_size > _MAX_IMAGE_BYTES:
            raise InvalidInputError(param, f"file is larger than {_MAX_IMAGE_BYTES} bytes")
        _check_image_bytes(p.read_bytes(), param)
        return ImageInput(str(p.resolve()))
    raise InvalidInputError(param, f"expected a path, URL, bytes or PIL image, got {type(image).__name__}")


def unknown_params(spec: ModelSpec, given: Mapping[str, object], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for name, value in given.items():
        if value is not None and name not in allowed:
            raise InvalidInputError(name, f"{spec.alias} takes no {name}")
