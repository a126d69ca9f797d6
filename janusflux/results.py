"""Results and progress events.

An :class:`ImageResult` keeps the Space's file reference and downloads the bytes only when first needed (``.path``,
``.image``, ``.data``, ``save()`` or display in Jupyter). A :class:`TextResult` is a ``str``. A stream yields
:class:`Event` objects and ends with :class:`Done` carrying the result.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import ResultError, ResultGoneError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = [
    "Done", "Event", "Fallback", "ImageList", "ImageResult", "Log", "Preview", "Progress", "Queued", "Result",
    "Retry", "Started", "TextResult", "Waiting", "Waking", "Warned",
]

Fetch = Callable[[str], bytes]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write bytes to ``path`` through a temporary file in the same folder and a rename: never a partial file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved image gets the usual permissions
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target


class ImageResult:
    """One generated image, loaded lazily.

    Attributes: ``url`` (where the Space serves it, or None), ``seed``, ``model``, ``space_id``, ``prompt``,
    ``width``/``height`` (as requested), ``timings`` (seconds: ``queued``, ``total``), ``index`` (in a gallery).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        path: str | None = None,
        fetch: Fetch | None = None,
        seed: int | None = None,
        model: str | None = None,
        space_id: str | None = None,
        prompt: str | None = None,
        width: int | None = None,
        height: int | None = None,
        timings: dict[str, float] | None = None,
        index: int | None = None,
        cache_dir: str | None = None,
    ) -> None:
        if url is None and path is None:
            raise ResultError("an ImageResult needs a url or a path")
        self.url = url
        self._path = path
        self._fetch = fetch
        self._data: bytes | None = None
        self._lock = threading.Lock()
        self._cache_dir = cache_dir
        self.seed = seed
        self.model = model
        self.space_id = space_id
        self.prompt = prompt
        self.width = width
        self.height = height
        self.timings = dict(timings or {})
        self.index = index

    # -- bytes, lazily -------------------------------------------------------------------------------------------
    @property
    def data(self) -> bytes:
        """The image file's bytes as the Space sent them (downloaded on first use)."""
        with self._lock:
            if self._data is None:
                if self._path is not None and os.path.exists(self._path):
                    self._data = Path(self._path).read_bytes()
                elif self.url is not None and self._fetch is not None:
                    self._data = self._fetch(self.url)
                else:
                    raise ResultGoneError(f"image is no longer available: {self.url or self._path}")
            return self._data

    @property
    def path(self) -> str:
        """A local file holding the image (downloaded into the session's cache folder on first use)."""
        if self._path is None or not os.path.exists(self._path):
            data = self.data
            folder = self._cache_dir or tempfile.gettempdir()
            name = os.path.basename((self.url or "image.webp").split("?")[0]) or "image.webp"
            stem = f"janusflux-{self.space_id or 'space'}-{self.seed}-{self.index or 0}".replace("/", "_")
            self._path = str(atomic_write(Path(folder) / f"{stem}-{name}", data))
        return self._path

    @property
    def image(self) -> PILImage.Image:
        """The image as a PIL image (decoded on each access; cheap to keep the bytes)."""
        from PIL import Image

        im = Image.open(io.BytesIO(self.data))
        im.load()
        return im

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    def metadata(self) -> dict[str, str]:
        meta = {"prompt": self.prompt, "seed": self.seed, "model": self.model, "space": self.space_id,
                "software": "janusflux"}
        return {k: str(v) for k, v in meta.items() if v is not None}

    def png_bytes(self) -> bytes:
        """The image re-encoded as PNG with text metadata (prompt, seed, model, Space)."""
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        for k, v in self.metadata().items():
            info.add_text(k, v)
        buf = io.BytesIO()
        self.image.save(buf, format="PNG", pnginfo=info)
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Write the image atomically. ``.png`` (the default for unknown suffixes) keeps prompt/seed/model/Space as
        PNG text chunks; other suffixes (``.webp``, ``.jpg``) are encoded by PIL."""
        target = Path(path)
        fmt = (format or target.suffix.lstrip(".") or "png").lower()
        if fmt == "png":
            data = self.png_bytes()
        else:
            buf = io.BytesIO()
            im = self.image
            if fmt in ("jpg", "jpeg") and im.mode not in ("RGB", "L"):
                im = im.convert("RGB")
            im.save(buf, format="JPEG" if fmt in ("jpg", "jpeg") else fmt.upper())
            data = buf.getvalue()
        return atomic_write(target, data)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "image", "url": self.url, "path": self._path, "seed": self.seed, "model": self.model,
                "space_id": self.space_id, "prompt": self.prompt, "width": self.width, "height": self.height,
                "timings": self.timings}

    # -- display ---------------------------------------------------------------------------------------------------
    def _repr_png_(self) -> bytes:
        return self.png_bytes()

    def __repr__(self) -> str:
        where = self.url or self._path
        return (f"ImageResult(model={self.model!r}, space_id={self.space_id!r}, seed={self.seed!r}, "
                f"size={self.width}x{self.height}, prompt={_short(self.prompt)!r}, timings={self.timings!r}, "
                f"source={where!r})")


class ImageList(list):  # type: ignore[type-arg]
    """The images of a gallery (Janus text-to-image returns 5). Shows itself as a row of images in Jupyter."""

    @property
    def seed(self) -> int | None:
        return self[0].seed if self else None

    def save(self, folder: str | os.PathLike[str], stem: str = "image") -> list[Path]:
        return [img.save(Path(folder) / f"{stem}-{i}.png") for i, img in enumerate(self)]

    def _repr_html_(self) -> str:
        import base64

        cells = "".join(
            f'<img style="max-width:19%;margin:2px" src="data:image/png;base64,'
            f'{base64.b64encode(img.png_bytes()).decode()}"/>' for img in self)
        return f"<div>{cells}</div>"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "images", "images": [i.to_dict() for i in self]}


class TextResult(str):
    """The answer of a chat model: a ``str`` with ``model``, ``space_id``, ``seed``, ``question`` and ``timings``."""

    model: str | None
    space_id: str | None
    seed: int | None
    question: str | None
    timings: dict[str, float]

    def __new__(cls, text: str, *, model: str | None = None, space_id: str | None = None, seed: int | None = None,
                question: str | None = None, timings: dict[str, float] | None = None) -> TextResult:
        obj = super().__new__(cls, text)
        obj.model, obj.space_id, obj.seed, obj.question = model, space_id, seed, question
        obj.timings = dict(timings or {})
        return obj

    @property
    def text(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return (f"TextResult({_short(str(self), 60)!r}, model={self.model!r}, space_id={self.space_id!r}, "
                f"seed={self.seed!r}, timings={self.timings!r})")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "text", "text": str(self), "model": self.model, "space_id": self.space_id,
                "seed": self.seed, "timings": self.timings}


Result = ImageResult | ImageList | TextResult


def _short(s: str | None, n: int = 40) -> str | None:
    return s if s is None or len(s) <= n else s[: n - 1] + "…"


# -- events ------------------------------------------------------------------------------------------------------
@dataclass
class Event:
    """Base of the stream's events. ``space_id`` is the Space being called when the event happened."""

    space_id: str | None = field(default=None, kw_only=True)
    time: float = field(default_factory=time.time, kw_only=True)
    type: str = field(default="event", init=False)


