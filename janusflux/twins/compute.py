"""Cheap, deterministic stand-ins for the GPU models behind the Spaces.

Nothing here is a model. An image is a pure function of its inputs (prompt, seed, size, steps, guidance): the same
inputs give the same pixels, a different prompt or seed gives a visibly different picture. The Janus "answer" is text
computed from the image it was given (size, dominant colours) and the question, deterministic under the seed. The
point is that clients see real files and real text of the right shape, not that the content means anything.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
from PIL import Image

__all__ = ["flux_image", "janus_answer", "janus_images", "seeded_rng"]

_BASE = 64  # patterns are drawn at this size and scaled up, so large images stay cheap


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(repr(p) for p in parts).encode()).digest()


def seeded_rng(*parts: object) -> np.random.Generator:
    """A numpy generator seeded by every part given (stable across processes and platforms)."""
    return np.random.default_rng(int.from_bytes(_digest(*parts)[:8], "big"))


def _pattern(rng: np.random.Generator, guidance: float) -> np.ndarray:
    """A smooth colour field with a few discs: different enough per seed to tell apart at a glance."""
    y, x = np.mgrid[0:_BASE, 0:_BASE].astype(np.float32) / _BASE
    c0, c1, c2 = (rng.integers(0, 256, 3).astype(np.float32) for _ in range(3))
    a = rng.uniform(0, 2 * np.pi)
    t = (np.cos(a) * x + np.sin(a) * y + 1) / 2
    img = c0 * (1 - t)[..., None] + c1 * t[..., None]
    for _ in range(int(rng.integers(2, 6))):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.3)
        mask = ((x - cx) ** 2 + (y - cy) ** 2) < r * r
        img[mask] = c2 * 0.5 + rng.integers(0, 256, 3) * 0.5
    contrast = min(max(guidance, 0.0), 20.0) / 10.0 + 0.5  # guidance visibly changes contrast
    img = (img - 128) * contrast + 128
    return np.clip(img, 0, 255)


def flux_image(
    prompt: str, seed: int, width: int, height: int, steps: int, guidance: float = 3.5, step: int | None = None
) -> Image.Image:
    """The FLUX stand-in: the final image, or with `step` (0-based) a noisier preview converging to it."""
    final = _pattern(seeded_rng("flux", prompt, int(seed), int(steps), round(float(guidance), 3)), guidance)
    if step is not None and step < steps - 1:
        noise = seeded_rng("flux-noise", prompt, int(seed), step).uniform(0, 255, final.shape)
        w = 1 - (step + 1) / steps
        final = final * (1 - w) + noise * w
    img = Image.fromarray(final.astype(np.uint8), "RGB")
    return img.resize((int(width), int(height)), Image.Resampling.BILINEAR)


def janus_images(prompt: str, seed: int, guidance: float, temperature: float, n: int = 5) -> list[Image.Image]:
    """The Janus text-to-image stand-in: n images of 384x384 upsampled x2 to 768x768, as the Space does."""
    out = []
    for i in range(n):
        base = _pattern(seeded_rng("janus", prompt, int(seed), float(guidance), float(temperature), i), guidance)
        small = Image.fromarray(base.astype(np.uint8), "RGB").resize((384, 384), Image.Resampling.BILINEAR)
        out.append(small.resize((768, 768), Image.Resampling.LANCZOS))
    return out


_COLOURS = {
    "black": (0, 0, 0), "white": (255, 255, 255), "red": (220, 40, 40), "green": (40, 170, 60),
    "blue": (40, 80, 220), "yellow": (240, 220, 50), "orange": (245, 140, 30), "purple": (140, 60, 180),
    "pink": (245, 150, 190), "brown": (130, 80, 40), "grey": (128, 128, 128), "cyan": (40, 200, 220),
}


def _colour_name(rgb: np.ndarray) -> str:
    return min(_COLOURS, key=lambda k: sum((int(a) - b) ** 2 for a, b in zip(rgb, _COLOURS[k], strict=True)))


def janus_answer(image: np.ndarray, question: str, seed: int, top_p: float, temperature: float) -> str:
    """The Janus understanding stand-in: describes the image's size and dominant colours, echoing the question."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    h, w = arr.shape[:2]
    pixels = arr[..., :3].reshape(-1, 3)
    names = [_colour_name(p) for p in pixels[:: max(1, len(pixels) // 4096)]]
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    dominant = sorted(counts, key=lambda k: (-counts[k], k))[:3]
    rnd = random.Random(int(seed) if temperature > 0 else 0)  # greedy (temperature 0) ignores the seed
    opener = rnd.choice(["The image", "This picture", "The photo"]) if temperature > 0 else "The image"
    q = " ".join(str(question or "").split())
    return (
        f"{opener} is {w}x{h} pixels; its dominant colours are {', '.join(dominant)}. "
        f"You asked: \"{q}\". (Answer computed by the janusflux twin, not by Janus-Pro.)"
    )
