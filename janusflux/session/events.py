"""A pure function from one gradio_client job update to janusflux events.

A model that yields an image per step (FLUX.1-dev) reports each step twice: a progress update, then the step's image.
janusflux emits ONE event per step: the progress is held until the image arrives and both become one
:class:`~janusflux.results.Preview` (a :class:`~janusflux.results.Progress` carrying the image). A model that yields no
images (FLUX.1-schnell) gets plain :class:`~janusflux.results.Progress` events; until that is known (the first step's
image did not come before the second step) the first progress waits for the next update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..results import (
    Event,
    ImageResult,
    Log,
    Preview,
    Progress,
    Queued,
    Started,
    Warned,
)
from ..zerogpu_texts import toast_kind

__all__ = ["IP_FALLBACK", "FollowState", "flush", "translate"]

IP_FALLBACK = ("the Space refused the ZeroGPU token (InvalidRepoToken) and counts this call against IP-based "
               "(anonymous) quota: your token's ZeroGPU quota is not applied. Check that the HF token is valid and "
               "not expired, that it may read ZeroGPU tokens (a fine-grained token needs read access), and that the "
               "session's hf_endpoint is the Hub the Space trusts; `janusflux doctor` checks the token.")

_UNSET = object()


@dataclass
class FollowState:
    """What :func:`translate` remembers between the updates of one job."""

    where: str  # the Space (or URL) the job runs on
    preview: Callable[[Any], ImageResult | None] | None = None  # the adapter's image of an intermediate output
    steps: int | None = None  # previews expected at most (the final yield is the result, not a preview)
    previews: int = 0
    previewing: bool | None = None  # None until known whether the model yields an image per step
    held: Progress | None = None
    last_rank: Any = _UNSET


def translate(update: Any, st: FollowState) -> list[Event]:
    """The events for one job update (``gradio_client`` ``StatusUpdate`` or output update)."""
    if getattr(update, "type", None) == "output":
        return _output(update, st)
    code = getattr(getattr(update, "code", None), "value", None)
    if code == "IN_QUEUE" and update.rank != st.last_rank:
        st.last_rank = update.rank
        return [Queued(rank=update.rank, queue_size=update.queue_size, eta=update.eta, space_id=st.where)]
    if code == "PROCESSING":
        return [Started(space_id=st.where)]
    if code == "LOG" and update.log:
        kind = toast_kind(update.log[0])
        log = Log(message=update.log[0], level=update.log[1], kind=kind, space_id=st.where)
        if kind == "quota-fallback":
            return [log, Warned(message=IP_FALLBACK, code="InvalidRepoToken", space_id=st.where)]
        return [log]
    if code == "PROGRESS" and update.progress_data:
        p = update.progress_data[0]
        # (index, length) as gr.Progress / tqdm report it: index = steps completed so far
        return _progress(Progress(step=p.index, total=p.length, desc=p.desc, space_id=st.where), st)
    return []


def flush(st: FollowState) -> list[Event]:
    """The progress still held when the job ends."""
    held, st.held = st.held, None
    return [held] if held is not None else []


def _progress(event: Progress, st: FollowState) -> list[Event]:
    if st.preview is None or st.previewing is False:
        return [event]
    held, st.held = st.held, event
    if held is None:
        return []
    if st.previews == 0 and (held.step or 0) >= 1:  # a whole step passed without an image: this model yields none
        st.previewing, st.held = False, None
        return [held, event]
    return [held]


def _output(update: Any, st: FollowState) -> list[Event]:
    if getattr(update, "final", False) or not getattr(update, "success", True) or st.preview is None:
        return []
    # A generator's last yield is the final image, not a preview: at most one preview per step.
    if st.previews >= (st.steps or 10**9):
        return []
    st.previews += 1
    st.previewing = True
    image = st.preview(update.outputs)
    held, st.held = st.held, None
    if image is None:
        return [held] if held is not None else []
    return [Preview(image=image, step=st.previews, total=held.total if held is not None else st.steps,
                    desc=held.desc if held is not None else None, space_id=st.where)]
