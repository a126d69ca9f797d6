"""Run-time state of the twins: the Spaces they stand for, each Space's stage and fault knobs, the request log.

No gradio here: the Hub twin, the Space twins and the control API all read and write these objects.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FAMILIES", "FAULT_KNOBS", "SECRET_HEADERS", "SPACE_IDS", "SPECS", "STAGES", "ZERO_HARDWARE", "Faults",
    "RecordedRequest", "Redacted", "RequestLog", "SpaceSpec", "SpaceState", "ZeroSettings", "redact_headers",
    "resolve_spaces",
]


@dataclass(frozen=True)
class SpaceSpec:
    """One Space the twins reproduce. `duration` is its ZeroGPU duration in seconds (SPACES.md)."""

    space_id: str
    family: str  # "flux-dev" | "flux-schnell" | "janus-pro-7b"
    duration: int
    index: int  # fixed position: with a fixed base port the Space twin listens on port + 1 + index

    @property
    def subdomain(self) -> str:
        return self.space_id.lower().replace("/", "-").replace(".", "-")


SPECS: dict[str, SpaceSpec] = {
    s.space_id: s
    for s in (
        SpaceSpec("black-forest-labs/FLUX.1-dev", "flux-dev", 75, 0),
        SpaceSpec("roxky/FLUX.1-dev", "flux-dev", 75, 1),
        SpaceSpec("black-forest-labs/FLUX.1-schnell", "flux-schnell", 60, 2),
        SpaceSpec("deepseek-ai/Janus-Pro-7B", "janus-pro-7b", 120, 3),
        SpaceSpec("roxky/Janus-Pro-7B", "janus-pro-7b", 120, 4),
    )
}
SPACE_IDS: tuple[str, ...] = tuple(SPECS)
FAMILIES: tuple[str, ...] = ("flux-dev", "flux-schnell", "janus-pro-7b")
STAGES = ("RUNNING", "SLEEPING", "BUILDING", "PAUSED", "RUNTIME_ERROR", "APP_STARTING", "STOPPED", "BUILD_ERROR")
ZERO_HARDWARE = "zero-a10g"  # what the Hub reports for a ZeroGPU Space

FAULT_KNOBS: dict[str, Any] = {  # knob -> its "off" value
    "queue_full": False,
    "config_429": False,
    "worker_error": None,
    "drop_stream": False,
    "slow": 0.0,
    "queue_timeout": False,
    "daily_spent": False,
    "space_limit": False,
    "runs_limit": False,
    "illegal_duration": False,
    "pending_credits": False,
    "build_error": False,  # copies of this Space (duplicate) fail to build: stage BUILD_ERROR
}


def resolve_spaces(spaces: list[str] | tuple[str, ...] | str | None) -> list[str]:
    """Space ids for `spaces`: None = all; a family name stands for the official Space and its mirror."""
    if spaces is None or spaces == "all":
        return list(SPACE_IDS)
    if isinstance(spaces, str):
        spaces = [spaces]
    out: list[str] = []
    for s in spaces:
        if s == "all":
            ids = list(SPACE_IDS)
        elif s in FAMILIES:
            ids = [i for i, spec in SPECS.items() if spec.family == s]
        elif s in SPECS:
            ids = [s]
        else:
            raise ValueError(f"Unknown Space or family {s!r}; choose from {', '.join(FAMILIES + SPACE_IDS)} or 'all'")
        out += [i for i in ids if i not in out]
    return sorted(out, key=lambda i: SPECS[i].index)


class Faults:
    """Fault knobs of one Space. With `times=N` a knob set in that call fires for the next N calls only."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = dict(FAULT_KNOBS)
        self._left: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def set(self, times: int | None = None, **knobs: Any) -> None:
        unknown = set(knobs) - set(FAULT_KNOBS)
        if unknown:
            raise ValueError(f"Unknown fault knob(s) {sorted(unknown)}; valid: {sorted(FAULT_KNOBS)} and times")
        with self._lock:
            for k, v in knobs.items():
                self._values[k] = type(FAULT_KNOBS[k])(v) if FAULT_KNOBS[k] is not None and v is not None else v
                self._left[k] = None if times is None else int(times)

    def clear(self) -> None:
        with self._lock:
            self._values = dict(FAULT_KNOBS)
            self._left.clear()

    def peek(self, knob: str) -> Any:
        with self._lock:
            return self._values[knob]

    def take(self, knob: str) -> Any:
        """The knob's value if it is on, counting one use against `times`; its off value otherwise."""
        with self._lock:
            value = self._values[knob]
            if value == FAULT_KNOBS[knob]:
                return value
            left = self._left.get(knob)
            if left is not None:
                left -= 1
                self._left[knob] = left
                if left <= 0:
                    self._values[knob] = FAULT_KNOBS[knob]
                    self._left.pop(knob, None)
            return value

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self._values, "times": dict(self._left)}


