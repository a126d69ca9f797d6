"""The Space twins: gr.Blocks that reproduce each Space's API (names, endpoint order, components, ranges, defaults).

Layouts follow the public app.py of each Space, because the order in which events are wired is the fn_index a raw
client uses: gr.Examples adds fn 0 and 1, the real endpoints follow. The GPU work is `compute`'s cheap stand-in,
wrapped in `gpu_session`, which emulates what `@spaces.GPU` does for a caller: identity, quota, errors and toasts.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from . import compute, zerogpu
from .state import SpaceState
from .wordings import Refusal, render

__all__ = ["MAX_IMAGE_SIZE", "MAX_SEED", "build_app", "gpu_session"]

MAX_SEED = np.iinfo(np.int32).max  # 2147483647
MAX_IMAGE_SIZE = 2048
FLUX_EXAMPLES = [
    "a tiny astronaut hatching from an egg on the moon",
    "a cat holding a sign that says hello world",
    "an anime illustration of a wiener schnitzel",
]


class Twin:
    """What an app needs at run time: its Space's state, the shared ZeroGPU state and the timing knobs.

    `settings` is any object with `duration_scale` and `delay` attributes (the fleet), read on every call so they
    can be changed while the twins run.
    """

    def __init__(self, state: SpaceState, zero: zerogpu.ZeroGPU, settings: Any) -> None:
        self.state, self.zero, self.settings = state, zero, settings

    @property
    def duration_scale(self) -> float:
        return float(self.settings.duration_scale)

    @property
    def delay(self) -> float:
        return float(self.settings.delay)

    @property
    def requested(self) -> int:
        """GPU seconds a call asks for: declared duration x duration_scale x the hardware factor."""
        return round(self.state.spec.duration * self.duration_scale * self.state.zerogpu.hardware_factor)


def _raise(err: zerogpu.ZeroGPUError) -> None:
    if err.title is None:  # older `spaces` generations: a plain gr.Error (the client sees the title "Error")
        raise gr.Error(err.message, print_exception=False)
    raise gr.Error(err.message, title=err.title, print_exception=False)


@contextlib.contextmanager
def gpu_session(twin: Twin, request: gr.Request | None) -> Iterator[zerogpu.Identity | None]:
    """Acquire a (pretend) ZeroGPU for one call, or raise the error the real `spaces` client would. A Space on
    dedicated hardware (a duplicate) has its own GPU: no identity, no quota, no ZeroGPU error; one call at a time."""
    faults = twin.state.faults
    if slow := faults.take("slow"):
        time.sleep(slow)
    if twin.state.dedicated:
        with twin.state.slots:
            if text := faults.take("worker_error"):
                raise gr.Error(text, print_exception=False)
            yield None
        return
    headers = {k.lower(): v for k, v in dict(getattr(request, "headers", None) or {}).items()}
    client = getattr(request, "client", None)
    ip = getattr(client, "host", None) or "127.0.0.1"
    api_call = headers.get("x-gradio-user") != "app"
    settings = twin.state.zerogpu
    try:
        ident = twin.zero.identify(headers, ip, anonymous=settings.anonymous)
    except zerogpu.ZeroGPUError as e:
        _raise(e)
    if ident.fell_back:
        gr.Warning(zerogpu.MSG_FALLBACK, title=zerogpu.TITLE_CLIENT_WARNING)

    def refuse(kind: str, left: float = 0.0, wait: float = 0.0) -> None:
        if not ident.has_token and kind in ("quota", "runs", "spent"):
            kind = "space"  # no identity at all: the Space's own limit answers
        _raise(render(settings.wording, Refusal(kind, requested, left, wait, ident.auth, api_call, ident.has_token)))

    requested = twin.requested
    if faults.take("pending_credits"):
        _raise(zerogpu.pending_credits_error())
    if faults.take("illegal_duration"):
        refuse("illegal", left=twin.zero.ledger.left(ident.key), wait=-1.0)
    if faults.take("space_limit"):
        refuse("space")
    if faults.take("runs_limit"):
        refuse("runs")
    if faults.take("daily_spent"):
        refuse("spent")
    ok, left, wait = twin.zero.ledger.book(ident.key, requested)
    if not ok:
        refuse("quota", left=left, wait=wait or 1)
    waiting = zerogpu.MSG_WAITING_SLOT if settings.waiting_toast == "slot" else zerogpu.MSG_WAITING
    if faults.take("queue_timeout"):
        gr.Info(waiting, title=zerogpu.TITLE_QUEUE)
        refuse("no_gpu")
    slots = twin.state.slots
    if not slots.acquire(blocking=False):
        gr.Info(waiting, title=zerogpu.TITLE_QUEUE)
        slots.acquire()
        gr.Success(zerogpu.MSG_ACQUIRED, title=zerogpu.TITLE_QUEUE)
    try:
        if text := faults.take("worker_error"):
            _raise(zerogpu.worker_error(text))
        yield ident
    finally:
        slots.release()


def _step(twin: Twin) -> None:
    if twin.delay > 0:
        time.sleep(twin.delay)


# --- FLUX.1-dev and FLUX.1-schnell ----------------------------------------------------------------------------------
def _flux_dev_infer(twin: Twin) -> Any:
    """FLUX.1-dev's `infer`: a generator that yields a preview per step, then the final image."""
    def infer(prompt, seed=42, randomize_seed=False, width=1024, height=1024, guidance_scale=3.5,
              num_inference_steps=28, request: gr.Request | None = None, progress=gr.Progress(track_tqdm=True)):
        with gpu_session(twin, request):
            if randomize_seed:
                seed = random.randint(0, MAX_SEED)
            seed, steps = int(seed), int(num_inference_steps)
            for i in range(steps):
                _step(twin)
                progress((i + 1, steps), unit="it")  # what diffusers' tqdm reports through track_tqdm
                yield compute.flux_image(prompt, seed, width, height, steps, guidance_scale, step=i), seed
            yield compute.flux_image(prompt, seed, width, height, steps, guidance_scale), seed

    return infer


