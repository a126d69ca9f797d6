"""Warm per-call latency of janusflux against raw gradio_client on the same twin endpoint, and the HTTP requests
each makes (warm, and for the first call of a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

from .common import FLUX_DEV, JANUS, TOKEN, interleave, median, paired_ratio

FLUX_PROMPT = "a lighthouse at dawn, oil painting"
FLUX_ARGS = dict(seed=7, width=256, height=256, steps=4, guidance=3.5)
JANUS_Q = "What is in this picture?"
JANUS_ARGS = dict(seed=42, top_p=0.95, temperature=0.1)


def small_image(folder: str) -> str:
    from PIL import Image

    path = os.path.join(folder, "small.png")
    Image.new("RGB", (64, 64), (40, 80, 220)).save(path)
    return path


def raw_flux_args() -> tuple[Any, ...]:
    a = FLUX_ARGS
    return (FLUX_PROMPT, a["seed"], False, a["width"], a["height"], a["guidance"], a["steps"])


def raw_janus_args(image: str) -> tuple[Any, ...]:
    from gradio_client import handle_file

    a = JANUS_ARGS
    return (handle_file(image), JANUS_Q, a["seed"], a["top_p"], a["temperature"])


def _kind(path: str) -> str:
    """A request path with its variable parts folded away (file names, session hashes)."""
    for marker in ("/gradio_api/file=", "/file="):
        if marker in path:
            return path.split(marker)[0] + marker + "…"
    if "/heartbeat/" in path:
        return path.split("/heartbeat/")[0] + "/heartbeat/…"
    if "/api/spaces/" in path:
        tail = path.split("/api/spaces/")[1].split("/")
        return "/api/spaces/{id}" + ("/" + "/".join(tail[2:]) if len(tail) > 2 else "")
    return path


def count_requests(fleet: Any, fn: Any) -> list[str]:
    fleet.clear_requests()
    fn()
    time.sleep(0.05)  # let the last request reach the log
    return [f"{r.method} {'hub' if r.server == 'hub' else 'space'} {_kind(r.path)}" for r in fleet.requests]


def summarize(reqs: list[str]) -> str:
    c = Counter(reqs)
    return ", ".join(f"{n}× {k}" if n > 1 else k for k, n in c.items())


def measure(fleet: Any, rounds: int, warmup: int = 2, first_repeat: int = 5) -> dict[str, Any]:
    import gradio_client

    import janusflux

    out: dict[str, Any] = {}
    tmp = tempfile.mkdtemp(prefix="janusflux-bench-")
    image = small_image(tmp)
    flux_url, janus_url = fleet.url(FLUX_DEV), fleet.url(JANUS)
    session = janusflux.Session(hf_endpoint=fleet.hub_url, token=TOKEN, cache_dir=os.path.join(tmp, "cache"))
    gc_default = {u: gradio_client.Client(u, verbose=False, download_files=os.path.join(tmp, "gc"))
                  for u in (flux_url, janus_url)}
    gc_nodl = {u: gradio_client.Client(u, verbose=False, download_files=False) for u in (flux_url, janus_url)}
    try:
        flux = {
            "gradio_client predict (defaults: downloads the image)":
                lambda: gc_default[flux_url].predict(*raw_flux_args(), api_name="/infer"),
            "gradio_client predict (download_files=False)":
                lambda: gc_nodl[flux_url].predict(*raw_flux_args(), api_name="/infer"),
            "janusflux generate()": lambda: session.generate("flux-dev", FLUX_PROMPT, **FLUX_ARGS),
            "janusflux generate().data (image bytes fetched)":
                lambda: session.generate("flux-dev", FLUX_PROMPT, **FLUX_ARGS).data,
        }
        janus = {
            "gradio_client predict (defaults)":
                lambda: gc_default[janus_url].predict(*raw_janus_args(image), api_name="/multimodal_understanding"),
            "gradio_client predict (download_files=False)":
                lambda: gc_nodl[janus_url].predict(*raw_janus_args(image), api_name="/multimodal_understanding"),
            "janusflux generate()": lambda: session.generate("janus-pro-7b", JANUS_Q, image=image, **JANUS_ARGS),
        }
        # same inputs give the same outputs both ways (a benchmark of wrong answers is worthless)
        r = session.generate("janus-pro-7b", JANUS_Q, image=image, **JANUS_ARGS)
        raw = gc_nodl[janus_url].predict(*raw_janus_args(image), api_name="/multimodal_understanding")
        assert str(r) == raw, (str(r), raw)
        img = session.generate("flux-dev", FLUX_PROMPT, **FLUX_ARGS)
        assert img.size == (256, 256) and img.seed == FLUX_ARGS["seed"], (img.size, img.seed)
        out["checked"] = {"janus": "same answer text from janusflux and gradio_client",
                          "flux": "janusflux's image size and seed only (not compared with gradio_client's)"}

        for name, variants in (("flux", flux), ("janus", janus)):
            t = interleave(variants, rounds, warmup)
            out[name] = {k: {"median": median(v), "min": min(v), "n": len(v), "times": v} for k, v in t.items()}
            keys = list(variants)
            jf = t["janusflux generate()"]
            out[name + "_ratios"] = {
                "janusflux ÷ gradio_client(download_files=False)": paired_ratio(jf, t[keys[1]]),
                "janusflux ÷ gradio_client(defaults)": paired_ratio(jf, t[keys[0]]),
            }
            if name == "flux":
                out[name + "_ratios"]["janusflux + .data ÷ gradio_client(defaults)"] = paired_ratio(
                    t[keys[3]], t[keys[0]])

        # requests per warm call
        out["requests_warm"] = {
            "janusflux generate() (flux)": count_requests(
                fleet, lambda: session.generate("flux-dev", FLUX_PROMPT, **FLUX_ARGS)),
            "janusflux generate().data (flux)": count_requests(
                fleet, lambda: session.generate("flux-dev", FLUX_PROMPT, **FLUX_ARGS).data),
            "gradio_client predict, defaults (flux)": count_requests(
                fleet, lambda: gc_default[flux_url].predict(*raw_flux_args(), api_name="/infer")),
            "gradio_client predict, download_files=False (flux)": count_requests(
                fleet, lambda: gc_nodl[flux_url].predict(*raw_flux_args(), api_name="/infer")),
            "janusflux generate() (janus chat)": count_requests(
                fleet, lambda: session.generate("janus-pro-7b", JANUS_Q, image=image, **JANUS_ARGS)),
            "gradio_client predict (janus chat)": count_requests(
                fleet, lambda: gc_nodl[janus_url].predict(*raw_janus_args(image),
                                                          api_name="/multimodal_understanding")),
        }
        out["session_stats"] = dict(session.stats)
    finally:
        session.close()
        for c in (*gc_default.values(), *gc_nodl.values()):
            c.close()
    out["first_call"] = first_calls(fleet, first_repeat)
    return out


_FIRST = r"""
import os, sys, time, json
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from bench.common import setup_env, guard_network
setup_env(); guard_network()
# as after `pip install janusflux`: gradio (the twins' extra) is not installed. With it installed, gradio_client's
# first call to a Space given by id imports all of gradio (add_zero_gpu_headers), seconds that are not the client's.
sys.modules["gradio"] = None
which, hub, url = sys.argv[1], sys.argv[2], sys.argv[3]
args = dict(seed=7, width=256, height=256, steps=4, guidance=3.5)
if which == "janusflux":
    import janusflux
    t1 = time.perf_counter()
    s = janusflux.Session(hf_endpoint=hub, token={token!r})
    r = s.generate("flux-dev", "a lighthouse at dawn, oil painting", **args); r.data
    t2 = time.perf_counter()
    s.close()
