"""Shared pieces of the harness: environment, a loopback-only network guard, timing and statistics helpers."""

from __future__ import annotations

import os
import statistics
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# No telemetry flags: the benchmark measures the SDK as a user runs it (whatever tries to leave loopback is refused
# and listed in the report). No implicit token: the harness passes its made-up token explicitly.
ENV = {"HF_HUB_DISABLE_IMPLICIT_TOKEN": "1", "HF_HUB_OFFLINE": "0"}

FLUX_DEV = "black-forest-labs/FLUX.1-dev"
FLUX_MIRROR = "roxky/FLUX.1-dev"
JANUS = "deepseek-ai/Janus-Pro-7B"
TOKEN = "hf_bench" + "0123456789abcdef" * 2  # a made-up user for the Hub twin; never a real token


def setup_env() -> None:
    """The token flags, set before anything imports huggingface_hub or gradio_client."""
    for k, v in ENV.items():
        os.environ.setdefault(k, v)
    os.environ.pop("HF_TOKEN", None)


_blocked: list[str] = []
_section = ["start-up of the harness"]  # the part of the run going on, so a refused host is attributed to it


def section(name: str) -> None:
    """Name the part of the run that starts now (``latency``, ``g4f``, ...): refused hosts are recorded with it."""
    _section[0] = name


# Who made a refused request, from the frames of the call (the first rule that matches). huggingface_hub's telemetry
# runs in its own worker thread, so its caller is not on the stack: janusflux sends none (its clients' telemetry
# thread is disabled, test_session_live.py proves it), the raw gradio_client arms do.
_GUARD = os.path.join("janusflux", "netguard.py")  # the guard's own frames say nothing about who asked
_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "janusflux", "")
_CALLERS = ((_PACKAGE, "janusflux"), ("huggingface_hub/utils/_telemetry.py", "huggingface_hub's telemetry worker"),
            ("/g4f/", "g4f"), ("/gradio_client/", "raw gradio_client"))


def _caller() -> str:
    files = [f.filename for f in traceback.extract_stack() if not f.filename.endswith(_GUARD)]
    for marker, who in _CALLERS:
        if any(marker in f for f in files):
            return who
    return "unattributed"


def guard_network() -> list[str]:
    """Refuse every name lookup and connection that is not loopback in this process (:mod:`janusflux.netguard`).
    Returns the list where the refused hosts are recorded with the library that asked (:data:`_CALLERS`) and the
    :func:`section` of the run, so a report can say what tried to leave the machine and which arm did."""
    from janusflux import netguard  # after setup_env: importing janusflux imports huggingface_hub

    netguard.install(lambda kind, host: _blocked.append(f"{host} by {_caller()} (during {_section[0]})"))
    return _blocked


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def interleave(variants: dict[str, Callable[[], Any]], rounds: int, warmup: int = 2) -> dict[str, list[float]]:
    """Run every variant once per round, rotating the order each round, and return the seconds per variant.
    Side-by-side rounds make the ratios robust to other load on a shared machine."""
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            dt, _ = timed(variants[n])
            if r >= warmup:
                times[n].append(dt)
    return times


def median(xs: Iterable[float]) -> float:
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median of the per-round ratios a_i / b_i (rounds ran side by side)."""
    return median(x / y for x, y in zip(a, b, strict=True) if y > 0)


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"
