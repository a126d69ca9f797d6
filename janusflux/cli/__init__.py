"""The ``janusflux`` command line.

    janusflux generate flux "a lighthouse at dawn" --local -o lighthouse.png
    janusflux chat janus "What is in this picture?" --image lighthouse.png
    janusflux chat --image lighthouse.png -m "What is in this picture?"
    janusflux batch prompts.txt --out images/ --model flux-schnell --concurrency 2
    janusflux models [--json]
    janusflux doctor [--local] [--json]
    janusflux quota [--local] [--json]
    janusflux replicas create flux-dev --count 2 --hardware a10g-large --sleep-time 600
    janusflux replicas list [--json] | pause NAME | delete NAME --yes
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

from collections.abc import Sequence

from .batch_cmd import cmd_batch
from .common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_QUOTA,
    EXIT_TIMEOUT,
    EXIT_UNAVAILABLE,
    _report,
    _set_env,
    exit_code,
)
from .generate import cmd_chat, cmd_generate
from .info import cmd_doctor, cmd_models, cmd_quota, cmd_serve
from .parser import build_parser
from .replicas_cmd import cmd_replicas

__all__ = [
    "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_INVALID", "EXIT_OK", "EXIT_QUOTA", "EXIT_TIMEOUT", "EXIT_UNAVAILABLE",
    "build_parser", "exit_code", "main",
]

_COMMANDS = {"generate": cmd_generate, "chat": cmd_chat, "batch": cmd_batch, "models": cmd_models,
             "doctor": cmd_doctor, "serve": cmd_serve, "quota": cmd_quota, "replicas": cmd_replicas}


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

