"""`janusflux serve flux-dev|flux-schnell|janus-pro-7b|all`: run the twins in the foreground until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from .options import NEWCOMER, TwinOptions
from .state import ANONYMOUS_MODES, FAMILIES, WAITING_TOASTS
from .wordings import DEFAULT_WORDING, WORDINGS

__all__ = ["add_arguments", "main", "options_from", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spaces", nargs="*", default=["all"], metavar="SPACE",
                        help=f"what to serve: {', '.join(FAMILIES)}, a Space id, or all (default)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=7860,
                        help="Hub twin port; Space twin i listens on PORT+1+i (0: free ports). Default 7860")
    parser.add_argument("--quota", type=float, default=NEWCOMER.quota,
                        help=f"GPU seconds per identity per window (default {NEWCOMER.quota:g}: no wall in sight)")
    parser.add_argument("--quota-window", type=float, default=86400.0, help="seconds until an identity's usage resets")
    parser.add_argument("--delay", type=float, default=0.01, help="seconds of pretend GPU time per step")
    parser.add_argument("--duration-scale", type=float, default=1.0, help="multiplies the ZeroGPU durations booked")
    parser.add_argument("--concurrency", type=int, default=None, help="GPU slots per Space (default 2)")
    parser.add_argument("--queue-full", action="store_true", help="answer 503 on queue/join")
    parser.add_argument("--config-429", action="store_true", help="answer 429 on GET /config")
    parser.add_argument("--worker-error", metavar="TEXT", default=None, help='fail calls with "ZeroGPU worker error"')
    parser.add_argument("--drop-stream", action="store_true", help="cut the event stream mid-run")
    parser.add_argument("--slow", type=float, default=0.0, metavar="S", help="extra seconds per call")
    z = parser.add_argument_group("ZeroGPU behaviour")
    z.add_argument("--zerogpu-wording", choices=WORDINGS, default=NEWCOMER.zerogpu_wording,
                   help=f"which `spaces` generation's error texts and titles to speak (default {DEFAULT_WORDING})")
    z.add_argument("--hardware-factor", type=float, default=NEWCOMER.hardware_factor,
                   help=f"requested = duration x factor (default {NEWCOMER.hardware_factor}, today's hardware)")
    z.add_argument("--anonymous", choices=ANONYMOUS_MODES, default=NEWCOMER.anonymous,
                   help="callers without a token: ip = an IP identity as in production (default); space = no "
                        "identity ('Space app has reached its GPU limit')")
    z.add_argument("--waiting-toast", choices=WAITING_TOASTS, default=NEWCOMER.waiting_toast,
                   help="toast while waiting for a GPU slot: "
                        "gpu ('...to become available') or slot ('...on this Space')")
    z.add_argument("--queue-max-size", type=int, default=None, metavar="N",
                   help="gradio queue max_size (1 = a ZeroGPU Space on gradio 6); default unbounded")
    z.add_argument("--zerogpu-token-format", choices=("jwt", "plain"), default="jwt",
                   help="ZeroGPU tokens the Hub twin issues (both are accepted)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="let gradio and the servers print (request log lines, example caching)")
    parser.add_argument("--stage", action="append", default=[], metavar="SPACE=STAGE",
                        help="start a Space in a stage (RUNNING, SLEEPING, BUILDING, PAUSED, RUNTIME_ERROR)")


def options_from(args: argparse.Namespace, faults: dict[str, Any] | None) -> TwinOptions:
    return NEWCOMER.replace(
        host=args.host, port=args.port, quota=args.quota, quota_window=args.quota_window,
        duration_scale=args.duration_scale, delay=args.delay, concurrency=args.concurrency, faults=faults,
        verbose=args.verbose, zerogpu_wording=args.zerogpu_wording, hardware_factor=args.hardware_factor,
        anonymous=args.anonymous, waiting_toast=args.waiting_toast, queue_max_size=args.queue_max_size,
        zerogpu_token_format=args.zerogpu_token_format)


def run(args: argparse.Namespace) -> int:
    from .fleet import PortInUseError, start_twins

    faults = {k: v for k, v in {
        "queue_full": args.queue_full, "config_429": args.config_429, "worker_error": args.worker_error,
        "drop_stream": args.drop_stream, "slow": args.slow,
    }.items() if v}
    stages = []
    for item in args.stage:
        space, sep, stage = item.partition("=")
        if not sep:
            raise SystemExit(f"--stage wants SPACE=STAGE, got {item!r}")
        stages.append((space, stage.upper()))
    try:
        fleet = start_twins(args.spaces or None, options_from(args, faults or None))
    except PortInUseError as e:
        print(f"janusflux serve: {e.strerror}", file=sys.stderr)
        return 1
    try:
        # Before the ready line: a Ctrl-C right after it (a script that waits for it, then stops us) stops cleanly.
        # The handler raises instead of setting an Event: Event.set from a signal handler deadlocks when the signal
        # lands while the main thread holds that Event's lock inside Event.wait (seen: a `serve` hung after SIGINT).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _stop)
        for space, stage in stages:
            fleet.set_stage(space, stage)
        print(f"Hub twin:  {fleet.hub_url}")
        for sid, url in fleet.urls.items():
            print(f"{sid:34} {url}")
        print(f"export HF_ENDPOINT={fleet.hub_url}", flush=True)
        while True:
            time.sleep(3600)
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # while stopping, a second Ctrl-C forces it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        fleet.stop()
        print("twins stopped", flush=True)
    return 0


class _Stopped(Exception):
    """SIGINT or SIGTERM: stop the twins."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m janusflux.twins", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
