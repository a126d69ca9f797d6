"""The argument parser of ``janusflux`` (the usage text is the package docstring)."""

from __future__ import annotations

import argparse
from typing import Any

from .common import DEFAULT_CHAT_MODEL, DEFAULT_IMAGE_MODEL, _plain


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
    from . import __doc__ as usage

    parser = argparse.ArgumentParser(prog="janusflux", description="\n\n".join(_plain(usage or "").split("\n\n")[:3]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Exit codes: 0 ok, 1 error, 2 invalid input, 3 quota, "
                                            "4 Space unavailable/busy, 5 timeout, 130 interrupted.")
    from .. import __version__

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
    from .replicas_cmd import add_replicas_parser

    add_replicas_parser(sub, common)

    d = sub.add_parser("doctor", parents=[common], help="check token, Hub, Spaces and ZeroGPU quota")
    d.add_argument("--timeout", type=float, default=10.0, metavar="S", help="per request (default 10)")

    s = sub.add_parser("serve", help="run the twins in the foreground (offline Spaces and Hub)")
    try:
        from ..twins import cli as twins_cli
    except ImportError:  # the twins extra (gradio, uvicorn) is not installed
        s.set_defaults(twins_missing=True)
    else:
        twins_cli.add_arguments(s)
    return parser


def _batch_quota_options(b: argparse.ArgumentParser) -> None:
    """``batch`` options past the free quota: plan, run across resets, publish."""
    from ..plan import DEFAULT_HARDWARE_FACTOR

    b.add_argument("--plan", action="store_true",
                   help="print what the batch will take (ZeroGPU time, what fits today, resets, replicas) and exit")
    b.add_argument("--hardware-factor", type=float, default=DEFAULT_HARDWARE_FACTOR, metavar="F",
                   help=f"--plan: ZeroGPU charges declared duration x F (default {DEFAULT_HARDWARE_FACTOR})")
    b.add_argument("--replicas", type=int, default=0, metavar="N", help="--plan: estimate N dedicated replicas")
    b.add_argument("--hardware", default=None, metavar="HW", help="--plan: the replicas' hardware, e.g. a10g-large")
    b.add_argument("--call-seconds", type=float, default=None, metavar="S",
                   help="--plan: seconds a call takes on a replica (default: measured by earlier runs of --out)")
    b.add_argument("--until-done", action="store_true",
                   help="wait out every ZeroGPU allowance reset until every item is done (or --deadline, Ctrl-C)")
    b.add_argument("--deadline", default=None, metavar="WHEN",
                   help="--until-done: stop at this time (ISO 8601) or after this long (90m, 8h, 2d, seconds)")
    b.add_argument("--push-to-hub", default=None, metavar="USER/NAME",
                   help="then publish the finished images and metadata as a Hub dataset (with a dataset card)")
    b.add_argument("--private", action="store_true", help="--push-to-hub: create the dataset private")


def _add_quota_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser("quota", parents=[common], help="the account's ZeroGPU allowance: left, reset time, over-quota")
