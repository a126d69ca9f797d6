"""The ``janusflux`` command line.

    janusflux generate flux "a lighthouse at dawn" --local -o lighthouse.png
    janusflux chat janus "What is in this picture?" --image lighthouse.png
    janusflux chat --image lighthouse.png -m "What is in this picture?"
    janusflux batch prompts.txt --out images/ --model flux-schnell --concurrency 2
    janusflux models [--json]
    janusflux doctor [--local] [--json]
    janusflux quota [--local] [--json]
    janusflux serve all --port 7860

One grammar: ``janusflux generate [MODEL] PROMPT`` and ``janusflux chat [MODEL] [QUESTION]``; the model may be
omitted (flux for images, janus-pro-7b for chat) or given as ``--model``. Every input (alias, kind of model,
aspect ratio, sizes, ranges, image files) is checked before the twins start or any request goes out.

``--local`` (or ``JANUSFLUX_LOCAL=1``) runs the command against the bundled twins started in this process (no
network, no token needed). Progress goes to stderr (``--quiet`` silences it); results go to stdout, as JSON with
``--json``. Exit codes: 0 ok, 1 other error, 2 invalid input, 3 ZeroGPU quota, 4 Space unavailable or busy,
5 timeout, 130 interrupted. Errors print one line on stderr: ``error: <type>: <message>``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "exit_code", "main"]

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_QUOTA, EXIT_UNAVAILABLE, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 5, 130


def _set_env() -> None:
    """Before anything imports huggingface_hub or gradio_client: no telemetry, no implicit token. The command is an
    application and decides for its own process (documented in the README); the library sets no variable."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")


# -- errors and exit codes -------------------------------------------------------------------------------------------
def exit_code(error: BaseException) -> int:
    """The exit code for an error (see the module docstring)."""
    from .errors import (
        GenerationTimeoutError,
        InvalidInputError,
        QuotaExceededError,
        SpaceBusyError,
        SpaceUnavailableError,
    )

    if isinstance(error, InvalidInputError):
        return EXIT_INVALID
    if isinstance(error, QuotaExceededError):
        return EXIT_QUOTA
    if isinstance(error, (SpaceUnavailableError, SpaceBusyError)):  # NoGPUAvailableError is a SpaceBusyError
        return EXIT_UNAVAILABLE
    if isinstance(error, (GenerationTimeoutError, TimeoutError)):
        return EXIT_TIMEOUT
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_ERROR


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _report(error: BaseException) -> int:
    print(f"error: {type(error).__name__}: {_one_line(str(error)) or 'interrupted'}", file=sys.stderr)
    return exit_code(error)


def _plain(text: str) -> str:
    """RST literals (````x````) as plain text, for ``--help``."""
    return text.replace("``", "")


DEFAULT_IMAGE_MODEL, DEFAULT_CHAT_MODEL = "flux", "janus-pro-7b"