WAITING_TOASTS = ("gpu", "slot")
ANONYMOUS_MODES = ("ip", "space")


@dataclass
class ZeroSettings:
    """How one Space twin's ZeroGPU speaks and counts (changeable while it runs: `TwinFleet.set_zerogpu`).

    wording: the `spaces` generation whose texts and titles errors carry (see `wordings.WORDINGS`).
    hardware_factor: requested = duration x duration_scale x factor (0.51.3: 1.5 on RTX PRO 6000, 1.0 on H200).
    anonymous: "ip" (an IP identity, as production gives API callers) or "space" (no identity at all).
    waiting_toast: the toast while a call waits for a slot: "gpu" (`Waiting for a GPU to become available`) or
    "slot" (`Waiting for a GPU slot on this Space`).
    """

    wording: str = "0.51"
    hardware_factor: float = 1.0
    anonymous: str = "space"
    waiting_toast: str = "gpu"

    def update(self, **settings: Any) -> None:
        from .wordings import WORDINGS

        unknown = set(settings) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"Unknown ZeroGPU setting(s) {sorted(unknown)}; "
                             f"valid: {sorted(self.__dataclass_fields__)}")
        for name, allowed in (("wording", WORDINGS), ("anonymous", ANONYMOUS_MODES), ("waiting_toast", WAITING_TOASTS)):
            if name in settings and settings[name] not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {settings[name]!r}")
        if "hardware_factor" in settings and not float(settings["hardware_factor"]) > 0:
            raise ValueError(f"hardware_factor must be > 0, got {settings['hardware_factor']!r}")
        for k, v in settings.items():
            setattr(self, k, float(v) if k == "hardware_factor" else v)


class SpaceState:
    """One Space twin's stage, faults, ZeroGPU settings and GPU slots."""

    def __init__(self, spec: SpaceSpec, concurrency: int, zerogpu: ZeroSettings | None = None) -> None:
        self.spec = spec
        self.zerogpu = zerogpu or ZeroSettings()
        self.faults = Faults()
        self.concurrency = concurrency
        self.slots = threading.BoundedSemaphore(concurrency)
        self.url = ""
        # The Space's settings page: ZeroGPU for the twins' own Spaces; a duplicate (`TwinFleet.duplicate`) is the
        # owner's private copy on dedicated hardware, sleeping after `sleep_time` idle seconds (None: never).
        self.hardware = ZERO_HARDWARE
        self.sleep_time: int | None = None
        self.owner: str | None = None
        self.private = False
        self.source: str | None = None  # the Space it was duplicated from
        self._stage = "RUNNING"
        self._wake_after = 1.0
        self._awake_at: float | None = None
        self._last_request = time.monotonic()
        self._lock = threading.Lock()

    @property
    def dedicated(self) -> bool:
        """Dedicated hardware (no ZeroGPU): no identity, no quota, no ZeroGPU errors."""
        return self.hardware != ZERO_HARDWARE

    def start(self, stage: str, after: float) -> None:
        """``BUILDING`` or ``APP_STARTING`` now, ``RUNNING`` ``after`` seconds from now."""
        with self._lock:
            self._stage, self._awake_at = stage, time.monotonic() + after

    def touch(self) -> None:
        """A request arrived: the idle clock of the sleep time starts again."""
        with self._lock:
            self._last_request = time.monotonic()

    def set_stage(self, stage: str, wake_after: float = 1.0) -> None:
        if stage not in STAGES:
            raise ValueError(f"Unknown stage {stage!r}; valid: {', '.join(STAGES)}")
        with self._lock:
            self._stage, self._wake_after, self._awake_at = stage, float(wake_after), None

    def wake(self) -> float:
        """Start waking a SLEEPING Space; returns the seconds until it runs (0 when it already does)."""
        with self._lock:
            now = time.monotonic()
            if self._stage == "SLEEPING":
                self._stage, self._awake_at = "APP_STARTING", now + self._wake_after
            if self._stage == "APP_STARTING" and self._awake_at is not None:
                if now >= self._awake_at:
                    self._stage, self._awake_at, self._last_request = "RUNNING", None, now
                    return 0.0
                return self._awake_at - now
            return 0.0

    @property
    def stage(self) -> str:
        with self._lock:
            now = time.monotonic()
            if self._stage in ("APP_STARTING", "BUILDING") and self._awake_at is not None and now >= self._awake_at:
                self._stage, self._awake_at = "RUNNING", None
                self._last_request = now
            if (self._stage == "RUNNING" and self.sleep_time is not None and self.sleep_time > 0
                    and now - self._last_request >= self.sleep_time):
                self._stage = "SLEEPING"
            return self._stage


