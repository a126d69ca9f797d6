"""``janusflux batch``: plan, run (progress bars, Ctrl-C), publish."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from .common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, _emit_json, _one_line, _session, _view, exit_code


def _item_steps(item: Any) -> int | None:
    from ..models import get_model
    from ..render import steps_of

    return steps_of(get_model(item.model), item.params)


def _parse_deadline(text: str | None) -> Any:
    """``--deadline``: seconds (``90m``, ``8h``, ``2d``, ``3600``) or an ISO 8601 time."""
    import re
    from datetime import datetime

    from ..errors import InvalidInputError

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
    from ..plan import plan_batch

    with _session(args, timeout=None) as session:
        plan = plan_batch(args.input, args.out, model=args.model, session=session, manifest=args.manifest,
                          hardware_factor=args.hardware_factor, replicas=args.replicas, hardware=args.hardware,
                          concurrency=args.concurrency, call_seconds=args.call_seconds, **defaults)
    if args.json:
        _emit_json(plan.to_dict())
    else:
        print(plan)
    return EXIT_OK


def _push(args: argparse.Namespace, session: Any, summary: Any) -> str | None:
    """``--push-to-hub``: publish what the batch finished (this run and earlier ones); the commit URL."""
    if args.push_to_hub is None or summary.interrupted or summary.done + summary.skipped == 0:
        return None
    from ..publish import push_to_hub

    return push_to_hub(args.out, args.push_to_hub, session=session, private=True if args.private else None)


def _countdown(ev: Any) -> str:
    from ..allowance import format_duration

    at = f" (reset at {ev.resets_at:%H:%M:%S} UTC)" if ev.resets_at is not None else ""
    return f"waiting for the ZeroGPU allowance: {format_duration(ev.seconds_left)} left{at}"


def cmd_batch(args: argparse.Namespace) -> int:
    from ..batch import run_batch

    defaults = {k: v for k, v in {"aspect_ratio": args.aspect_ratio, "width": args.width, "height": args.height,
                                  "seed": args.seed, "steps": args.steps, "guidance": args.guidance}.items()
                if v is not None}
    if args.plan:
        return cmd_batch_plan(args, defaults)
    deadline = _parse_deadline(args.deadline)
    if args.push_to_hub is not None and args.push_to_hub.count("/") != 1:
        from ..errors import InvalidInputError

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
