"""Plan a batch against the ZeroGPU allowance before running it (``janusflux batch FILE --plan``).

    from janusflux.plan import plan_batch
    print(plan_batch("prompts.txt", "out/", model="flux", session=s, replicas=2, hardware="a10g-large"))

Nothing is generated. For the items still to do (an output folder's finished items are left out, as a run would):

* **asks for**: GPU seconds each call asks the allowance for, the model's declared ZeroGPU duration (the registry:
  FLUX.1-dev 75 s, FLUX.1-schnell 60 s, Janus-Pro 120 s) × ``hardware_factor`` (1.5 on today's ZeroGPU hardware);
* **expected**: what each call is expected to charge: the declared duration × the factor earlier runs of this output
  folder measured (the journal's ``manifest.usage.jsonl``: allowance charged ÷ declared seconds), else "asks for";
* **fits now**: the items, in order, whose calls fit in what the account has left (huggingface_hub
  ``get_zero_gpu_quota``; unknown without a token), and **resets**: how many allowance resets the rest needs
  (each reset gives the account's full allowance back; one reset a ``reset_window``, a day on the Hub);
* **replicas**: N copies of the Spaces on dedicated hardware (no allowance), one call at a time each: wall time from
  the per-call time (``call_seconds``, else what earlier runs of this folder measured, else the declared duration, an
  upper bound), money from the hardware's price (huggingface_hub ``list_spaces_hardware``). Two figures:
  ``replica_seconds``, the replicas alone, and ``wall_seconds``, the batch as a session runs it with the replicas next
  to the official Space (:mod:`janusflux.replicas`): the batch's ``concurrency`` calls in flight spread over the
  official Space and the replicas, the official Space takes calls until what is left of the allowance is used (a
  quota wall then sends every call to the replicas, no wait), each replica runs one call at a time. It assumes the
  replicas run (not asleep) and no allowance reset during the run (a reset would only make it shorter).
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .allowance import Quota, format_duration, try_quota
from .batch_journal import read_records
from .errors import InvalidInputError

__all__ = ["DEFAULT_HARDWARE_FACTOR", "BatchPlan", "ModelPlan", "hardware_prices", "plan_batch"]

DEFAULT_HARDWARE_FACTOR = 1.5  # ZeroGPU 0.51.3 on RTX PRO 6000 Blackwell (SPACES.md)
DAY = 86400.0


@dataclass(frozen=True)
class ModelPlan:
    model: str
    items: int
    declared: float  # the model's declared ZeroGPU duration, seconds
    asks_for: float  # per call: declared x hardware factor
    expected: float  # per call: declared x the measured factor (else asks_for)
    call_seconds: float  # per call on dedicated hardware: measured by earlier runs, else the declared duration

    @property
    def expected_total(self) -> float:
        return self.expected * self.items


@dataclass
class BatchPlan:
    total: int
    already_done: int
    invalid: int
    models: list[ModelPlan]
    hardware_factor: float
    measured_factor: float | None
    quota: Quota | None
    fits_now: int | None = None  # items that fit in what is left (None: allowance unknown)
    resets: int | None = None  # allowance resets the rest needs
    never_fit: int = 0  # items whose call asks for more than the whole allowance
    finishes_at: datetime | None = None  # with one reset every reset_window after the next one
    replicas: int = 0
    hardware: str | None = None
    price_per_hour: float | None = None
    replica_seconds: float | None = None
    wall_seconds: float | None = None  # official Space + replicas, as a session spreads the batch (module docstring)
    replica_cost: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def to_run(self) -> int:
        return sum(m.items for m in self.models)

    @property
    def expected_total(self) -> float:
        return sum(m.expected_total for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "already_done": self.already_done, "invalid": self.invalid,
                "to_run": self.to_run, "hardware_factor": self.hardware_factor,
                "measured_factor": self.measured_factor,
                "models": [{**m.__dict__, "expected_total": m.expected_total} for m in self.models],
                "expected_total": self.expected_total, "quota": None if self.quota is None else self.quota.to_dict(),
                "fits_now": self.fits_now, "resets": self.resets, "never_fit": self.never_fit,
                "finishes_at": None if self.finishes_at is None else self.finishes_at.isoformat(),
                "replicas": self.replicas, "hardware": self.hardware, "price_per_hour": self.price_per_hour,
                "replica_seconds": self.replica_seconds, "wall_seconds": self.wall_seconds,
                "replica_cost": self.replica_cost, "notes": self.notes}

    def __str__(self) -> str:
        head = (f"plan: {self.total} items: {self.to_run} to run, {self.already_done} already done, "
                f"{self.invalid} invalid")
        lines = [head]
        measured = (f", measured {self.measured_factor:.2f} by earlier runs" if self.measured_factor is not None
                    else "")
        for m in self.models:
            lines.append(f"  {m.model:20} {m.items:5} items  asks {m.asks_for:g}s a call ({m.declared:g}s x "
                         f"{self.hardware_factor:g}), expected {m.expected:.0f}s{measured}: "
                         f"{format_duration(m.expected_total)} of ZeroGPU")
        if self.quota is None:
            lines.append("  allowance: unknown (no token): `janusflux quota` needs one")
        else:
            lines.append(f"  allowance: {self.quota}")
            lines.append(f"  fits now: {self.fits_now} of {self.to_run} items; the rest needs {self.resets} "
                         f"reset(s)" + (f", done about {self.finishes_at:%Y-%m-%d %H:%M} UTC" if self.finishes_at
                                       else ""))
        if self.never_fit:
            lines.append(f"  {self.never_fit} item(s) ask for more than the whole allowance: they never fit")
        if self.replicas and self.replica_seconds is not None:
            money = (f", about ${self.replica_cost:.2f} at ${self.price_per_hour:.2f}/h each"
                     if self.replica_cost is not None else "")
            lines.append(f"  {self.replicas} replica(s) on {self.hardware}: about "
                         f"{format_duration(self.replica_seconds)} of wall time{money}")
            if self.wall_seconds is not None:
                lines.append(f"  with the official Space using what is left of the allowance: about "
                             f"{format_duration(self.wall_seconds)} of wall time, no quota wait")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _journal(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(item records, usage records) of a journal."""
    items: list[dict[str, Any]] = []
    usage: list[dict[str, Any]] = []
    for rec in read_records(path):
        if isinstance(rec.get("usage"), dict):
            usage.append(rec["usage"])
        elif "id" in rec and "status" in rec:
            items.append(rec)
    return items, usage


