"""The documented G4F interface (``G4F`` and ``FluxDev``) on top of janusflux.

Code written against the ``hypotez`` G4F module keeps working::

    from janusflux.compat import G4F

    async for chunk in G4F.create_async_generator(model="flux", messages=[{"role": "user", "content": "a cat"}]):
        print(chunk)

``create_async_generator`` is an async generator over :meth:`janusflux.Session.astream`, so it gets janusflux's
validation, ZeroGPU token handling, retries and mirror fallback. It does not use (or need) the ``g4f`` package.

Routing (model names are matched case-insensitively; an unknown name raises :class:`~janusflux.UnknownModelError`
listing the accepted ones):

- ``flux``, ``flux-dev``, ``black-forest-labs-flux-1-dev``: FLUX.1-dev through :class:`FluxDev`,
  ``roxky/FLUX.1-dev`` first (the Space the documented class names), the official ``black-forest-labs/FLUX.1-dev``
  as fallback.
- ``flux-schnell``: FLUX.1-schnell (janusflux's ``flux-schnell``). ``G4F.get_model("flux-schnell")`` still answers
  ``"flux"`` (the documented ``model_aliases``), but routing, as in g4f, looks at the name given: there this name
  reached ``url_flux`` (``roxky/g4f-flux``), never FluxDev; janusflux's nearest model is FLUX.1-schnell.
- ``janus-pro-7b``, ``Janus-Pro-7B``, ``DeepseekAI_JanusPro7b``, ``janus``, ``janus-pro``, ``deepseek-ai/Janus-Pro-7B``:
  Janus-Pro-7B chat (``/multimodal_understanding``), ``roxky/Janus-Pro-7B`` first, then the official Space.
- ``janus-pro-7b-image``: Janus-Pro-7B text-to-image (5 images, 768x768), same Spaces.

The compat classes put the Space their ``space`` attribute names first (the documented module talked to the roxky
mirrors) and keep janusflux's other Spaces for the same model as fallbacks: quota is per user across ZeroGPU Spaces,
so the order only matters when one Space is down or at capacity, and then janusflux switches by itself.

Chunks, in the order they come:

- :class:`Reasoning` — a status text in ``.status`` (``str(chunk)`` is ``"<status>\\n"``, as in g4f). Made from
  janusflux's events (``.event`` keeps the event): ``Queued 1/1 on roxky/FLUX.1-dev``, ``Generating on ...``,
  ``Step 3/28``, ZeroGPU toasts such as ``Waiting for a GPU to become available``, ``Waking ...``, ``Retrying ...``,
  ``Waiting 2.0s: ...``, ``Switching from ... to ...``; ``Generating 1.50s`` every :attr:`G4F.status_interval` seconds
  while nothing else happens; and ``Finished 2.31s`` just before the result. At least that last one always comes.
- :class:`ImagePreview` — only with ``previews=True``: FLUX.1-dev's image after each step (``str()`` is empty, as
  in g4f, so text concatenation hides it; ``.to_string()`` gives the markdown).
- :class:`ImageResponse` — the last chunk of an image model: ``.images`` is the image URL (a list of 5 for
  ``janus-pro-7b-image``) or a local path when the Space gave no URL, ``.alt`` the prompt, ``.options`` the seed used,
  width, height, model and Space; ``.result`` the janusflux :class:`~janusflux.ImageResult` / ``ImageList`` (with
  ``save()``). ``str()`` is g4f's markdown.
- ``str`` — the last chunk of a chat model: the answer (a :class:`~janusflux.TextResult`, which is a ``str``), in one
  piece (the Space does not stream tokens).

g4f's ``JsonConversation`` is not yielded: it carried the ZeroGPU token, and printing chunks must not print a token.

Parameters, compared with the documented module:

- ``api_key`` is a ZeroGPU token, sent as ``x-zerogpu-token`` with ``zerogpu_uuid`` as ``x-zerogpu-uuid``. Without
  it the session fetches one with its HF token (``HF_TOKEN``, the saved login, or ``Session(token=...)``); without
  an HF token none is sent and the Space counts the caller's IP. The documented default
  ``zerogpu_uuid="[object Object]"`` (a JavaScript artefact) means "no uuid": it is never sent.
- ``proxy`` is not supported: janusflux sessions have no proxy option, so a proxy raises
  :class:`~janusflux.InvalidInputError` (never silently ignored). httpx, under gradio_client and huggingface_hub,
  reads ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` from the environment.
- ``cookies`` are accepted (a dict) and not sent: janusflux identifies the caller with the HF token.
- ``prompt`` wins over ``messages``; otherwise image models take the trailing user messages and the chat model the
  whole conversation folded into one question. ``aspect_ratio``/``width``/``height`` are snapped to the Space's step
  (32 on FLUX); ``aspect_ratio`` at its default ``"1:1"`` is ignored for the chat model (it makes no image) and when
  both ``width`` and ``height`` are given (they win, as in g4f); any other ratio that disagrees with both sizes raises.
  A Janus chat without ``image``/``media`` asks about a small white placeholder image, which this layer supplies
  itself (janusflux's own ``generate`` requires an image instead).
- ``**kwargs``: janusflux's ``steps``, ``guidance``, ``temperature``, ``top_p``, ``image``, ``timeout``,
  ``max_wait``; g4f's ``num_inference_steps``, ``guidance_scale``, ``randomize_seed`` (True: draw a new seed),
  ``media`` (a list of ``(image, name)``; the first image is asked about); ``previews``; g4f framework flags that mean
  nothing here (``stream``, ``return_conversation``, ``conversation``, ``web_search``, ``download_media``) are
  accepted. Any other keyword raises :class:`~janusflux.InvalidInputError`.

Every invalid input raises :class:`~janusflux.InvalidInputError` on the first ``__anext__``, before any request.

Session: ``G4F.session`` / ``FluxDev.session`` (class attributes; default None = ``janusflux.default_session()``).
``G4F``'s flux calls use ``G4F``'s session. Set them to aim the classes at another Hub or at the local twins::

    G4F.session = janusflux.Session(hf_endpoint=fleet.hub_url, token=...)
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import InvalidInputError, UnknownModelError
from ..models import ModelSpec, get_model
from ..params import ACCEPTED
from ..render import StepCounter, status_text, ticking
from ..results import Done, Event, ImageList, ImageResult, Preview, Progress, Result
from ..session import Session

__all__ = ["G4F", "Chunk", "FluxDev", "ImagePreview", "ImageResponse", "Reasoning", "ResponseType"]

log = logging.getLogger("janusflux.compat")

#: The documented default of ``zerogpu_uuid``: a stringified JavaScript object, never a real uuid.
UNSET_UUID = "[object Object]"

_IGNORED_KWARGS = frozenset({"stream", "return_conversation", "conversation", "web_search", "download_media"})
# generate()'s parameters that create_async_generator does not spell out itself (nor takes as api_key/zerogpu_uuid)
_PASSED_KWARGS = ACCEPTED - {"prompt", "messages", "aspect_ratio", "width", "height", "seed", "zerogpu_token",
                             "zerogpu_uuid"}
_RENAMED_KWARGS = {"num_inference_steps": "steps", "guidance_scale": "guidance"}


# -- chunks --------------------------------------------------------------------------------------------------------
class ResponseType:
    """Base of the non-text chunks (g4f's name)."""

    def __str__(self) -> str:  # pragma: no cover - overridden
        return ""


class Reasoning(ResponseType):
    """A status line while the request waits or runs. ``event`` is the janusflux event it came from, if any."""

    def __init__(self, token: str | None = None, status: str | None = None, *, event: Event | None = None) -> None:
        self.token = token
        self.status = status
        self.event = event

    def __str__(self) -> str:
        if self.token is not None:
            return self.token
        return f"{self.status}\n" if self.status is not None else ""

    def __repr__(self) -> str:
        return f"Reasoning(status={self.status!r})" if self.token is None else f"Reasoning(token={self.token!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reasoning) and (self.token, self.status) == (other.token, other.status)

    __hash__ = None  # type: ignore[assignment]

    def get_dict(self) -> dict[str, Any]:
        return {"token": self.token, "status": self.status}


class ImageResponse(ResponseType):
    """Generated image(s): ``images`` is a URL or path (or a list of them), ``alt`` the prompt, ``options`` details
    (``seed``, ``width``, ``height``, ``model``, ``space_id``); ``result`` is the janusflux result."""

    def __init__(self, images: str | list[str], alt: str, options: Mapping[str, Any] | None = None, *,
                 result: ImageResult | ImageList | None = None) -> None:
        self.images = images
        self.alt = alt
        self.options = dict(options or {})
        self.result = result

    @property
    def urls(self) -> str | list[str]:  # newer g4f name
        return self.images

    def get(self, key: str) -> Any:
        return self.options.get(key)

    def get_list(self) -> list[str]:
        return [self.images] if isinstance(self.images, str) else list(self.images)

    def __str__(self) -> str:
        return _markdown(self.images, self.alt)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(images={self.images!r}, alt={self.alt!r}, options={self.options!r})"


class ImagePreview(ImageResponse):
    """An intermediate image (FLUX.1-dev, one per step; only with ``previews=True``). ``str()`` is empty."""

    def __str__(self) -> str:
        return ""

    def to_string(self) -> str:
        return super().__str__()


Chunk = Reasoning | ImageResponse | str


def _markdown(images: str | list[str], alt: str) -> str:
    """g4f's rendering of an image response: markdown images between HTML comments."""
    def one(url: str, text: str) -> str:
        text = " ".join(text.split())
        return f"[![{text}]({url})]({url})"

    if isinstance(images, list) and len(images) == 1:
        images = images[0]
    body = one(images, alt) if isinstance(images, str) else "\n".join(
        one(url, f"#{i + 1} {alt}") for i, url in enumerate(images))
    return f"\n<!-- generated images start -->\n{body}\n<!-- generated images end -->\n\n"


def status_of(event: Event, total_steps: int | None = None) -> Reasoning | None:
    """The status chunk for a janusflux event (None for events that are not statuses: Preview, Done)."""
    text = status_text(event, total_steps)
    return None if text is None else Reasoning(status=text, event=event)


# -- routing -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Target:
    alias: str  # janusflux registry alias
    first: str | None  # the Space to try first (None: the registry's order)


def _janus_names(*extra: str) -> dict[str, str]:
    names = ("janus-pro-7b", "janus", "janus-pro", "deepseekai_januspro7b", "deepseek-ai/janus-pro-7b",
             "roxky/janus-pro-7b", *extra)
    return {n: "janus-pro-7b" for n in names}


_FLUX_DEV_NAMES = ("flux", "flux-dev", "black-forest-labs-flux-1-dev", "flux.1-dev", "black-forest-labs/flux.1-dev",
                   "roxky/flux.1-dev")


class _SpaceProvider:
    """What FluxDev and G4F share: the session and the generator over ``Session.astream``."""

    session: ClassVar[Session | None] = None
    status_interval: ClassVar[float] = 0.5  # seconds between "Generating …" heartbeats
    space: ClassVar[str]
    default_model: ClassVar[str]
    model_aliases: ClassVar[dict[str, str]] = {}
    models: ClassVar[list[str]] = []

    @classmethod
    def _session(cls) -> Session:
        if cls.session is not None:
            return cls.session
        from .. import default_session

        return default_session()

    @classmethod
    def _routes(cls) -> dict[str, _Target]:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def get_model(cls, model: str) -> str:
        """g4f's lookup: ``model_aliases`` applied, empty means ``default_model``; unknown names raise."""
        if not model:
            return cls.default_model
        cls._target(model)
        return cls.model_aliases.get(model, model)

    @classmethod
    def _target(cls, model: object) -> _Target:
        if model is None or model == "":
            model = cls.default_model
        if not isinstance(model, str):
            raise InvalidInputError("model", f"expected a model name (str), got {type(model).__name__}")
        routes = cls._routes()
        key = model.strip().lower()
        if key in routes:
            return routes[key]
        known = sorted(set(cls.models) | set(routes))
        raise UnknownModelError(model, difflib.get_close_matches(key, known, n=3, cutoff=0.5), known)

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Sequence[Mapping[str, Any]] | None,
        proxy: str | None = None,
        prompt: str | None = None,
        aspect_ratio: str = "1:1",
        width: int | None = None,
        height: int | None = None,
        seed: int | None = None,
        cookies: Mapping[str, str] | None = None,
        api_key: str | None = None,
        zerogpu_uuid: str | None = UNSET_UUID,
        **kwargs: Any,
    ) -> AsyncIterator[Chunk]:
        """Run ``model`` and yield status chunks, then the result (see the module docstring for chunks and
        parameters). Invalid input raises :class:`~janusflux.InvalidInputError` before any request."""
        target = cls._target(model)
        session = cls._session()
        async for chunk in _generate(session, target, messages=messages, proxy=proxy, prompt=prompt,
                                     aspect_ratio=aspect_ratio, width=width, height=height, seed=seed,
                                     cookies=cookies, api_key=api_key, zerogpu_uuid=zerogpu_uuid,
                                     interval=cls.status_interval, kwargs=kwargs):
            yield chunk


