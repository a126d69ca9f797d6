"""janusflux against g4f's hand-written ``BlackForestLabs_Flux1Dev`` provider on the FLUX.1-dev twin.

g4f's provider posts ``queue/join`` (fn_index 2, trigger_id 4) and reads the SSE of ``queue/data`` itself; before
that it scrapes ``https://huggingface.co/spaces/{space}`` for a ZeroGPU token unless one is passed as ``api_key``.
Here its ``url``/``referer`` class attributes point at the twin, the ZeroGPU token comes from the Hub twin (the JWT
the twin would issue to the bench user) and is passed as ``api_key``, so nothing reaches huggingface.co; the process
also runs with every non-loopback lookup and connection refused (``bench.common.guard_network``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from .common import FLUX_DEV, TOKEN, interleave, median, paired_ratio

PROMPTS = ["a lighthouse at dawn, oil painting", "a red fox in the snow", "a bowl of ramen, studio light"]
SIZE, STEPS, SEED = 256, 4, 7


def g4f_version() -> str:
    try:
        from importlib.metadata import version

        return version("g4f")
    except Exception:  # noqa: BLE001
        return "not installed"


@contextlib.contextmanager
def pointed_at(url: str) -> Iterator[Any]:
    """The provider class with its URL attributes pointed at ``url`` (restored afterwards)."""
    from g4f.Provider.hf_space.BlackForestLabs_Flux1Dev import BlackForestLabs_Flux1Dev as P

    saved = P.url, P.referer
    P.url, P.referer = url, f"{url}/?__theme=light"
    try:
        yield P
    finally:
        P.url, P.referer = saved


async def g4f_generate(provider: Any, prompt: str, jwt: str, steps: int = STEPS) -> str:
    """One image through g4f; returns the final image URL (g4f never downloads it)."""
    from g4f.providers.response import ImageResponse

    final = None
    async for chunk in provider.create_async_generator(
            "flux-dev", [{"role": "user", "content": prompt}], prompt=prompt, width=SIZE, height=SIZE,
            num_inference_steps=steps, seed=SEED, randomize_seed=False, guidance_scale=3.5, api_key=jwt):
        if isinstance(chunk, ImageResponse):
            final = chunk.get_list()[0]
    if not final:
        raise RuntimeError("g4f returned no image")
    return final


def measure(fleet: Any, rounds: int, warmup: int = 2, steps: int = STEPS) -> dict[str, Any]:
    import janusflux

    out: dict[str, Any] = {"g4f": g4f_version(), "steps": steps, "per_call_compute": steps * fleet.delay}
    try:
        import g4f  # noqa: F401
    except ImportError:
        out["error"] = "g4f is not installed (pip install -e '.[bench]')"
        return out
    url = fleet.url(FLUX_DEV)
    jwt = fleet.issue_token(FLUX_DEV, TOKEN)
    tmp = tempfile.mkdtemp(prefix="janusflux-bench-g4f-")
    session = janusflux.Session(hf_endpoint=fleet.hub_url, token=TOKEN, cache_dir=os.path.join(tmp, "cache"))
    loop = asyncio.new_event_loop()
    i = {"g": 0, "j": 0, "d": 0}

    def nxt(k: str) -> str:
        i[k] += 1
        return PROMPTS[i[k] % len(PROMPTS)]

    try:
        with pointed_at(url) as provider:
            try:
                first = loop.run_until_complete(g4f_generate(provider, PROMPTS[0], jwt, steps))
            except Exception as e:  # noqa: BLE001 - a failing raw request is a fidelity finding
                out["error"] = f"g4f against the twin failed: {type(e).__name__}: {e}"
                return out
            out["g4f_result_url"] = first.replace(url, "{twin}")
            fleet.clear_requests()
            loop.run_until_complete(g4f_generate(provider, PROMPTS[0], jwt, steps))
            out["g4f_requests"] = [f"{r.method} {r.path.split('=')[0]}" for r in fleet.requests]
            variants = {
                "g4f BlackForestLabs_Flux1Dev": lambda: loop.run_until_complete(
                    g4f_generate(provider, nxt("g"), jwt, steps)),
                "janusflux generate()": lambda: session.generate("flux-dev", nxt("j"), seed=SEED, width=SIZE,
                                                                 height=SIZE, steps=steps, guidance=3.5),
                "janusflux generate().data": lambda: session.generate(
                    "flux-dev", nxt("d"), seed=SEED, width=SIZE, height=SIZE, steps=steps, guidance=3.5).data,
            }
            t = interleave(variants, rounds, warmup)
        out["times"] = {k: {"median": median(v), "min": min(v), "n": len(v)} for k, v in t.items()}
        g = t["g4f BlackForestLabs_Flux1Dev"]
        out["ratio"] = paired_ratio(t["janusflux generate()"], g)
        out["ratio_data"] = paired_ratio(t["janusflux generate().data"], g)
    finally:
        session.close()
        loop.close()
    return out