def hardware_prices(session: Any) -> dict[str, float]:
    """USD per hour of each Spaces hardware (huggingface_hub ``list_spaces_hardware`` on the session's Hub)."""
    from huggingface_hub import HfApi

    hub = session.hf_endpoint
    out = {}
    for hw in HfApi(endpoint=hub).list_spaces_hardware(token=session.token_for(hub) or False):
        per_unit = float(hw.unit_cost_usd)
        # the Hub prices per minute, rounded: back to the hourly price it was derived from
        out[hw.name] = round(per_unit * {"second": 3600, "minute": 60, "hour": 1}.get(str(hw.unit_label), 60), 4)
    return out


def _simulate(charges: list[float], left: float, base: float) -> tuple[int, int, int]:
    """(items that fit now, resets needed, items that never fit), taking the items in order."""
    fits_now, resets, never = 0, 0, 0
    for c in charges:
        if c > base:
            never += 1
            continue
        if c > left:
            resets += 1
            left = base
        left -= c
        if resets == 0:
            fits_now += 1
    return fits_now, resets, never


def _mixed_wall(total: float, n: int, replicas: int, concurrency: int, fits: int | None) -> float:
    """Wall seconds of ``n`` calls (``total`` seconds of calls) over the official Space and ``replicas`` (see the
    module docstring): ``concurrency`` calls in flight, spread evenly, the official Space until ``fits`` calls."""
    if n == 0:
        return 0.0
    c = total / n
    on_official = math.ceil(concurrency / (replicas + 1))  # calls in flight there while the allowance lasts
    beside = min(replicas, concurrency - on_official)  # replicas busy meanwhile
    after = min(replicas, concurrency)  # replicas busy once the allowance is used
    both = n / (on_official + beside)
    if on_official * both <= (fits or 0):
        return both * c
    first = (fits or 0) / on_official
    return (first + (n - (fits or 0) - beside * first) / after) * c


