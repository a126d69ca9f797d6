"""The one set of options a fleet of twins is started with (`start_twins`, `TwinFleet`, `janusflux serve`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["TwinOptions"]


@dataclass(frozen=True)
class TwinOptions:
    """How the twins listen, count quota and behave. Every field can also be passed to `start_twins` by name.

    host/port: where to listen (port 0: free ports; else the Hub twin on `port`, Space twin i on port + 1 + i).
    quota/quota_window: GPU seconds per identity, and the seconds after an identity's first call when it resets.
    duration_scale: multiplies each Space's declared ZeroGPU duration. delay: seconds of pretend GPU time per step.
    concurrency: GPU slots per Space (None: 2). faults: fault knobs set on every Space at start (see FAULT_KNOBS).
    users: `{token: {"name": ..., "plan": "free"|"pro"}}` known to the Hub twin (other `hf_` tokens are free users).
    verbose: let gradio and uvicorn print (quiet otherwise).
    """

    host: str = "127.0.0.1"
    port: int = 0
    quota: float = 300.0
    quota_window: float = 86400.0
    duration_scale: float = 1.0
    delay: float = 0.01
    concurrency: int | None = None
    faults: dict[str, Any] | None = None
    users: dict[str, dict] | None = None
    verbose: bool = False

    def replace(self, **fields: Any) -> TwinOptions:
        """A copy with `fields` changed; a TypeError names an unknown field."""
        unknown = set(fields) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"Unknown twin option(s) {sorted(unknown)}; valid: "
                            f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **fields)