@dataclass
class Queued(Event):
    """Waiting in the Space's queue."""

    rank: int | None = None
    queue_size: int | None = None
    eta: float | None = None
    type: Literal["queued"] = field(default="queued", init=False)


@dataclass
class Started(Event):
    """The Space started processing the job."""

    type: Literal["started"] = field(default="started", init=False)


@dataclass
class Progress(Event):
    """A step of the model (FLUX.1-dev reports one per inference step)."""

    step: int | None = None
    total: int | None = None
    desc: str | None = None
    type: Literal["progress"] = field(default="progress", init=False)


@dataclass
class Preview(Progress):
    """A step of the model with its intermediate image (FLUX.1-dev yields one per step). It is the step's only
    event: a :class:`Progress` (``step``/``total``/``desc``) that also carries ``image``."""

    image: ImageResult | None = None
    type: Literal["preview"] = field(default="preview", init=False)  # type: ignore[assignment]


@dataclass
class Log(Event):
    """A toast of the Space, e.g. ZeroGPU's 'Waiting for a GPU to become available'. ``kind`` says what janusflux
    reads in it: ``"waiting-gpu"`` (no free GPU on the node), ``"waiting-slot"`` ("Waiting for a GPU slot on this
    Space": the Space's own concurrency is full, a mirror may have a free slot), ``"no-gpu"``, ``"quota-fallback"``
    (a refused ZeroGPU token, see :class:`Warned`) or None."""

    message: str = ""
    level: str = "info"
    kind: str | None = None
    type: Literal["log"] = field(default="log", init=False)


@dataclass
class Warned(Event):
    """Something the caller should know although the call goes on, e.g. ``code="InvalidRepoToken"``: the Space
    refused the ZeroGPU token and counts the call against IP-based (anonymous) quota. Once per Space and code per
    session (also logged as a warning on the ``janusflux`` logger)."""

    message: str = ""
    code: str = ""
    type: Literal["warning"] = field(default="warning", init=False)


@dataclass
class Waking(Event):
    """The Space sleeps or is starting; janusflux waits for it."""

    stage: str | None = None
    type: Literal["waking"] = field(default="waking", init=False)


@dataclass
class Waiting(Event):
    """janusflux waits before trying again (e.g. the retry-after of a ZeroGPU quota)."""

    seconds: float = 0.0
    reason: str = ""
    type: Literal["waiting"] = field(default="waiting", init=False)


@dataclass
class Retry(Event):
    """An attempt failed and another follows."""

    attempt: int = 0
    error: str = ""
    type: Literal["retry"] = field(default="retry", init=False)


@dataclass
class Fallback(Event):
    """Switching to the next Space (mirror)."""

    from_space: str | None = None
    to_space: str | None = None
    reason: str = ""
    type: Literal["fallback"] = field(default="fallback", init=False)


@dataclass
class Done(Event):
    """The last event of a stream: the result. ``space_id`` is the Space that made it (taken from the result)."""

    result: Any = None
    type: Literal["done"] = field(default="done", init=False)

    def __post_init__(self) -> None:
        if self.space_id is None:
            first = self.result[0] if isinstance(self.result, list) and self.result else self.result
            self.space_id = getattr(first, "space_id", None)
