"""The one set of options a fleet of twins is started with (`start_twins`, `TwinFleet`, `janusflux serve`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["GENEROUS_QUOTA", "NEWCOMER", "TwinOptions"]


@dataclass(frozen=True)
class TwinOptions:
    """How the twins listen, count quota and behave. Every field can also be passed to `start_twins` by name.

    host/port: where to listen (port 0: free ports; else the Hub twin on `port`, Space twin i on port + 1 + i).
    quota/quota_window: GPU seconds per identity, and the seconds after an identity's first call when it resets.
    duration_scale: multiplies each Space's declared ZeroGPU duration. delay: seconds of pretend GPU time per step.
    concurrency: GPU slots per Space (None: 2). faults: fault knobs set on every Space at start (see FAULT_KNOBS).
    users: `{token: {"name": ..., "plan": "free"|"pro"}}` known to the Hub twin (other `hf_` tokens are free users).
    verbose: let gradio and uvicorn print (quiet otherwise).

    ZeroGPU (see `state.ZeroSettings`; change them while running with `TwinFleet.set_zerogpu`):
    zerogpu_wording: the `spaces` generation whose texts and titles the errors carry, one of `wordings.WORDINGS`
    ("0.51", "2025", "2025-plain", "2024", "2024-html"), or `{space id or family: wording}` (others: "0.51").
    hardware_factor: requested = duration x duration_scale x factor. anonymous: "ip" (production: callers without a
    token get an IP identity and the user-quota texts) or "space" (no identity: "Space app has reached its GPU
    limit"). waiting_toast: "gpu" or "slot". queue_max_size: gradio's queue max_size (1 is what gradio 6 gives a
    ZeroGPU Space); when set, each Space also runs at most `concurrency` events at once, as a real Space does, so
    extra callers wait in the queue or get "Queue is full". zerogpu_token_format: what the Hub twin's /jwt route
    issues, "jwt" or "plain" (`<unix time>:<base64>:<base64>`); both are accepted either way.
    build_time: seconds a duplicated Space (the Hub twin's duplicate route) stays BUILDING before it runs, and a
    paused, restarted or re-hardwared one APP_STARTING (minutes on the Hub).

    The defaults are production's: hardware factor 1.5 (FLUX.1-dev's 75 s asks for 112 s) and an IP identity for
    anonymous callers; pass `hardware_factor=1.0, anonymous="space"` for the identity-less Space limit. `NEWCOMER`
    adds the generous allowance `janusflux serve` and `--local` start with.
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
    zerogpu_wording: str | dict[str, str] = "0.51"
    hardware_factor: float = 1.5
    anonymous: str = "ip"
    waiting_toast: str = "gpu"
    queue_max_size: int | None = None
    zerogpu_token_format: str = "jwt"
    build_time: float = 0.5

    def replace(self, **fields: Any) -> TwinOptions:
        """A copy with `fields` changed; a TypeError names an unknown field."""
        unknown = set(fields) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"Unknown twin option(s) {sorted(unknown)}; valid: "
                            f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **fields)


GENEROUS_QUOTA = 1_000_000.0  # GPU seconds per identity per day: ~8900 FLUX.1-dev calls at 112 s, no wall in sight
#: What `janusflux serve` and `--local` start with: production's hardware factor and anonymous identity (the
#: defaults), and an allowance a newcomer will not exhaust (`--quota` / `quota=` to try the walls).
NEWCOMER = TwinOptions(quota=GENEROUS_QUOTA)