SECRET_HEADERS = frozenset({"authorization", "x-hf-authorization", "x-zerogpu-token", "x-ip-token", "cookie",
                            "set-cookie"})
_DIGEST_KEY = secrets.token_bytes(32)  # per process: a digest in one process tells nothing in another


def _digest(text: str) -> bytes:
    return hmac.new(_DIGEST_KEY, text.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()


class Redacted(str):
    """A secret header value as the twins keep it: the text is `Bearer [redacted]` (or `[redacted]`); the secret
    itself is not kept, only keyed digests of it, so a test can still ask whether a given secret arrived:
    `value == "Bearer hf_..."` and `"hf_..." in value` compare digests (the bearer token, cookie values and the
    whole value count as parts)."""

    _whole: bytes
    _parts: frozenset[bytes]

    def __new__(cls, value: str) -> Redacted:
        scheme, sep, rest = value.partition(" ")
        bearer = bool(sep) and scheme.lower() == "bearer"
        obj = super().__new__(cls, f"{scheme} [redacted]" if bearer else "[redacted]")
        parts = {value, rest.strip()} if bearer else {value}
        for item in value.split(";"):  # cookies: name=value; name2=value2
            _, eq, val = item.strip().partition("=")
            parts |= {item.strip(), val} if eq else set()
        obj._whole = _digest(value)
        obj._parts = frozenset(_digest(p) for p in parts if p)
        return obj

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Redacted):
            return self._whole == other._whole
        if isinstance(other, str):
            return hmac.compare_digest(_digest(other), self._whole)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(self._whole)

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and bool(item) and _digest(item) in self._parts

    def __repr__(self) -> str:
        return f"Redacted({str(self)!r})"


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Lower-cased names; the value of every secret header (SECRET_HEADERS) replaced by a `Redacted`."""
    out = {k.lower(): v for k, v in headers.items()}
    return {k: Redacted(v) if k in SECRET_HEADERS and v and not isinstance(v, Redacted) else v
            for k, v in out.items()}


@dataclass
class RecordedRequest:
    """One HTTP request a twin received. Header names are lower-cased; secret values (SECRET_HEADERS) are redacted
    when the request is recorded: never stored, never served by `/_twin/requests` (see `Redacted`)."""

    server: str  # "hub" or a Space id
    method: str
    path: str
    query: str
    headers: dict[str, str]
    time: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.headers = redact_headers(self.headers)

    def __getitem__(self, key: str) -> Any:  # dict-style access as well
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("server", "method", "path", "query", "headers", "time")}


class RequestLog:
    def __init__(self) -> None:
        self._items: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def add(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def items(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
