"""``janusflux generate`` and ``janusflux chat``: the checks before anything starts, then the calls."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .common import DEFAULT_CHAT_MODEL, DEFAULT_IMAGE_MODEL, EXIT_OK, _emit_json, _run, _session, _view


# -- checks before anything starts ------------------------------------------------------------------------------
def _is_alias(word: str) -> bool:
    from ..models import list_models

    return word.strip().lower() in list_models()


def _model_and_text(words: list[str], option: str | None, default: str, what: str) -> tuple[str, str | None]:
    """``[MODEL] TEXT`` from the positional words and ``--model``."""
    from ..errors import InvalidInputError

    if len(words) > 2:
        raise InvalidInputError(what, f"expected [MODEL] {what.upper()}, got {len(words)} words: quote the {what}")
    if len(words) == 2:
        if option is not None:
            raise InvalidInputError("model", f"given twice: {words[0]!r} and --model {option!r}")
        return words[0], words[1]
    if len(words) == 1 and option is None and _is_alias(words[0]):
        return words[0], None
    return option or default, words[0] if words else None


def _alias_for(spec: Any, image: bool) -> str | None:
    """A registered alias on the same Space that makes images (``image``) or answers questions (not ``image``)."""
    from ..models import list_models

    found = [a for a, s in list_models().items()
             if (s.kind == "text-to-image") == image and set(s.spaces) & set(spec.spaces)]
    return max(found, key=len) if found else None


def _spec_of_kind(model: str, image: bool) -> Any:
    """The model's spec, refused at once when it is of the wrong kind (images vs chat)."""
    from ..errors import InvalidInputError
    from ..models import get_model

    spec = get_model(model)
    if (spec.kind == "text-to-image") == image:
        return spec
    other = _alias_for(spec, image)
    if image:
        hint = f"for images use `janusflux generate {other} PROMPT`" if other else "pick an image model"
        raise InvalidInputError("model", f"{model} is a {spec.kind} model and does not make images; {hint} "
                                         f"(to ask about an image: `janusflux chat {model} QUESTION --image PATH`)")
    hint = f"to ask about an image use `janusflux chat {other} QUESTION --image PATH`" if other else \
        "pick a chat model"
    raise InvalidInputError("model", f"{model} makes images and does not answer questions; {hint} "
                                     f"(for images: `janusflux generate {model} PROMPT`)")


def _check_generate(spec: Any, prompt: str, params: dict[str, Any]) -> None:
    """The adapter's own checks (sizes, aspect ratio, ranges), run once here before the twins start or any request."""
    from ..spaces import get_adapter

    adapter = get_adapter(spec.family)
    unified = {**params, "prompt": prompt}
    if getattr(adapter, "bind", None) is not None:  # mapped from the Space's API info at call time: checks only
        adapter.check(unified)
    else:
        adapter.prepare(spec, unified)


def _check_chat(spec: Any, params: dict[str, Any]) -> None:
    """Ranges and the image file, checked before the twins start or any request."""
    import re
    import tempfile

    from ..inputs import load_image
    from ..spaces._base import numeric, require_image

    for name in ("seed", "temperature", "top_p"):
        if params.get(name) is not None:
            numeric(spec, params, name)
    image = params.get("image")
    if any(src == "image" for _, src in spec.args):
        require_image(spec, image)
    if isinstance(image, str) and not re.match(r"^https?://", image):
        with tempfile.TemporaryDirectory(prefix="janusflux-check-") as tmp:
            load_image(image, tmp)  # a local path: checked in place, nothing written


def _output_paths(output: str | None, model: str, seed: int | None, i: int, count: int, n_images: int) -> list[Path]:
    if output is None:
        base = Path(f"{model.replace('/', '_')}-{seed}.png")
    else:
        base = Path(output)
        if base.is_dir() or output.endswith(("/", os.sep)):
            base = base / f"{model.replace('/', '_')}-{seed}.png"
        elif not base.suffix:
            base = base.with_suffix(".png")
        if count > 1:
            base = base.with_name(f"{base.stem}-{i + 1}{base.suffix}")
    if n_images == 1:
        return [base]
    return [base.with_name(f"{base.stem}-{k}{base.suffix}") for k in range(n_images)]


