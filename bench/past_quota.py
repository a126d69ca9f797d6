"""Issue 15 §7: one batch of the same items against (a) the official Space under a small ZeroGPU allowance, run
unattended across its resets, and (b) the official Space plus 2 replicas on dedicated hardware, in one run.

Twins in a child process: FLUX.1-schnell only, an allowance of 10 calls (60 s x factor 1.5 = 90 GPU s each) per reset
window, 4 GPU slots on the official Space, `delay` seconds of pretend GPU time per step. Each variant is its own
account (a fresh allowance each). Figures:

* wall time: ``run_batch``'s elapsed time;
* GPU seconds charged: what the Space twins booked to the account in all (the twin's ledger, ``/_twin/quota``);
* refused requests: calls the official Space received (``/queue/join``) minus the items it finished;
* quota waits: the batch's pauses for the allowance (``BatchSummary.resets``) and their length;
* the plan (``plan_batch``) against the run: resets for (a), wall time for (b) (the replicas' call time timed on one
  of them first, as a user would).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SCHNELL = "black-forest-labs/FLUX.1-schnell"
ARGS = {"width": 256, "height": 256, "steps": 2}
PER_CALL = 90  # GPU s the allowance is charged per call (60 s x 1.5)
TOKENS = {"official": "hf_benchquota" + "a1" * 12, "replicas": "hf_benchquota" + "b2" * 12}


def prompts(n: int) -> list[str]:
    return [f"a glass marble number {i}" for i in range(n)]


def _joins(fleet: Any) -> int:
    return sum(1 for r in fleet.requests if r.server == SCHNELL and r.method == "POST"
               and r.path.endswith("/queue/join"))


def _run(fleet: Any, session: Any, items: int, out: Path, window: float, replicas: int, call_seconds: float | None,
         token: str) -> dict[str, Any]:
    from janusflux.batch import read_manifest, run_batch
    from janusflux.plan import plan_batch

    plan = plan_batch(prompts(items), out, model="flux-schnell", session=session, concurrency=4,
                      reset_window=window, replicas=replicas, hardware="a10g-large" if replicas else None,
                      call_seconds=call_seconds, **ARGS)
    charged0, joins0 = fleet.charged(token), _joins(fleet)
    summary = run_batch(prompts(items), out, model="flux-schnell", session=session, concurrency=4, until_done=True,
                        max_wait=0.1, handle_signals=False, **ARGS)
    served = [r.get("space_id") for r in read_manifest(out / "manifest.jsonl") if r.get("status") == "done"]
    on_official = served.count(SCHNELL)
    return {"done": summary.done, "failed": summary.failed, "pending": summary.pending,
            "elapsed": summary.elapsed, "resets": summary.resets, "paused": summary.paused,
            "charged": fleet.charged(token) - charged0, "on_official": on_official,
            "on_replicas": len(served) - on_official, "refused": _joins(fleet) - joins0 - on_official,
            "plan": {"fits_now": plan.fits_now, "resets": plan.resets, "expected_total": plan.expected_total,
                     "wall_seconds": plan.wall_seconds, "replica_seconds": plan.replica_seconds,
                     "replica_cost": plan.replica_cost, "call_seconds": call_seconds}}


def measure(items: int, window: float, delay: float) -> dict[str, Any]:
    """Both variants on one fleet of twins (started here, in a child process)."""
    import janusflux
    from janusflux import replicas as rep

    from .twinproc import RemoteFleet

    fleet = RemoteFleet(spaces=["flux-schnell"], delay=delay, quota=10 * PER_CALL, quota_window=window,
                        hardware_factor=1.5, concurrency=4, build_time=0.3).ready()
    home = tempfile.mkdtemp(prefix="janusflux-bench-hf-")
    out: dict[str, Any] = {"items": items, "window": window, "delay": delay, "allowance": 10 * PER_CALL,
                           "per_call": PER_CALL, "replicas": 2}
    try:
        tmp = Path(tempfile.mkdtemp(prefix="janusflux-bench-quota-"))
        with janusflux.Session(hf_endpoint=fleet.hub_url, token=TOKENS["official"], replicas=False) as s:
            s.generate("flux-schnell", "warm-up", **ARGS)  # connected; then a fresh allowance for the batch
            fleet.reset_quota(TOKENS["official"])
            out["official"] = _run(fleet, s, items, tmp / "a", window, 0, None, TOKENS["official"])
        with janusflux.Session(hf_endpoint=fleet.hub_url, token=TOKENS["replicas"], replicas=False) as s:
            made = rep.create_replicas("flux-schnell", 2, hardware="a10g-large", sleep_time=600, session=s,
                                       path=Path(home) / "replicas.json")
        table = {r.space_id: r.source for r in made}
        with janusflux.Session(hf_endpoint=fleet.hub_url, token=TOKENS["replicas"], replicas=table) as s:
            ids = frozenset(table)
            on_replica = janusflux.get_model("flux-schnell").replace(spaces=tuple(sorted(ids)), dedicated=ids)
            times = []
            for i in range(4):  # the first call connects; the median is a call's time on a replica
                t0 = time.monotonic()
                s.generate(on_replica, f"timing {i}", **ARGS)
                times.append(time.monotonic() - t0)
            s.generate("flux-schnell", "warm-up", **ARGS)
            fleet.reset_quota(TOKENS["replicas"])
            out["with_replicas"] = _run(fleet, s, items, tmp / "b", window, 2, statistics.median(times),
                                        TOKENS["replicas"])
    finally:
        fleet.stop()
    return out


def _pct(estimate: float, actual: float) -> float:
    return (estimate - actual) / actual * 100 if actual else float("nan")


def render(p: dict[str, Any]) -> list[str]:
    """The report's section, every sentence from the figures."""
    a, b = p["official"], p["with_replicas"]
    n, window = p["items"], p["window"]
    out = ["## 7. Past the free quota: the official Space alone vs with 2 replicas (issue 15, single run)\n",
           f"{n} FLUX.1-schnell items, 4 calls in flight, an allowance of {p['allowance']:g} GPU s "
           f"({p['allowance'] // p['per_call']:g} calls of {p['per_call']} GPU s) per {window:g} s reset window, "
           f"{p['delay']:g} s of twin compute per step (2 steps a call); (a) `run_batch(..., until_done=True)` on the "
           f"official Space; (b) the same after `create_replicas(\"flux-schnell\", 2, hardware=\"a10g-large\")`, "
           f"another account.\n",
           "| | (a) official Space | (b) official + 2 replicas |", "|---|---|---|"]

    def row(label: str, key: str, fmt: str = "{:g}") -> None:
        out.append(f"| {label} | {fmt.format(a[key])} | {fmt.format(b[key])} |")

    row("wall time", "elapsed", "{:.1f} s")
    row(f"items done (of {n})", "done")
    row("… on the official Space", "on_official")
    row("… on the replicas", "on_replicas")
    row("GPU seconds charged to the allowance", "charged")
    row("requests the official Space refused", "refused")
    row("quota waits (allowance resets waited for)", "resets")
    out.append(f"| plan: resets needed | {a['plan']['resets']} | — |")
    wall = b["plan"]["wall_seconds"]
    out.append(f"| plan: wall time with the replicas | — | {wall:.1f} s (a call timed on a replica: "
               f"{b['plan']['call_seconds']:.2f} s) |\n")
    ratio = a["elapsed"] / b["elapsed"] if b["elapsed"] else float("nan")
    speed = (f"{ratio:.1f}× faster" if ratio > 1.05 else f"{1 / ratio:.1f}× slower" if ratio < 0.95
             else "about as fast")
    out.append(f"- With the replicas the batch took {b['elapsed']:.1f} s instead of {a['elapsed']:.1f} s ({speed}), "
               f"with {b['resets']} quota wait{'s' if b['resets'] != 1 else ''} instead of {a['resets']}: "
               f"{b['on_replicas']} of {n} items ran on the replicas.")
    saved = a["charged"] - b["charged"]
    out.append(f"- It charged {b['charged']:g} GPU s to the allowance instead of {a['charged']:g} "
               f"({abs(saved):g} {'fewer' if saved > 0 else 'more'}): only the items that ran on the "
               f"official Space are charged ({b['on_official']} × {p['per_call']} = "
               f"{b['on_official'] * p['per_call']:g}).")
    waste = max(a["refused"], b["refused"])
    out.append(f"- Requests the official Space refused: {a['refused']} in (a), {b['refused']} in (b)"
               + (" — none wasted." if waste == 0 else
                  f"; at most the 4 calls in flight when the allowance ran out ({a['resets']} wall"
                  f"{'s' if a['resets'] != 1 else ''} in (a))." if waste <= 4 * max(1, a["resets"]) else
                  " — more than the calls in flight at the walls: requests were wasted."))
    res_ok = a["plan"]["resets"] == a["resets"]
    diff = _pct(wall, b["elapsed"])
    out.append(f"- The plan said (a) needs {a['plan']['resets']} reset(s); the run waited {a['resets']}"
               f"{' (as planned)' if res_ok else ' (not as planned)'}. For (b) it estimated {wall:.1f} s; the run "
               f"took {b['elapsed']:.1f} s ({diff:+.0f}%: {'within' if abs(diff) <= 20 else 'outside'} 20%).")
    return out
