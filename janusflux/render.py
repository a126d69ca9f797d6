"""One renderer of a call's events, shared by the CLI, the G4F layer and notebooks.

- :func:`status_text` turns an event into a short status line (``Queued 1/3 on a/b, about 12s``, ``Generating on
  a/b``, ``Step 3/28``, a Space's toast, ``Warning (...): ...``, ``Waking ...``, ``Waiting 2.0s: ...``,
  ``Retrying ...``, ``Switching from ... to ...``). Queue positions are 1-based.
- :class:`StepCounter` reports each model step once, whether the stream sends one event per step or two (a progress
  update and a preview image) and whatever the last preview says.
- :class:`ProgressView` shows them: in a terminal a ``tqdm`` bar on stderr (a step bar for models with steps, FLUX;
  a status line with a timer for the others, chat); in Jupyter one display that updates in place (an HTML
  ``<progress>`` bar and the status), needing neither ipywidgets nor tqdm's widget (gradio patches tqdm in a kernel
  that runs the twins). ``pip install 'janusflux[notebook]'`` adds ipywidgets for the tqdm bars of the libraries
  underneath (huggingface_hub downloads), so they draw widgets instead of warning ``IProgress not found``.
- :func:`track` runs a stream with a :class:`ProgressView` and returns its result::

      image = track(session.stream("flux", "a fox", steps=8))
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from typing import Any, TextIO

from .results import (
    Done,
    Event,
    Fallback,
    Log,
    Preview,
    Progress,
    Queued,
    Retry,
    Started,
    Waiting,
    Waking,
    Warned,
)

__all__ = ["ProgressView", "StepCounter", "status_text", "steps_of", "ticking", "track"]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def status_text(event: Event, total_steps: int | None = None) -> str | None:
    """The status line for an event; None for events that are not statuses (Preview, Done)."""
    where = event.space_id
    if isinstance(event, Queued):
        pos = "" if event.rank is None else f" {event.rank + 1}/{event.queue_size or event.rank + 1}"
        eta = f", about {event.eta:.0f}s" if event.eta else ""
        return f"Queued{pos} on {where}{eta}"
    if isinstance(event, Started):
        return f"Generating on {where}"
    if isinstance(event, Progress):
        total = event.total or total_steps
        step = "" if event.step is None else f" {event.step}/{total}" if total else f" {event.step}"
        return f"{event.desc or 'Step'}{step}"
    if isinstance(event, Log):
        hint = " (this Space's GPU slots are full: a mirror may have one free)" if event.kind == "waiting-slot" else ""
        return _one_line(event.message) + hint
    if isinstance(event, Warned):
        return f"Warning ({where}): {_one_line(event.message)}"
    if isinstance(event, Waking):
        return f"Waking {where} ({event.stage})"
    if isinstance(event, Waiting):
        return f"Waiting {event.seconds:.1f}s: {event.reason}"
    if isinstance(event, Retry):
        return f"Retrying after attempt {event.attempt}: {_one_line(event.error)}"
    if isinstance(event, Fallback):
        return f"Switching from {event.from_space} to {event.to_space}: {event.reason}"
    return None


def _is_step(event: Event) -> bool:
    """A model step (a step already shown, reported again, is not a status)."""
    return isinstance(event, (Progress, Preview)) and event.step is not None


class StepCounter:
    """The model's steps, each once: :meth:`advance` returns the new step number (capped at the total) when an event
    moves past the last one, else None."""

    def __init__(self, total: int | None = None) -> None:
        self.total = total
        self.last = 0

    def advance(self, event: Event) -> int | None:
        if not isinstance(event, (Progress, Preview)) or event.step is None:
            return None
        if isinstance(event, Progress) and event.total:
            self.total = event.total
        step = min(event.step, self.total) if self.total else event.step
        if step <= self.last:
            return None
        self.last = step
        return step

    def text(self, event: Event) -> str:
        desc = (event.desc if isinstance(event, Progress) else None) or "Step"
        return f"{desc} {self.last}/{self.total}" if self.total else f"{desc} {self.last}"


def steps_of(spec: Any, params: Mapping[str, Any]) -> int | None:
    """The number of steps a call will report (None when the model has no steps)."""
    if params.get("steps") is not None:
        return int(params["steps"])
    if "steps" in spec.accepts and "steps" in spec.defaults:
        return int(spec.defaults["steps"])
    return None


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return "ipykernel" in sys.modules and get is not None and type(get()).__name__ == "ZMQInteractiveShell"


class _NotebookLine:
    """One Jupyter output updated in place: an HTML progress bar (when there are steps) and the status."""

    def __init__(self, desc: str, total: int | None) -> None:
        from IPython.display import display

        self.desc, self.total, self.n, self.status = desc, total, 0, ""
        self.handle = display(self._bundle(), raw=True, display_id=True)

    def _bundle(self) -> dict[str, str]:
        import html

        steps = f" {self.n}/{self.total}" if self.total else ""
        text = f"{self.desc}:{steps} {self.status}".rstrip()
        bar = f'<progress value="{self.n}" max="{self.total}"></progress> ' if self.total else ""
        return {"text/plain": text, "text/html": f"<div>{bar}<code>{html.escape(text)}</code></div>"}

    def update(self, n: int | None = None, total: int | None = None, status: str | None = None) -> None:
        self.n = self.n if n is None else n
        self.total = self.total if total is None else total
        self.status = self.status if status is None else status
        self.handle.update(self._bundle(), raw=True)


class ProgressView:
    """A progress display fed by a call's events (call it with each event; :meth:`close` at the end).

    With ``total_steps`` it is a step bar (``3/28``); without, a status line with the elapsed time (no meaningless
    ``0step`` bar for a chat answer). The status of the last event shows in the description."""

    def __init__(self, desc: str, *, total_steps: int | None = None, enabled: bool = True,
                 file: TextIO | None = None, position: int | None = None, leave: bool = False) -> None:
        self.desc = desc
        self.steps = StepCounter(total_steps)
        self.bar: Any = None
        self.line: _NotebookLine | None = None
        if enabled and file is None and _in_notebook():
            self.line = _NotebookLine(desc, total_steps)
        elif enabled:
            from tqdm.auto import tqdm

            fmt = None if total_steps else "{desc} [{elapsed}]"
            self.bar = tqdm(total=total_steps, desc=desc, unit="step", file=file or sys.stderr, leave=leave,
                            position=position, dynamic_ncols=True, bar_format=fmt)

    def __call__(self, event: Event) -> None:
        if self.line is not None:
            step = self.steps.advance(event)
            if step is not None:
                self.line.update(n=step, total=self.steps.total, status="")
            elif not _is_step(event) and (text := status_text(event, self.steps.total)) is not None:
                self.line.update(status=text)
            return
        bar = self.bar
        if bar is None:
            return
        step = self.steps.advance(event)
        if step is not None:
            if self.steps.total and bar.total != self.steps.total:
                bar.total = self.steps.total
            bar.n = step
            bar.set_description(self.desc, refresh=False)
            bar.refresh()
            return
        text = None if _is_step(event) else status_text(event, self.steps.total)
        if text is not None:
            bar.set_description(f"{self.desc}: {text[:80]}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.line is not None and self.line.status.startswith(("Queued", "Generating on")):
            self.line.update(status="done")


def track(events: Iterable[Event], *, desc: str = "", total_steps: int | None = None, enabled: bool = True,
          view: ProgressView | None = None) -> Any:
    """Consume a stream with a :class:`ProgressView` (``view``, or a new one) and return the result its
    :class:`Done` carries; the view is closed at the end."""
    view = view if view is not None else ProgressView(desc, total_steps=total_steps, enabled=enabled)
    try:
        for event in events:
            if isinstance(event, Done):
                return event.result
            view(event)
    finally:
        view.close()
    raise RuntimeError("the event stream ended without a result")


async def ticking(events: AsyncIterator[Event], interval: float) -> AsyncGenerator[Event | None, None]:
    """The events of an async stream, and None every ``interval`` seconds while none comes (a heartbeat, a moment
    to check for a stop). Closing it early cancels the pending wait, which cancels the job (the stream's cleanup)."""
    pending: asyncio.Future[Event] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(events.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                yield task.result()
            except StopAsyncIteration:
                return
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, Exception):  # closing
                await pending
        await events.aclose()  # type: ignore[attr-defined]
