"""Run every benchmark against fresh twins and rewrite BENCHMARKS.md.

    python -m bench.run            # the full run (several minutes)
    python -m bench.run --quick    # a few iterations each, 20 images instead of 1,000 (the smoke test)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "bench"

from bench.common import FLUX_DEV, FLUX_MIRROR, JANUS, guard_network, section, setup_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _v(pkg: str) -> str:
    try:
        return version(pkg)
    except PackageNotFoundError:
        return "—"


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}", "load": [round(x, 2) for x in load],
            "packages": {p: _v(p) for p in ("janusflux", "gradio_client", "gradio", "httpx", "huggingface_hub",
                                            "g4f", "aiohttp")}}


def commit() -> str:
    """The commit the measured code is (``+dirty`` when the work tree differs from it)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few iterations each; 20 images instead of 1,000")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"), help="the Markdown report to write")
    ap.add_argument("--plot", default=os.path.join(ROOT, "bench", "concurrency.png"), help="the PNG plot to write")
    ap.add_argument("--json", default=None, help="also write the raw figures as JSON here")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds per latency figure (default 21)")
    ap.add_argument("--render", metavar="JSON", default=None,
                    help="only rewrite the report from a JSON written by --json (no measuring)")
    a = ap.parse_args(argv)
    if a.render:
        from bench import report

        with open(a.render) as f:
            res = json.load(f)
        res["rendered_at"] = commit()
        with open(a.out, "w") as f:
            f.write(report.render(res, os.path.relpath(a.plot, os.path.dirname(os.path.abspath(a.out)))
                                  if res.get("plot") else None))
        return 0
    setup_env()
    blocked = guard_network()
    from bench import capacity, g4f_compare, latency, memory, report, startup, twinproc

    q = a.quick
    rounds = a.rounds or (3 if q else 21)
    cap_items, levels = (8, [1, 4]) if q else (64, [1, 2, 4, 8, 16, 32, 64])
    mem_items = 20 if q else 1000
    res: dict[str, Any] = {"quick": q, "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                           "machine": machine(), "rounds": rounds, "commit": commit(),
                           "command": "python -m bench.run" + (" --quick" if q else "")}
    t0 = time.monotonic()

    def log(*m: object) -> None:
        print("bench:", *m, file=sys.stderr, flush=True)

    # two twin processes, started in parallel: delay 0 for per-call figures; 4 slots and 0.25 s/item for capacity
    fast = twinproc.RemoteFleet(spaces=[FLUX_DEV, FLUX_MIRROR, JANUS], delay=0.0, quota=1e12, concurrency=8)
    slow = twinproc.RemoteFleet(spaces=[FLUX_DEV, FLUX_MIRROR], delay=0.25, quota=1e12, concurrency=4)
    try:
        fast.ready(), slow.ready()
        res["twins_started_in"] = time.monotonic() - t0
        log(f"twins up in {res['twins_started_in']:.1f}s; latency ({rounds} rounds)")
        section("latency")
        res["latency"] = latency.measure(fast, rounds, warmup=1 if q else 2, first_repeat=2 if q else 5)
        try:
            section("polling experiment")
            res["poll"] = latency.poll_experiment(fast, rounds)
        except Exception as e:  # noqa: BLE001 - an experiment; the run goes on
            res["poll"] = None
            log(f"polling experiment failed: {type(e).__name__}: {e}")
        log("g4f")
        section("g4f")
        res["g4f"] = g4f_compare.measure(fast, rounds, warmup=1 if q else 2)
        if not q:
            res["g4f_slow"] = g4f_compare.measure(slow, max(5, rounds // 2), warmup=1, steps=1)
        log(f"capacity ({cap_items} items)")
        section("capacity")
        res["capacity"] = capacity.measure(slow, cap_items, 4, levels)
        res["plot"] = capacity.plot(res["capacity"], a.plot)
        log(f"memory ({mem_items} images)")
        section("memory")
        res["memory"] = memory.measure(fast, mem_items)
    finally:
        fast.stop()
        slow.stop()
    log("past the free quota")
    from bench import past_quota

    try:
        res["past_quota"] = past_quota.measure(*((20, 10.0, 0.25) if q else (40, 20.0, 0.5)))
    except Exception as e:  # noqa: BLE001 - reported as missing; the run goes on
        res["past_quota"] = None
        log(f"past-the-quota benchmark failed: {type(e).__name__}: {e}")
    log("start-up")
    section("start-up")
    res["startup"] = startup.measure(3 if q else 11)
    res["blocked"] = sorted(set(blocked))
    res["elapsed"] = time.monotonic() - t0
    res["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    text = report.render(res, os.path.relpath(a.plot, os.path.dirname(os.path.abspath(a.out))) if res["plot"] else None)
    with open(a.out, "w") as f:
        f.write(text)
    log(f"wrote {a.out} in {res['elapsed']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