else:  # given the Space id too, resolved through the Hub twin (HF_ENDPOINT), with the same token
    from gradio_client import Client
    t1 = time.perf_counter()
    c = Client("black-forest-labs/FLUX.1-dev", token={token!r}, verbose=False)
    c.predict("a lighthouse at dawn, oil painting", 7, False, 256, 256, 3.5, 4, api_name="/infer")
    t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "first_call": t2 - t1}}))
"""


def first_calls(fleet: Any, repeat: int = 5) -> dict[str, Any]:
    """The first call of a fresh process, like for like: both given the Space id, resolved through the Hub twin
    (janusflux by ``hf_endpoint``, gradio_client by ``HF_ENDPOINT``), both with the token, both without gradio
    importable (a user's install of either has no gradio; the twins run in their own processes). ``repeat`` fresh
    processes each, interleaved: medians of the import and of the first call, and the requests of the last one."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = _FIRST.format(root=root, token=TOKEN)
    out: dict[str, Any] = {}
    runs: dict[str, list[dict[str, Any]]] = {"janusflux": [], "gradio_client": []}
    for _ in range(repeat):
        for which in runs:
            if "error" in out.get(which, {}):
                continue
            fleet.clear_requests()
            p = subprocess.run([sys.executable, "-c", code, which, fleet.hub_url, fleet.url(FLUX_DEV)],
                               capture_output=True, text=True, timeout=120,
                               env={**os.environ, "HF_ENDPOINT": fleet.hub_url})
            if p.returncode != 0:
                out[which] = {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "failed"}
                continue
            data = json.loads(p.stdout.strip().splitlines()[-1])
            data["requests"] = [f"{r.method} {'hub' if r.server == 'hub' else 'space'} {_kind(r.path)}"
                                for r in fleet.requests]
            runs[which].append(data)
    for which, got in runs.items():
        if got and "error" not in out.get(which, {}):
            out[which] = {"import": median(d["import"] for d in got),
                          "first_call": median(d["first_call"] for d in got), "n": len(got),
                          "requests": got[-1]["requests"],
                          "given": "the Space id, via the Hub twin, gradio not installed"}
    return out


class _FastPoll:
    """Stands in for the ``time`` module inside gradio_client.utils, shortening its 50 ms polling sleeps to 2 ms."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def sleep(self, s: float) -> None:
        self._real.sleep(0.002 if s == 0.05 else s)


def poll_experiment(fleet: Any, rounds: int) -> dict[str, Any]:
    """An experiment, not a product change: how much of a warm call is gradio_client's 50 ms polling? Times
    ``predict(download_files=False)`` with and without the sleeps in ``gradio_client.utils`` shortened to 2 ms."""
    import concurrent.futures

    import gradio_client
    import gradio_client.utils as gu

    url = fleet.url(FLUX_DEV)
    clients = {p: gradio_client.Client(url, verbose=False, download_files=False) for p in (False, True)}
    real = gu.time
    failures = [0]

    def call(patched: bool) -> None:
        gu.time = _FastPoll(real) if patched else real  # type: ignore[assignment]
        try:
            for _ in range(3):  # gradio_client's shared event stream occasionally ends a job early (CancelledError)
                try:
                    clients[patched].predict(*raw_flux_args(), api_name="/infer")
                    return
                except concurrent.futures.CancelledError:
                    failures[0] += 1
        finally:
            gu.time = real

    try:
        t = interleave({"as shipped": lambda: call(False), "2 ms polling": lambda: call(True)}, rounds, 1)
    finally:
        for c in clients.values():
            c.close()
    return {"as_shipped": median(t["as shipped"]), "fast_poll": median(t["2 ms polling"]),
            "ratio": paired_ratio(t["2 ms polling"], t["as shipped"]), "cancelled_retried": failures[0]}
