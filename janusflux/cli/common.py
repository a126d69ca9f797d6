"""What every command shares: exit codes, the one-line error report, the session, progress and JSON output."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

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
    from ..errors import (
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


# -- sessions ----------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _session(args: argparse.Namespace, **kwargs: Any) -> Iterator[Any]:
    from ..local import local_requested, local_session
    from ..session import Session

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


def _view(desc: str, enabled: bool, total_steps: int | None = None) -> Any:
    from ..render import ProgressView

    return ProgressView(desc, total_steps=total_steps, enabled=enabled)


def _run(session: Any, model: str, prompt: str | None, params: dict[str, Any], view: Any) -> Any:
    from ..render import track

    return track(session.stream(model, prompt, **params), view=view)


def _emit_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None, default=str))