# -- the parser --------------------------------------------------------------------------------------------------------
def _common(local: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    if local:
        p.add_argument("--local", action="store_true",
                       help="run against the bundled twins started in this process (also JANUSFLUX_LOCAL=1)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    return p


def _call_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="deadline per call in seconds")
    p.add_argument("--max-wait", type=float, default=None, metavar="S",
                   help="seconds a call may wait for quota or backoff (default: the session's, 600)")


def _image_options(p: argparse.ArgumentParser, defaults: bool = False) -> None:
    p.add_argument("--aspect-ratio", "-a", default=None, metavar="W:H", help="e.g. 16:9 (at the default area)")
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--seed", type=int, default=None, help="seed (default: drawn and reported)")
    p.add_argument("--steps", type=int, default=None, help="inference steps")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="janusflux", description="\n\n".join(_plain(__doc__ or "").split("\n\n")[:3]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Exit codes: 0 ok, 1 error, 2 invalid input, 3 quota, "
                                            "4 Space unavailable/busy, 5 timeout, 130 interrupted.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"janusflux {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = _common()

    g = sub.add_parser("generate", parents=[common], help="generate images from a prompt",
                       usage="janusflux generate [MODEL] PROMPT [options]")
    g.add_argument("words", nargs="+", metavar="[MODEL] PROMPT",
                   help=f"model alias (default {DEFAULT_IMAGE_MODEL}: flux, flux-dev, flux-schnell, "
                        "janus-pro-7b-image ...) and the prompt")
    g.add_argument("--model", default=None, help=f"model alias, instead of MODEL (default {DEFAULT_IMAGE_MODEL})")
    _image_options(g)
    g.add_argument("-o", "--output", default=None, metavar="PATH",
                   help="file to write (.png keeps prompt/seed/model/Space as PNG text); default <model>-<seed>.png")
    g.add_argument("-n", "--count", type=int, default=1, metavar="N", help="how many images (seeds seed, seed+1...)")
    _call_options(g)

    c = sub.add_parser("chat", parents=[common], help="ask Janus-Pro about an image (vision chat)",
                       usage="janusflux chat [MODEL] [QUESTION] [--image PATH] [-m TEXT ...] [options]")
    c.add_argument("words", nargs="*", metavar="[MODEL] [QUESTION]",
                   help=f"vision chat model (default {DEFAULT_CHAT_MODEL}) and the question (a last user message)")
    c.add_argument("--image", "-i", default=None, metavar="PATH", help="image file or URL to ask about")
    c.add_argument("-m", "--message", action="append", default=[], metavar="TEXT",
                   help='a turn; repeat for several; prefix "assistant:" or "system:" to set the role (default user)')
    c.add_argument("--messages-file", default=None, metavar="FILE.json",
                   help='a JSON list of {"role", "content"} messages (before the -m turns)')
    c.add_argument("--model", default=None, help=f"vision chat model, instead of MODEL (default {DEFAULT_CHAT_MODEL})")
    c.add_argument("--seed", type=int, default=None)
    c.add_argument("--temperature", type=float, default=None)
    c.add_argument("--top-p", type=float, default=None)
    _call_options(c)

    b = sub.add_parser("batch", parents=[common], help="run a file of prompts; resumable")
    b.add_argument("input", metavar="INPUT", help=".txt (a prompt a line), .jsonl or .csv (per-item parameters)")
    b.add_argument("--out", required=True, metavar="DIR",
                   help="folder for the images, metadata.jsonl (a Hugging Face imagefolder) and manifest.jsonl")
    b.add_argument("--model", default="flux", help="default model for items that name none (default flux)")
    b.add_argument("--concurrency", type=int, default=2,
                   help="calls in flight per model's Space group (its first Space and mirrors; default 2)")
    b.add_argument("--manifest", default=None, metavar="PATH",
                   help="the crash-safe journal used to resume (default DIR/manifest.jsonl)")
    b.add_argument("--batch-max-wait", type=float, default=3600.0, metavar="S",
                   help="longest quota pause the batch accepts before stopping (default 3600)")
    _image_options(b)
    _call_options(b)
    _batch_quota_options(b)

    m = sub.add_parser("models", parents=[_common(local=False)], help="list model aliases, Spaces and limits")
    m.set_defaults(local=False)

    _add_quota_parser(sub, common)

    d = sub.add_parser("doctor", parents=[common], help="check token, Hub, Spaces and ZeroGPU quota")
    d.add_argument("--timeout", type=float, default=10.0, metavar="S", help="per request (default 10)")

    s = sub.add_parser("serve", help="run the twins in the foreground (offline Spaces and Hub)")
    try:
        from .twins import cli as twins_cli
    except ImportError:  # the twins extra (gradio, uvicorn) is not installed
        s.set_defaults(twins_missing=True)
    else:
        twins_cli.add_arguments(s)
    return parser


# -- sessions ----------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _session(args: argparse.Namespace, **kwargs: Any) -> Iterator[Any]:
    from .local import local_requested, local_session
    from .session import Session

    if getattr(args, "max_wait", None) is not None:
        kwargs["max_wait"] = args.max_wait
    if getattr(args, "timeout", None) is not None and "timeout" not in kwargs:
        kwargs["timeout"] = args.timeout
    if local_requested(getattr(args, "local", False)):
        with local_session(**kwargs) as s:
            yield s
    else:
        with Session(**kwargs) as s:
            yield s


# -- checks before anything starts ------------------------------------------------------------------------------
def _is_alias(word: str) -> bool:
    from .models import list_models

    return word.strip().lower() in list_models()


def _model_and_text(words: list[str], option: str | None, default: str, what: str) -> tuple[str, str | None]:
    """``[MODEL] TEXT`` from the positional words and ``--model``."""
    from .errors import InvalidInputError

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
    from .models import list_models

    found = [a for a, s in list_models().items()
             if (s.kind == "text-to-image") == image and set(s.spaces) & set(spec.spaces)]
    return max(found, key=len) if found else None


def _spec_of_kind(model: str, image: bool) -> Any:
    """The model's spec, refused at once when it is of the wrong kind (images vs chat)."""
    from .errors import InvalidInputError
    from .models import get_model

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
    from .spaces import get_adapter

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

    from .inputs import load_image
    from .spaces._base import numeric, require_image

    for name in ("seed", "temperature", "top_p"):
        if params.get(name) is not None:
            numeric(spec, params, name)
    image = params.get("image")
    if any(src == "image" for _, src in spec.args):
        require_image(spec, image)
    if isinstance(image, str) and not re.match(r"^https?://", image):
        with tempfile.TemporaryDirectory(prefix="janusflux-check-") as tmp:
            load_image(image, tmp)  # a local path: checked in place, nothing written


def _view(desc: str, enabled: bool, total_steps: int | None = None) -> Any:
    from .render import ProgressView

    return ProgressView(desc, total_steps=total_steps, enabled=enabled)


def _run(session: Any, model: str, prompt: str | None, params: dict[str, Any], view: Any) -> Any:
    from .render import track

    return track(session.stream(model, prompt, **params), view=view)


def _emit_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None, default=str))


# -- commands ----------------------------------------------------------------------------------------------------------
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
    from .errors import InvalidInputError
    from .render import steps_of
    from .results import ImageList, ImageResult

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
    from .errors import InvalidInputError

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
    from .errors import InvalidInputError
    from .results import TextResult

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


def _item_steps(item: Any) -> int | None:
    from .models import get_model
    from .render import steps_of

    return steps_of(get_model(item.model), item.params)


def _batch_quota_options(b: argparse.ArgumentParser) -> None:
    """``batch`` options past the free quota: plan, run across resets, publish."""
    from .plan import DEFAULT_HARDWARE_FACTOR

    b.add_argument("--plan", action="store_true",
                   help="print what the batch will take (ZeroGPU time, what fits today, resets, replicas) and exit")
    b.add_argument("--hardware-factor", type=float, default=DEFAULT_HARDWARE_FACTOR, metavar="F",
                   help=f"--plan: ZeroGPU charges declared duration x F (default {DEFAULT_HARDWARE_FACTOR})")
    b.add_argument("--replicas", type=int, default=0, metavar="N", help="--plan: estimate N dedicated replicas")
    b.add_argument("--hardware", default=None, metavar="HW", help="--plan: the replicas' hardware, e.g. a10g-large")
    b.add_argument("--until-done", action="store_true",
                   help="wait out every ZeroGPU allowance reset until every item is done (or --deadline, Ctrl-C)")
    b.add_argument("--deadline", default=None, metavar="WHEN",
                   help="--until-done: stop at this time (ISO 8601) or after this long (90m, 8h, 2d, seconds)")
    b.add_argument("--push-to-hub", default=None, metavar="USER/NAME",
                   help="then publish the finished images and metadata as a Hub dataset (with a dataset card)")
    b.add_argument("--private", action="store_true", help="--push-to-hub: create the dataset private")


def _parse_deadline(text: str | None) -> Any:
    """``--deadline``: seconds (``90m``, ``8h``, ``2d``, ``3600``) or an ISO 8601 time."""
    import re
    from datetime import datetime

    from .errors import InvalidInputError

    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if m:
        return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError("deadline",
                                f"expected 90m, 8h, 2d, seconds or an ISO 8601 time, got {text!r}") from None


def cmd_batch_plan(args: argparse.Namespace, defaults: dict[str, Any]) -> int:
    """``janusflux batch FILE --plan``: nothing is generated."""
    from .plan import plan_batch

    with _session(args, timeout=None) as session:
        plan = plan_batch(args.input, args.out, model=args.model, session=session, manifest=args.manifest,
                          hardware_factor=args.hardware_factor, replicas=args.replicas, hardware=args.hardware,
                          **defaults)
    if args.json:
        _emit_json(plan.to_dict())
    else:
        print(plan)
    return EXIT_OK


def _push(args: argparse.Namespace, session: Any, summary: Any) -> str | None:
    """``--push-to-hub``: publish what the batch finished (this run and earlier ones); the commit URL."""
    if args.push_to_hub is None or summary.interrupted or summary.done + summary.skipped == 0:
        return None
    from .publish import push_to_hub

    return push_to_hub(args.out, args.push_to_hub, session=session, private=True if args.private else None)


def _countdown(ev: Any) -> str:
    from .allowance import format_duration

    at = f" (reset at {ev.resets_at:%H:%M:%S} UTC)" if ev.resets_at is not None else ""
    return f"waiting for the ZeroGPU allowance: {format_duration(ev.seconds_left)} left{at}"


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch import run_batch

    defaults = {k: v for k, v in {"aspect_ratio": args.aspect_ratio, "width": args.width, "height": args.height,
                                  "seed": args.seed, "steps": args.steps, "guidance": args.guidance}.items()
                if v is not None}
    if args.plan:
        return cmd_batch_plan(args, defaults)
    deadline = _parse_deadline(args.deadline)
    if args.push_to_hub is not None and args.push_to_hub.count("/") != 1:
        from .errors import InvalidInputError

        raise InvalidInputError("push_to_hub", f"expected USER/NAME, got {args.push_to_hub!r}")
    show = not (args.quiet or args.json)
    stop, abort = threading.Event(), threading.Event()
    lock = threading.Lock()
    bars: dict[str, Any] = {}
    overall: Any = None

    def say(text: str) -> None:  # above the bars when there are some
        if overall is not None:
            overall.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def on_event(item: Any, ev: Any) -> None:
        nonlocal overall
        kind = getattr(ev, "type", "")
        with lock:
            if kind == "batch-stopping":  # acknowledged at once, even with --quiet
                say("cancelling the items in flight" if ev.abort else
                    f"stopping: no new items; waiting for the {ev.in_flight} in flight (Ctrl-C again to cancel them)")
                return
            if not show:
                return
            if kind == "batch-start":
                from tqdm.auto import tqdm

                overall = tqdm(total=ev.total, desc="batch", unit="item", file=sys.stderr, dynamic_ncols=True,
                               initial=ev.total - ev.to_run)  # a resumed run starts at what is already done
                return
            if overall is None:
                return
            if kind in ("item-done", "item-failed"):
                overall.update(1)
                bar = bars.pop(item.id, None) if item is not None else None
                if bar is not None:
                    bar.close()
                return
            if kind == "batch-paused":
                overall.set_postfix_str(f"paused {ev.seconds:.0f}s: {ev.reason}")
                if ev.resets_at is not None:
                    say(f"{ev.reason}")
                return
            if kind == "batch-waiting":
                overall.set_postfix_str(_countdown(ev))
                return
            if kind == "item-start":
                bars[item.id] = _view(item.id, True, _item_steps(item))
                return
            if item is not None and item.id in bars:
                bars[item.id](ev)

    with _session(args) as session:
        summary = run_batch(args.input, args.out, model=args.model, session=session, concurrency=args.concurrency,
                            manifest=args.manifest, on_event=on_event, stop_event=stop, abort_event=abort,
                            max_wait=args.batch_max_wait, timeout=args.timeout, handle_signals=True,
                            until_done=args.until_done, deadline=deadline, **defaults)
        pushed = _push(args, session, summary)
    with lock:
        for bar in bars.values():
            bar.close()
        if overall is not None:
            overall.close()
            overall = None
    if not args.json:
        for f in summary.failures:  # the reasons, after the bars, even with --quiet
            print(f"failed {f['id']} (line {f['line']}): {_one_line(f['error'])}", file=sys.stderr)
    if args.json:
        _emit_json({**summary.to_dict(), **({"pushed": pushed} if pushed else {})})
    else:
        print(summary, flush=True)
        if pushed:
            print(f"pushed to {pushed}", flush=True)
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.stopped_by is not None:
        return exit_code(summary.stopped_by)
    return EXIT_OK if summary.failed == 0 else EXIT_ERROR


def _range(r: Any) -> str:
    """``lo..hi step s`` with whole numbers in full (``Range.__str__`` writes 2147483647 as 2.14748e+09)."""
    step = f" step {r.step:.12g}" if r.step else ""
    return f"{r.lo:.12g}..{r.hi:.12g}{step}"


def cmd_models(args: argparse.Namespace) -> int:
    from .models import list_models

    rows: list[dict[str, Any]] = []
    for alias, spec in sorted(list_models().items()):
        rows.append({"alias": alias, "kind": spec.kind, "family": spec.family, "spaces": list(spec.spaces),
                     "endpoint": spec.api_name, "limits": {k: _range(v) for k, v in spec.limits.items()},
                     "defaults": dict(spec.defaults), "fixed_size": spec.fixed_size,
                     "zerogpu_duration": spec.zerogpu_duration, "description": spec.description})
    if args.json:
        _emit_json(rows)
        return EXIT_OK
    for r in rows:
        print(f"{r['alias']:20} {r['kind']:14} {', '.join(r['spaces'])}")
        limits = "; ".join(f"{k} {v}" for k, v in r["limits"].items())
        print(f"{'':20} {r['endpoint']}  limits: {limits}")
        if r["defaults"]:
            print(f"{'':20} defaults: {', '.join(f'{k}={v}' for k, v in r['defaults'].items())}")
        if r["description"]:
            print(f"{'':20} {r['description']}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from . import __version__
    from .local import local_requested
    from .models import list_models
    from .session import redact

    report: dict[str, Any] = {"version": __version__, "local": local_requested(args.local)}
    with _session(args, timeout=None) as session:
        hub = session.hf_endpoint
        token = session.token_for(hub)
        report["hub"] = {"endpoint": hub}
        report["token"] = {"source": session.token_source, "token": redact(token) if token else None}
        import httpx

        headers = {"authorization": f"Bearer {token}"} if token else {}
        t0 = time.monotonic()
        try:
            with httpx.Client(timeout=args.timeout, follow_redirects=True) as http:
                r = http.get(f"{hub}/api/whoami-v2", headers=headers)
                report["hub"].update(reachable=True, status=r.status_code,
                                     ms=round((time.monotonic() - t0) * 1000))
                if token and r.status_code == 200:
                    report["token"]["user"] = r.json().get("name")
                    report["token"]["zerogpu"] = _zerogpu_token_check(http, hub, headers)
                elif token:
                    report["token"]["user"] = None
                    report["token"]["problem"] = f"the Hub refused the token ({r.status_code})"
        except httpx.HTTPError as e:
            report["hub"].update(reachable=False, error=type(e).__name__)

        from huggingface_hub import HfApi

        api = HfApi(endpoint=hub)
        spaces: dict[str, Any] = {}
        if report["hub"]["reachable"]:
            for space_id in sorted({s for spec in list_models().values() for s in spec.spaces if "/" in s
                                    and not s.startswith(("http://", "https://"))}):
                try:
                    rt = api.get_space_runtime(space_id, token=token or False)
                    spaces[space_id] = {"stage": str(getattr(rt.stage, "value", rt.stage)),
                                        "hardware": getattr(rt, "hardware", None)}
                except Exception as e:  # noqa: BLE001 - reported, not raised
                    spaces[space_id] = {"stage": None, "error": _one_line(f"{type(e).__name__}: {e}")[:200]}
        report["spaces"] = spaces
        quota: dict[str, Any] = {}
        if not token:
            quota["note"] = "no token: ZeroGPU counts anonymous calls per IP address (quota not reported)"
        elif report["hub"]["reachable"]:
            try:
                q = api.get_zero_gpu_quota(token=token)
                quota.update(base=q.base, remaining=q.remaining,
                             resets_at=q.resets_at.isoformat() if q.resets_at else None,
                             overquota_used=getattr(q, "overquota_used", None))
            except Exception as e:  # noqa: BLE001
                quota["error"] = _one_line(f"{type(e).__name__}: {e}")[:200]
        report["zerogpu_quota"] = quota
    text = json.dumps(report, default=str)
    if token and token in text:  # belt and braces: a token never leaves in the output
        text = text.replace(token, redact(token))
        report = json.loads(text)
    if args.json:
        print(text)
    else:
        _print_doctor(report)
    return EXIT_OK if report["hub"].get("reachable") else EXIT_UNAVAILABLE


def _zerogpu_token_check(http: Any, hub: str, headers: dict[str, str]) -> str:
    """Whether the Hub issues a ZeroGPU token for FLUX.1-dev with this HF token: without one, ZeroGPU Spaces fall
    back to IP-based quota ("InvalidRepoToken") and the token's quota is not applied."""
    from .models import get_model
    from .zerogpu import jwt_url

    space = next(s for s in get_model("flux").spaces if "/" in s)
    url, query = jwt_url(hub, space)
    status = http.get(url, params=query, headers=headers).status_code
    if status == 200:
        return "ok"
    return (f"the Hub refused a ZeroGPU token ({status}): Spaces will count you by IP and your token's quota "
            "will not apply; check the token's validity and permissions")


def _print_doctor(r: dict[str, Any]) -> None:
    hub = r["hub"]
    where = " (local twins)" if r["local"] else ""
    state = (f"reachable (HTTP {hub['status']}, {hub['ms']} ms)" if hub.get("reachable")
             else f"UNREACHABLE ({hub.get('error')})")
    print(f"janusflux {r['version']}")
    print(f"hub:    {hub['endpoint']}{where}: {state}")
    tok = r["token"]
    user = f", user {tok['user']}" if tok.get("user") else ""
    problem = f" ({tok['problem']})" if tok.get("problem") else ""
    print(f"token:  {tok['source']}" + (f" ({tok['token']}){user}{problem}" if tok.get("token") else ""))
    if tok.get("zerogpu"):
        print(f"zerogpu token: {tok['zerogpu']}")
    for space_id, s in r["spaces"].items():
        print(f"space:  {space_id:34} {s.get('stage') or 'unknown: ' + str(s.get('error'))}")
    q = r["zerogpu_quota"]
    if "remaining" in q:
        resets = f", resets at {q['resets_at']}" if q.get("resets_at") else ""
        print(f"quota:  {q['remaining']:g}s of {q['base']:g}s ZeroGPU left{resets}")
    else:
        print(f"quota:  {q.get('note') or q.get('error')}")


# -- quota ------------------------------------------------------------------------------------------------------------
def _add_quota_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser("quota", parents=[common], help="the account's ZeroGPU allowance: left, reset time, over-quota")


def cmd_quota(args: argparse.Namespace) -> int:
    """``janusflux quota``: huggingface_hub ``get_zero_gpu_quota`` against the session's Hub endpoint."""
    from .allowance import quota

    with _session(args, timeout=None) as session:
        q = quota(session)
    if args.json:
        _emit_json(q.to_dict())
    else:
        print(q)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    if getattr(args, "twins_missing", False):
        raise ImportError("`janusflux serve` needs the twins extra: pip install 'janusflux[twins]'")
    from .twins import cli as twins_cli

    return int(twins_cli.run(args) or 0)


_COMMANDS = {"generate": cmd_generate, "chat": cmd_chat, "batch": cmd_batch, "models": cmd_models,
             "doctor": cmd_doctor, "serve": cmd_serve, "quota": cmd_quota}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    _set_env()
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as e:  # argparse: --help/--version (0) or a usage error (2)
        return int(e.code or 0) if not isinstance(e.code, str) else EXIT_INVALID
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt as e:
        return _report(e)
    except BrokenPipeError:  # `janusflux models | head`
        return EXIT_OK
    except Exception as e:  # noqa: BLE001 - every error becomes one line and an exit code
        return _report(e)


if __name__ == "__main__":
    sys.exit(main())