class FluxDev(_SpaceProvider):
    """FLUX.1-dev on ``roxky/FLUX.1-dev`` (then the official Space), as the documented ``FluxDev``."""

    label = "roxky/FLUX.1-dev"
    url = "https://roxky-flux-1-dev.hf.space"
    space = "roxky/FLUX.1-dev"
    referer = f"{url}/?__theme=light"
    default_model = "black-forest-labs-flux-1-dev"
    default_image_model = default_model
    model_aliases: ClassVar[dict[str, str]] = {"flux-dev": default_model, "flux": default_model}
    image_models: ClassVar[list[str]] = [default_image_model, *model_aliases]
    models: ClassVar[list[str]] = image_models

    @classmethod
    def _routes(cls) -> dict[str, _Target]:
        return {n: _Target("flux-dev", cls.space) for n in _FLUX_DEV_NAMES}


class G4F(_SpaceProvider):
    """Janus-Pro-7B on ``roxky/Janus-Pro-7B`` (then the official Space); ``flux``/``flux-dev`` go to :class:`FluxDev`
    (with this class's session), ``flux-schnell`` to FLUX.1-schnell."""

    label = "G4F framework"
    space = "roxky/Janus-Pro-7B"
    url = "https://huggingface.co/spaces/roxky/g4f-space"
    api_url = "https://roxky-janus-pro-7b.hf.space"
    url_flux = "https://roxky-g4f-flux.hf.space/run/predict"
    referer = f"{api_url}?__theme=light"
    default_model = "flux"
    janus_model = "janus-pro-7b"
    janus_image_model = "janus-pro-7b-image"
    model_aliases: ClassVar[dict[str, str]] = {"flux-schnell": default_model}
    image_models: ClassVar[list[str]] = [janus_image_model, default_model, "flux-dev", *model_aliases]
    models: ClassVar[list[str]] = [janus_model, *image_models]

    @classmethod
    def _routes(cls) -> dict[str, _Target]:
        routes = {n: _Target("janus-pro-7b", cls.space) for n in _janus_names()}
        routes["janus-pro-7b-image"] = _Target("janus-pro-7b-image", cls.space)
        for name in ("flux-schnell", "flux.1-schnell", "black-forest-labs/flux.1-schnell"):
            routes[name] = _Target("flux-schnell", None)
        routes.update(FluxDev._routes())
        return routes