def cmd_generate(args: argparse.Namespace) -> int:
    from ..errors import InvalidInputError
    from ..render import steps_of
    from ..results import ImageList, ImageResult

    model, prompt = _model_and_text(args.words, args.model, DEFAULT_IMAGE_MODEL, "prompt")
    if prompt is None:
        raise InvalidInputError("prompt", f"missing: janusflux generate {model} PROMPT")
    if args.count < 1:
        raise InvalidInputError("count", f"expected an int >= 1, got {args.count}")
    spec = _spec_of_kind(model, image=True)
    params = {k: v for k, v in {"aspect_ratio": args.aspect_ratio, "width": args.width, "height": args.height,
                                "steps": args.steps, "guidance": args.guidance, "seed": args.seed}.items()
              if v is not None}
    _check_generate(spec, prompt, params)
    params.pop("seed", None)
    show = not (args.quiet or args.json)
    out: list[dict[str, Any]] = []
    with _session(args) as session:
        for i in range(args.count):
            seed = None if args.seed is None else args.seed + i
            desc = model if args.count == 1 else f"{model} {i + 1}/{args.count}"
            call = {**params, "seed": seed} if seed is not None else params
            result = _run(session, model, prompt, call, _view(desc, show, steps_of(spec, call)))
            images = list(result) if isinstance(result, ImageList) else [result]
            if not all(isinstance(im, ImageResult) for im in images):
                raise InvalidInputError("model", f"{model} does not make images; use `janusflux chat`")
            paths = _output_paths(args.output, model, images[0].seed, i, args.count, len(images))
            for image, path in zip(images, paths, strict=True):
                saved = image.save(path)
                out.append({"file": str(saved), "seed": image.seed, "model": image.model, "space_id": image.space_id,
                            "width": image.width, "height": image.height, "prompt": image.prompt,
                            "timings": image.timings})
                if not args.json:
                    print(saved, flush=True)
                    if not args.quiet:
                        print(f"{saved}: seed {image.seed} on {image.space_id}", file=sys.stderr, flush=True)
    if args.json:
        _emit_json({"model": model, "images": out})
    return EXIT_OK


_ROLE_PREFIXES = ("user:", "assistant:", "system:")


def _chat_messages(args: argparse.Namespace) -> list[dict[str, Any]]:
    from ..errors import InvalidInputError

    messages: list[dict[str, Any]] = []
    if args.messages_file:
        try:
            loaded = json.loads(Path(args.messages_file).read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise InvalidInputError("messages_file", f"no such file: {args.messages_file!r}") from e
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidInputError("messages_file", f"not JSON ({e})") from e
        if isinstance(loaded, dict) and "messages" in loaded:
            loaded = loaded["messages"]
        if not isinstance(loaded, list):
            raise InvalidInputError("messages_file", "expected a JSON list of {role, content} messages")
        messages.extend(loaded)
    for text in args.message:
        role, body = "user", text
        low = text.lower()
        for prefix in _ROLE_PREFIXES:
            if low.startswith(prefix):
                role, body = prefix[:-1], text[len(prefix):].lstrip()
                break
        messages.append({"role": role, "content": body})
    if args.question:
        messages.append({"role": "user", "content": args.question})
    if not messages:
        raise InvalidInputError("messages", "give a question, -m/--message or --messages-file")
    return messages


def cmd_chat(args: argparse.Namespace) -> int:
    from ..errors import InvalidInputError
    from ..results import TextResult

    model, args.question = _model_and_text(args.words, args.model, DEFAULT_CHAT_MODEL, "question")
    spec = _spec_of_kind(model, image=False)
    messages = _chat_messages(args)
    params: dict[str, Any] = {"messages": messages}
    for k in ("seed", "temperature", "top_p"):
        if getattr(args, k) is not None:
            params[k] = getattr(args, k)
    if args.image is not None:
        params["image"] = args.image
    _check_chat(spec, params)
    with _session(args) as session:
        answer = _run(session, model, None, params, _view(model, not (args.quiet or args.json)))
    if not isinstance(answer, TextResult):
        raise InvalidInputError("model", f"{model} is not a chat model; use `janusflux generate`")
    if args.json:
        _emit_json(answer.to_dict())
    else:
        print(str(answer), flush=True)
    return EXIT_OK