def plan_batch(items_or_path: Any, out_dir: str | os.PathLike[str] | None = None, *, model: str = "flux",
               session: Any = None, manifest: str | os.PathLike[str] | None = None,
               hardware_factor: float = DEFAULT_HARDWARE_FACTOR, replicas: int = 0, hardware: str | None = None,
               reset_window: float = DAY, quota: Quota | None = None, concurrency: int = 2,
               call_seconds: float | None = None, **defaults: Any) -> BatchPlan:
    """The plan of a batch (see the module docstring), without generating anything.

    ``session``: for the allowance and the hardware prices (None: neither is looked up). ``quota``: the allowance
    to plan against instead of asking the Hub. ``replicas`` / ``hardware``: estimate N dedicated replicas on that
    Spaces hardware (e.g. ``"a10g-large"``); ``concurrency``: the batch's calls in flight (as ``run_batch``);
    ``call_seconds``: seconds one call takes on the replicas (e.g. timed on one), instead of what earlier runs
    measured."""
    from .batch_items import load_items
    from .batch_journal import usage_path
    from .models import get_model

    if isinstance(hardware_factor, bool) or not isinstance(hardware_factor, (int, float)) or hardware_factor <= 0:
        raise InvalidInputError("hardware_factor", f"expected a number > 0, got {hardware_factor!r}")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise InvalidInputError("replicas", f"expected an int >= 0, got {replicas!r}")
    if replicas and not hardware:
        raise InvalidInputError("hardware", "name the Spaces hardware of the replicas, e.g. a10g-large")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidInputError("concurrency", f"expected an int >= 1, got {concurrency!r}")
    if call_seconds is not None and (isinstance(call_seconds, bool) or not isinstance(call_seconds, (int, float))
                                     or call_seconds <= 0):
        raise InvalidInputError("call_seconds", f"expected seconds > 0, got {call_seconds!r}")
    items = load_items(items_or_path, model=model, **defaults)
    journal = Path(manifest) if manifest is not None else (Path(out_dir) / "manifest.jsonl" if out_dir else None)
    records, usage = _journal(journal) if journal is not None else ([], [])
    if journal is not None:
        usage += _journal(usage_path(journal))[1]
    last = {r["id"]: r for r in records}
    out = Path(out_dir) if out_dir is not None else None
    done = {i for i, r in last.items() if r.get("status") == "done" and out is not None
            and all(f and (out / f).is_file() for f in (r.get("files") or [r.get("file")]))}
    todo = [i for i in items if i.error is None and i.id not in done]
    charged, declared = sum(u.get("charged", 0) for u in usage), sum(u.get("declared", 0) for u in usage)
    measured = charged / declared if declared > 0 and charged > 0 else None
    factor = measured if measured is not None else float(hardware_factor)
    timings: dict[str, list[float]] = {}
    for r in records:
        if r.get("status") == "done" and isinstance(r.get("elapsed"), (int, float)):
            timings.setdefault(r.get("model", ""), []).append(float(r["elapsed"]))
    models: list[ModelPlan] = []
    for alias in dict.fromkeys(i.model for i in todo):
        d = float(get_model(alias).zerogpu_duration or 0)
        runs = timings.get(alias)
        models.append(ModelPlan(model=alias, items=sum(1 for i in todo if i.model == alias), declared=d,
                                asks_for=d * hardware_factor, expected=d * factor,
                                call_seconds=float(call_seconds) if call_seconds is not None
                                else statistics.median(runs) if runs else d))
    plan = BatchPlan(total=len(items), already_done=sum(1 for i in items if i.id in done),
                     invalid=sum(1 for i in items if i.error is not None), models=models,
                     hardware_factor=float(hardware_factor), measured_factor=measured, quota=quota)
    if plan.quota is None and session is not None:
        plan.quota = try_quota(session)
    if plan.quota is not None:
        per = {m.model: m.expected for m in models}
        plan.fits_now, plan.resets, plan.never_fit = _simulate([per[i.model] for i in todo], plan.quota.remaining,
                                                               plan.quota.base)
        if plan.resets:
            first = plan.quota.resets_at or (datetime.now().astimezone() + timedelta(seconds=reset_window))
            plan.finishes_at = first + timedelta(seconds=reset_window * (plan.resets - 1))
    if replicas:
        plan.replicas, plan.hardware = replicas, hardware
        calls = {m.model: m.call_seconds for m in models}
        plan.replica_seconds = sum(calls[i.model] for i in todo) / replicas
        plan.wall_seconds = _mixed_wall(sum(calls[i.model] for i in todo), len(todo), replicas, concurrency,
                                        plan.fits_now)
        if session is not None:
            prices = hardware_prices(session)
            if hardware not in prices:
                raise InvalidInputError("hardware", f"unknown Spaces hardware {hardware!r}; the Hub lists "
                                                    f"{', '.join(sorted(prices))}")
            plan.price_per_hour = prices[hardware]
            plan.replica_cost = math.ceil(plan.replica_seconds / 60) / 60 * replicas * plan.price_per_hour
        if not timings and call_seconds is None:
            plan.notes.append("replica time per call is the declared ZeroGPU duration (an upper bound) until a run "
                              "of this output folder measures it")
    return plan
