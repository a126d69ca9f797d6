"""Batch capacity over two FLUX.1-dev mirrors (each with 4 GPU slots and a fixed per-item delay), and latency and
throughput as concurrency grows."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from typing import Any

from .common import FLUX_DEV, FLUX_MIRROR, TOKEN, median

STEPS = 1  # per-item time on the twin = STEPS × fleet.delay (one step: little server CPU per item)
ARGS = dict(width=256, height=256, steps=STEPS, guidance=3.5)


def served_by(fleet: Any) -> dict[str, int]:
    c = Counter(r.server for r in fleet.requests if r.method == "POST" and r.path.endswith("/queue/join"))
    return {k: c.get(k, 0) for k in (FLUX_DEV, FLUX_MIRROR)}


async def _gather(session: Any, n: int, concurrency: int, balanced: bool) -> list[float]:
    """n items through ``Session.agenerate`` with at most ``concurrency`` in flight; ``balanced`` alternates the
    mirror order item by item (what a balancing batch would do); otherwise every item uses the alias as is."""
    import janusflux

    spec = janusflux.get_model("flux-dev")
    flipped = spec.replace(spaces=tuple(reversed(spec.spaces)))
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one(i: int) -> None:
        async with sem:
            t = time.perf_counter()
            await session.agenerate(flipped if balanced and i % 2 else spec, f"item {i}", seed=i, **ARGS)
            lat.append(time.perf_counter() - t)

    await asyncio.gather(*(one(i) for i in range(n)))
    return lat


def _raw(fleet: Any, n: int, threads: int) -> int:
    """The same workload through gradio_client directly (no janusflux): what the machine allows."""
    import concurrent.futures

    from gradio_client import Client

    clients = [Client(fleet.url(s), verbose=False, download_files=False) for s in (FLUX_DEV, FLUX_MIRROR)]
    try:
        def one(i: int) -> Any:
            return clients[i % 2].predict(f"item {i}", i, False, ARGS["width"], ARGS["height"], ARGS["guidance"],
                                          STEPS, api_name="/infer")

        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            return len(list(ex.map(one, range(n))))
    finally:
        for c in clients:
            c.close()


def _new_session(fleet: Any, workers: int = 64) -> Any:
    import janusflux

    return janusflux.Session(hf_endpoint=fleet.hub_url, token=TOKEN, max_workers=workers,
                             cache_dir=tempfile.mkdtemp(prefix="janusflux-bench-cap-"))


def measure(fleet: Any, items: int, concurrency_per_space: int, levels: list[int]) -> dict[str, Any]:
    """``fleet``: twins of both mirrors started with ``concurrency=concurrency_per_space`` and a per-step delay."""
    delay = fleet.delay
    per_item = STEPS * delay
    total_slots = 2 * concurrency_per_space
    bound = items * per_item / total_slots
    out: dict[str, Any] = {"items": items, "per_item": per_item, "slots": total_slots, "bound": bound, "runs": {}}
    session = _new_session(fleet)
    try:
        # warm both mirrors' clients so the figures are about capacity, not connection set-up
        asyncio.run(_gather(session, 2, 2, balanced=True))

        def run(name: str, fn: Any) -> None:
            fleet.clear_requests()
            t = time.perf_counter()
            extra = fn()
            makespan = time.perf_counter() - t
            out["runs"][name] = {"makespan": makespan, "ratio": makespan / bound, "served": served_by(fleet),
                                 **(extra or {})}

        try:
            from janusflux.batch import run_batch
        except ImportError:
            run_batch = None
        if run_batch is not None:
            for conc in (concurrency_per_space, total_slots):
                def rb(conc: int = conc) -> dict[str, Any]:
                    with tempfile.TemporaryDirectory(prefix="janusflux-bench-batch-") as d:
                        s = run_batch([f"item {i}" for i in range(items)], d, model="flux-dev", session=session,
                                      concurrency=conc, handle_signals=False, **ARGS)
                    return {"done": s.done, "failed": s.failed}
                run(f"janusflux.batch.run_batch(concurrency={conc})", rb)
        run(f"reference: raw gradio_client submit, {total_slots} threads, mirrors alternated",
            lambda: {"done": _raw(fleet, items, total_slots)})
        run(f"Session.agenerate + gather, {total_slots} in flight (alias order)",
            lambda: {"done": len(asyncio.run(_gather(session, items, total_slots, balanced=False)))})
        run(f"Session.agenerate + gather, {total_slots} in flight, mirrors alternated by the caller",
            lambda: {"done": len(asyncio.run(_gather(session, items, total_slots, balanced=True)))})

        # latency and throughput as concurrency grows (alias order, and alternated)
        sweep: dict[str, list[dict[str, float]]] = {"alias order": [], "mirrors alternated": []}
        for c in levels:
            n = max(16, 2 * c) if items >= 64 else max(4, c)
            for label, bal in (("alias order", False), ("mirrors alternated", True)):
                t = time.perf_counter()
                lat = asyncio.run(_gather(session, n, c, balanced=bal))
                wall = time.perf_counter() - t
                sweep[label].append({"concurrency": c, "items": n, "latency": median(lat), "throughput": n / wall,
                                     "wall": wall})
        out["sweep"] = sweep
        out["ideal_throughput"] = total_slots / per_item
    finally:
        session.close()
    return out


def plot(result: dict[str, Any], path: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for label, rows in result["sweep"].items():
        xs = [r["concurrency"] for r in rows]
        a1.plot(xs, [r["throughput"] for r in rows], marker="o", label=label)
        a2.plot(xs, [r["latency"] * 1000 for r in rows], marker="o", label=label)
    xs = [r["concurrency"] for r in next(iter(result["sweep"].values()))]
    ideal = [min(x, result["slots"]) / result["per_item"] for x in xs]
    a1.plot(xs, ideal, linestyle="--", color="grey", label="capacity bound")
    for a in (a1, a2):
        a.set_xscale("log", base=2)
        a.set_xlabel("calls in flight")
        a.grid(True, alpha=0.3)
        a.legend(fontsize=8)
    a1.set_ylabel("images / s")
    a1.set_title(f"Throughput (2 mirrors × {result['slots'] // 2} slots, {result['per_item']:.2f} s/item)")
    a2.set_ylabel("median latency per item (ms)")
    a2.set_title("Latency")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