# -- the generator -------------------------------------------------------------------------------------------------
def _spec_for(target: _Target) -> ModelSpec:
    """The registry's spec with the class's Space moved first. A spec re-registered without that Space (your own
    duplicate or endpoint, ``register_model(..., replace=True)``) is used as it is."""
    spec = get_model(target.alias)
    if target.first and target.first in spec.spaces:
        spec = spec.replace(spaces=(target.first, *(s for s in spec.spaces if s != target.first)))
    return spec


def _check_header_value(param: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(param, f"expected a str, got {type(value).__name__}")
    text = value.strip()
    if not text or any(c.isspace() or not c.isprintable() for c in text) or len(text) > 8192:
        raise InvalidInputError(param, "expected one printable word without spaces")
    return text


def _zerogpu(api_key: object, zerogpu_uuid: object) -> tuple[str | None, str | None]:
    token = None if api_key is None or api_key == "" else _check_header_value("api_key", api_key)
    if zerogpu_uuid is None or zerogpu_uuid == "" or zerogpu_uuid == UNSET_UUID:
        return token, None
    uuid = _check_header_value("zerogpu_uuid", zerogpu_uuid)
    if len(uuid) > 128:
        raise InvalidInputError("zerogpu_uuid", "is longer than 128 characters")
    return token, uuid


def _media_image(media: object) -> Any:
    if media is None:
        return None
    if isinstance(media, (list, tuple)) and media:
        first = media[0]
        return first[0] if isinstance(first, (list, tuple)) and first else first
    raise InvalidInputError("media", "expected a list of (image, name) pairs")


def _placeholder_image() -> bytes:
    """A small white PNG: what a Janus chat without an image asks about (janusflux itself requires an image)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 255, 255)).save(buf, format="PNG")
    return buf.getvalue()


def _params(spec: ModelSpec, *, messages: Any, prompt: Any, aspect_ratio: Any, width: Any, height: Any, seed: Any,
            kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """janusflux parameters for the call, and whether to yield previews."""
    params: dict[str, Any] = {}
    previews = False
    for name, value in kwargs.items():
        if name in _IGNORED_KWARGS:
            continue
        if name == "previews":
            if not isinstance(value, bool):
                raise InvalidInputError("previews", f"expected a bool, got {value!r}")
            previews = value
        elif name == "randomize_seed":
            if not isinstance(value, bool):
                raise InvalidInputError("randomize_seed", f"expected a bool, got {value!r}")
            if value:
                seed = None
        elif name == "media":
            image = _media_image(value)
            if image is not None:
                params["image"] = image
        elif name in _RENAMED_KWARGS or name in _PASSED_KWARGS:
            if value is not None:
                params[_RENAMED_KWARGS.get(name, name)] = value
        else:
            raise InvalidInputError(name, "unknown parameter of create_async_generator (see janusflux.compat.g4f)")
    makes_image = spec.kind == "text-to-image"
    if makes_image or prompt is None:
        params["messages"] = messages
    if aspect_ratio == "1:1" and (not makes_image or (width is not None and height is not None)):
        aspect_ratio = None  # the documented default: a chat model makes no image, and explicit sizes win over it
    if spec.kind == "vision-chat" and params.get("image") is None:
        params["image"] = _placeholder_image()  # this layer's documented placeholder
    for name, value in (("aspect_ratio", aspect_ratio), ("width", width), ("height", height), ("seed", seed)):
        if value is not None:
            params[name] = value
    return params, previews


async def _generate(session: Session, target: _Target, *, messages: Any, proxy: Any, prompt: Any, aspect_ratio: Any,
                    width: Any, height: Any, seed: Any, cookies: Any, api_key: Any, zerogpu_uuid: Any,
                    interval: float, kwargs: dict[str, Any]) -> AsyncIterator[Chunk]:
    if proxy is not None and proxy != "":
        raise InvalidInputError("proxy", "not supported: janusflux sessions have no proxy option; set HTTPS_PROXY "
                                         "(read by httpx under gradio_client and huggingface_hub) instead")
    if cookies is not None and not isinstance(cookies, Mapping):
        raise InvalidInputError("cookies", f"expected a dict, got {type(cookies).__name__}")
    if cookies:
        log.info("cookies are not sent: janusflux identifies the caller with the HF token")
    token, uuid = _zerogpu(api_key, zerogpu_uuid)
    spec = _spec_for(target)
    params, previews = _params(spec, messages=messages, prompt=prompt, aspect_ratio=aspect_ratio, width=width,
                               height=height, seed=seed, kwargs=kwargs)
    steps = StepCounter(params.get("steps") or spec.defaults.get("steps"))
    if token is not None:
        params["zerogpu_token"] = token
    if uuid is not None:
        params["zerogpu_uuid"] = uuid
    started = time.monotonic()
    events = ticking(session.astream(spec, prompt, **params), interval)
    try:
        async for event in events:
            if event is None:
                yield Reasoning(status=f"Generating {time.monotonic() - started:.2f}s")
            elif isinstance(event, Done):
                yield Reasoning(status=f"Finished {time.monotonic() - started:.2f}s", event=event)
                yield _final(event.result)
                return
            elif isinstance(event, (Preview, Progress)):
                if isinstance(event, Preview) and previews and event.image is not None:
                    yield _image_response(event.image, ImagePreview)
                if steps.advance(event) is not None:
                    yield Reasoning(status=steps.text(event), event=event)
            elif (status := status_of(event, steps.total)) is not None:
                yield status
    finally:
        await events.aclose()


def _image_response(image: ImageResult | ImageList, kind: type[ImageResponse] = ImageResponse) -> ImageResponse:
    items = list(image) if isinstance(image, ImageList) else [image]
    refs = [i.url or i.path for i in items]
    first = items[0]
    options = {"seed": first.seed, "width": first.width, "height": first.height, "model": first.model,
               "space_id": first.space_id}
    return kind(refs if isinstance(image, ImageList) else refs[0], alt=first.prompt or "", options=options,
                result=image)


def _final(result: Result) -> Chunk:
    if isinstance(result, (ImageResult, ImageList)):
        return _image_response(result)
    return result