def _flux_schnell_infer(twin: Twin) -> Any:
    """FLUX.1-schnell's `infer`: a plain function (no guidance input, no previews)."""
    def infer(prompt, seed=42, randomize_seed=False, width=1024, height=1024, num_inference_steps=4,
              request: gr.Request | None = None, progress=gr.Progress(track_tqdm=True)):
        with gpu_session(twin, request):
            if randomize_seed:
                seed = random.randint(0, MAX_SEED)
            seed, steps = int(seed), int(num_inference_steps)
            for i in range(steps):
                _step(twin)
                progress((i + 1, steps), unit="it")
            return compute.flux_image(prompt, seed, width, height, steps, 0.0), seed

    return infer


def _flux(heading: str, infer: Any, default_steps: int, guidance: bool) -> gr.Blocks:
    """The layout both FLUX.1 Spaces share; dev adds the guidance slider before the steps slider."""
    with gr.Blocks(analytics_enabled=False) as demo:
        with gr.Column():
            gr.Markdown(heading)
            with gr.Row():
                prompt = gr.Text(label="Prompt", show_label=False, max_lines=1, placeholder="Enter your prompt",
                                 container=False)
                run_button = gr.Button("Run", scale=0)
            result = gr.Image(label="Result", show_label=False)
            with gr.Accordion("Advanced Settings", open=False):
                seed = gr.Slider(label="Seed", minimum=0, maximum=MAX_SEED, step=1, value=0)
                randomize_seed = gr.Checkbox(label="Randomize seed", value=True)
                with gr.Row():
                    width = gr.Slider(label="Width", minimum=256, maximum=MAX_IMAGE_SIZE, step=32, value=1024)
                    height = gr.Slider(label="Height", minimum=256, maximum=MAX_IMAGE_SIZE, step=32, value=1024)
                with gr.Row():
                    extra = [gr.Slider(label="Guidance Scale", minimum=1, maximum=15, step=0.1, value=3.5)] \
                        if guidance else []
                    num_inference_steps = gr.Slider(label="Number of inference steps", minimum=1, maximum=50,
                                                    step=1, value=default_steps)
            gr.Examples(examples=FLUX_EXAMPLES, fn=infer, inputs=[prompt], outputs=[result, seed],
                        cache_examples=True, cache_mode="lazy")
        gr.on(triggers=[run_button.click, prompt.submit], fn=infer,
              inputs=[prompt, seed, randomize_seed, width, height, *extra, num_inference_steps],
              outputs=[result, seed], concurrency_limit="default")
    return demo


def _flux_dev(twin: Twin) -> gr.Blocks:
    return _flux("# FLUX.1 [dev]", _flux_dev_infer(twin), default_steps=28, guidance=True)


