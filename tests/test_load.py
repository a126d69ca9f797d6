"""Load: 200 concurrent async generations against the twins finish without deadlock, with the thread count bounded;
after ``close()`` no janusflux or gradio_client thread and no client is left.

The twins run in a subprocess here (``python -m janusflux.twins``), so every thread of this process is the test's or
the SDK's: the thread count measures the SDK alone. (gradio_client's own reports include a deadlock with more than
40 jobs in flight: its Client has a 40-thread executor.)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import janusflux

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

N = 200


def thread_bound(max_workers: int, clients: int = 2, spaces: int = 2) -> int:
    """The session's own workers; for each gradio_client Client, one executor thread and two helpers per job in flight
    (client.py 2.7.2). The session's ``max_workers`` bounds the jobs in flight over all Spaces, and concurrent calls
    spread over the mirrors (least busy first), so a Client's pools (which keep the threads they ever needed) hold at
    most ``max_workers / spaces + 1`` jobs' threads each, plus its stream reader and heartbeat; plus the sampler and
    some slack. ``clients`` is the number of Clients the session opened: one per Space (2), and a fresh one where a
    Client was retired (a job gradio_client ended early, seen under load), whose threads live until its last call
    ends. For max_workers=32 and 2 clients: 142 (measured 131-132); for 8: 46 (measured 35-36). What matters: the
    bound does not grow with the number of calls."""
    return max_workers + clients * (3 * (max_workers // spaces + 1) + 2) + 4


@pytest.fixture(scope="module")
def twins_proc() -> Iterator[str]:
    """flux-dev twins (official + mirror) and the Hub twin in a subprocess: 8 GPU slots each, tiny delay, big quota."""
    env = dict(os.environ)
    env.pop("HF_TOKEN", None)
    p = subprocess.Popen([sys.executable, "-m", "janusflux.twins", "flux-dev", "--port", "0", "--concurrency", "8",
                          "--delay", "0.001", "--quota", "1e12"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    hub = None
    deadline = time.monotonic() + 60
    assert p.stdout is not None
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if line.startswith("export HF_ENDPOINT="):
            hub = line.split("=", 1)[1].strip()
            break
    if hub is None:
        p.kill()
        pytest.fail("the twins subprocess did not start")
    try:
        yield hub
    finally:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


def _sdk_threads() -> list[threading.Thread]:
    """Threads of janusflux (its executor) and gradio_client (Client executors, heartbeat)."""
    return [t for t in threading.enumerate()
            if t.name.startswith(("janusflux", "ThreadPoolExecutor")) or "heartbeat" in t.name.lower()
            or "_stream_heartbeat" in t.name]


@pytest.mark.parametrize("max_workers,n", [(32, N), (8, 80)])
def test_concurrent_agenerate(twins_proc, tmp_path, max_workers, n):
    """``n`` concurrent ``agenerate`` calls via asyncio.gather: all finish (no deadlock), each with its own seed;
    the thread count stays under ``thread_bound(max_workers)``; close() leaves no thread and no client."""
    base_threads = threading.active_count()
    s = janusflux.Session(hf_endpoint=twins_proc, token="hf_load" + "2" * 24, cache_dir=str(tmp_path),
                          max_workers=max_workers, max_wait=60)
    peak = [base_threads]
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], threading.active_count())
            time.sleep(0.01)

    watcher = threading.Thread(target=sampler, name="test-sampler", daemon=True)
    watcher.start()

    async def main() -> list[object]:
        calls = [s.agenerate("flux", f"prompt {i}", width=256, height=256, steps=1, seed=i) for i in range(n)]
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=100)

    t0 = time.monotonic()
    try:
        try:
            results = asyncio.run(main())
        finally:
            elapsed = time.monotonic() - t0
            stop.set()
            watcher.join()
        errors = [r for r in results if isinstance(r, BaseException)]
        print(f"\n{n} concurrent agenerate: {elapsed:.1f}s, peak threads {peak[0]} (base {base_threads}), "
              f"errors {len(errors)}, clients {s.stats['clients']}")
        assert not errors, f"{len(errors)} failed, first: {errors[0]!r}"
        assert len(results) == n
        assert sorted(r.seed for r in results) == list(range(n))  # type: ignore[union-attr]
        # one Client per Space (measured: 2); a second one for a Space only where gradio_client ended a job early
        assert s.stats["clients"] <= 4
        assert peak[0] - base_threads <= thread_bound(max_workers, s.stats["clients"]), \
            f"peak {peak[0]} threads (base {base_threads}, clients {s.stats['clients']})"
    finally:
        s.close()  # also when a check failed: the next case counts threads from its own base
    assert len(s._conns) == 0, "clients left after close()"
    deadline = time.monotonic() + 5
    while _sdk_threads() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _sdk_threads()
    assert not left, f"threads left after close(): {[t.name for t in left]}"
    assert threading.active_count() <= base_threads + 1, [t.name for t in threading.enumerate()]


def test_sync_generate_from_many_threads(twins_proc, tmp_path):
    """60 plain threads calling the sync ``generate`` on one session at once: all finish; one client per Space, plus
    a retired client's replacement (2-4 clients)."""
    from concurrent.futures import ThreadPoolExecutor

    with janusflux.Session(hf_endpoint=twins_proc, token="hf_load" + "3" * 24, cache_dir=str(tmp_path),
                           max_wait=60) as s:
        with ThreadPoolExecutor(max_workers=60, thread_name_prefix="test-caller") as pool:
            futs = [pool.submit(s.generate, "flux", f"p{i}", width=256, height=256, steps=1, seed=i)
                    for i in range(60)]
            results = [f.result(timeout=90) for f in futs]
        assert sorted(r.seed for r in results) == list(range(60))
        # one per Space (concurrent calls spread over the two mirrors), plus a fresh one where a client was retired
        # (loaded run 1 of f9592cb: 3), as in test_concurrent_agenerate
        assert 2 <= s.stats["clients"] <= 4
