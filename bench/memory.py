"""Peak RSS of a 1,000-image batch (256×256, one step, delay 0), measured in a child process so that only the
client's memory counts (the twins run in their own process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from .common import TOKEN

_CHILD = r"""
import asyncio, json, os, resource, sys, tempfile, time
sys.path.insert(0, {root!r})
from bench.common import setup_env, guard_network
setup_env(); guard_network()
import psutil
import janusflux
hub, n, conc, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
proc = psutil.Process()
base = proc.memory_info().rss
out = tempfile.mkdtemp(prefix="janusflux-bench-mem-")
session = janusflux.Session(hf_endpoint=hub, token={token!r}, max_workers=conc, cache_dir=os.path.join(out, "cache"))
args = dict(width=256, height=256, steps=1, guidance=3.5)
t = time.perf_counter()
if mode == "run_batch":
    from janusflux.batch import run_batch
    s = run_batch([f"image {{i}}" for i in range(n)], out, model="flux-dev", session=session, concurrency=conc,
                  handle_signals=False, timeout=60, **args)
    done = s.done
    failures = [f["error"] for f in s.failures]
else:
    async def main():
        sem = asyncio.Semaphore(conc)
        async def one(i):
            async with sem:
                r = await session.agenerate("flux-dev", f"image {{i}}", seed=i, timeout=60, **args)
                r.save(os.path.join(out, f"{{i}}.png"))
                return 1
        return sum(await asyncio.gather(*(one(i) for i in range(n))))
    done = asyncio.run(main())
    failures = []
wall = time.perf_counter() - t
session.close()
print(json.dumps({{"done": done, "failed": len(failures), "first_errors": sorted(set(failures))[:3], "wall": wall,
                   "baseline_rss": base,
                   "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                   "end_rss": proc.memory_info().rss, "threads": proc.num_threads()}}))
"""


def measure(fleet: Any, n: int, concurrency: int = 8) -> dict[str, Any]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        import janusflux.batch  # noqa: F401
        mode = "run_batch"
    except ImportError:
        mode = "agenerate"
    p = subprocess.run([sys.executable, "-c", _CHILD.format(root=root, token=TOKEN), fleet.hub_url, str(n),
                        str(concurrency), mode], capture_output=True, text=True, timeout=1800, env={**os.environ})
    if p.returncode != 0:
        tail = p.stderr.strip().splitlines()[-3:] if p.stderr.strip() else ["failed"]
        return {"error": " | ".join(tail), "mode": mode, "items": n}
    data = json.loads(p.stdout.strip().splitlines()[-1])
    data.update(mode=mode, items=n, concurrency=concurrency)
    return data