def _flux_schnell(twin: Twin) -> gr.Blocks:
    return _flux("# FLUX.1 [schnell]", _flux_schnell_infer(twin), default_steps=4, guidance=False)


# --- Janus-Pro-7B ----------------------------------------------------------------------------------------------------
def _example_images() -> tuple[str, str]:
    """The understanding examples need image files; draw two once per process."""
    folder = Path(tempfile.gettempdir()) / f"janusflux-twins-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    paths = []
    for name in ("doge.png", "equation.png"):
        path = folder / name
        if not path.exists():
            compute.flux_image(name, 0, 256, 256, 1).save(path)
        paths.append(str(path))
    return paths[0], paths[1]


def _janus(twin: Twin) -> gr.Blocks:
    def multimodal_understanding(image, question, seed, top_p, temperature, request: gr.Request | None = None):
        with gpu_session(twin, request):
            if image is None:  # the real model code fails on None.shape: its class name is the worker error
                _raise(zerogpu.worker_error("AttributeError"))
            for _ in range(8):
                _step(twin)
            return compute.janus_answer(image, question, int(seed or 0), float(top_p), float(temperature))

    def generate_image(prompt, seed=None, guidance=5, t2i_temperature=1.0, request: gr.Request | None = None):
        with gpu_session(twin, request):
            seed = int(seed) if seed is not None else 12345
            for _ in range(8):
                _step(twin)
            return compute.janus_images(prompt, seed, float(guidance), float(t2i_temperature))

    doge, equation = _example_images()
    with gr.Blocks(analytics_enabled=False) as demo:
        gr.Markdown(value="# Multimodal Understanding")
        with gr.Row():
            image_input = gr.Image()
            with gr.Column():
                question_input = gr.Textbox(label="Question")
                und_seed_input = gr.Number(label="Seed", precision=0, value=42)
                top_p = gr.Slider(minimum=0, maximum=1, value=0.95, step=0.05, label="top_p")
                temperature = gr.Slider(minimum=0, maximum=1, value=0.1, step=0.05, label="temperature")
        understanding_button = gr.Button("Chat")
        understanding_output = gr.Textbox(label="Response")
        gr.Examples(
            label="Multimodal Understanding examples",
            examples=[["explain this meme", doge], ["Convert the formula into latex code.", equation]],
            inputs=[question_input, image_input],
        )
        gr.Markdown(value="# Text-to-Image Generation")
        with gr.Row():
            cfg_weight_input = gr.Slider(minimum=1, maximum=10, value=5, step=0.5, label="CFG Weight")
            t2i_temperature = gr.Slider(minimum=0, maximum=1, value=1.0, step=0.05, label="temperature")
        prompt_input = gr.Textbox(label="Prompt. (Prompt in more detail can help produce better images!)")
        seed_input = gr.Number(label="Seed (Optional)", precision=0, value=1234)
        generation_button = gr.Button("Generate Images")
        image_output = gr.Gallery(label="Generated Images", columns=2, rows=2, height=300)
        gr.Examples(
            label="Text to image generation examples.",
            examples=["Master shifu racoon wearing drip attire as a street gangster.",
                      "The face of a beautiful girl",
                      "Astronaut in a jungle, cold color palette, muted colors, detailed, 8k",
                      "A glass of red wine on a reflective surface.",
                      "A cute and adorable baby fox with big brown eyes, autumn leaves in the background enchanting,"
                      "immortal,fluffy, shiny mane,Petals,fairyism,unreal engine 5 and Octane Render,highly detailed,"
                      " photorealistic, cinematic, natural colors."],
            inputs=prompt_input,
        )
        understanding_button.click(multimodal_understanding,
                                   inputs=[image_input, question_input, und_seed_input, top_p, temperature],
                                   outputs=understanding_output, concurrency_limit="default")
        generation_button.click(fn=generate_image, inputs=[prompt_input, seed_input, cfg_weight_input,
                                                           t2i_temperature],
                                outputs=image_output, concurrency_limit="default")
    return demo


_BUILDERS = {"flux-dev": _flux_dev, "flux-schnell": _flux_schnell, "janus-pro-7b": _janus}


def build_app(twin: Twin) -> gr.Blocks:
    """The gr.Blocks of `twin`'s Space family."""
    return _BUILDERS[twin.state.spec.family](twin)
