"""Replicas: your own private copies of a model's Space on dedicated hardware, serving the alias next to the official
Space, so a batch goes on past the ZeroGPU allowance.

    from janusflux import replicas
    replicas.create_replicas("flux-dev", 2, hardware="a10g-large", sleep_time=600)   # waits until they run
    for r in replicas.list_replicas():
        print(r)                     # me/FLUX.1-dev-replica-1  RUNNING  a10g-large  sleeps after 600s  $1.50/h
    replicas.pause_replica("FLUX.1-dev-replica-1")                                  # stops the billing
    replicas.delete_replica("me/FLUX.1-dev-replica-2")

Creating one is huggingface_hub ``duplicate_repo(repo_type="space")`` of the model's official Space into your
namespace, private, with ``space_hardware`` and ``space_sleep_time`` (billing stops after that many idle seconds; the
next call wakes it), then huggingface_hub ``wait_for_space`` until it runs. Only huggingface_hub talks to the Hub,
on the session's Hub endpoint with its token (``Session.token_for``); a replica's host (``*.hf.space``) gets the token
from the session as any Hugging Face host does, which a private Space needs.

**Where the list lives**: ``$HF_HOME/janusflux/replicas.json`` (``~/.cache/huggingface/janusflux/replicas.json`` by
default), next to the token huggingface_hub saves. A plain file rather than the Hub: a session reads it at start
without a request (offline too), you can see and edit it by hand (remove a line, add a Space you duplicated
yourself), and it keeps replicas of different Hubs apart (each entry names its ``endpoint``). Each entry:
``space_id``, ``source`` (the official Space it copies), ``model``, ``endpoint``, ``hardware``, ``sleep_time``,
``private``, ``created``.

**How a session uses them** (:class:`janusflux.Session` ``replicas=True``, the default): for every alias whose
official Space has replicas on the session's Hub, the replicas are added after the official Space and before the
mirrors (the free allowance first, then your own hardware, then third-party mirrors that draw on the same
allowance), marked as dedicated (:attr:`ModelSpec.dedicated`): they get no ZeroGPU token or ip token, and a ZeroGPU
quota wall on the official Space sends the call to a free replica at once instead of waiting (the official Space and
mirrors cool down until the wall ends). ``replicas=False`` turns this off; ``replicas={"me/x": "owner/official"}``
(replica id → official Space) or a list of :class:`Replica` uses those instead of the file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .errors import InvalidInputError, SpaceUnavailableError
from .models import ModelSpec, get_model

__all__ = ["Replica", "ReplicaStatus", "check_create", "create_replicas", "delete_replica", "list_replicas",
           "load_replicas", "pause_replica", "replica_table", "replicas_path", "with_replicas"]

log = logging.getLogger("janusflux.replicas")

BILLED_STAGES = {"RUNNING", "RUNNING_BUILDING", "RUNNING_APP_STARTING", "APP_STARTING", "BUILDING"}
POLL_MIN, POLL_MAX = 0.2, 5.0  # seconds between runtime polls while waiting for a replica to run: at first, then
POLL_FIRST = 3.0  # seconds of quick polls
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
T = TypeVar("T")


@dataclass(frozen=True)
class Replica:
    """One entry of the replica list (see the module docstring)."""

    space_id: str
    source: str
    model: str
    endpoint: str
    hardware: str
    sleep_time: int | None = None
    private: bool = True
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReplicaStatus:
    """A replica as the Hub reports it now: ``stage`` (``NOT_FOUND`` when it is gone), hardware, sleep time and the
    hardware's price; ``cost_per_hour`` is what it bills now (0 while paused or sleeping)."""

    replica: Replica
    stage: str
    hardware: str | None
    sleep_time: int | None
    price_per_hour: float | None

    @property
    def cost_per_hour(self) -> float | None:
        if self.price_per_hour is None:
            return None
        return self.price_per_hour if self.stage in BILLED_STAGES else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.replica.to_dict(), "stage": self.stage, "current_hardware": self.hardware,
                "current_sleep_time": self.sleep_time, "price_per_hour": self.price_per_hour,
                "cost_per_hour": self.cost_per_hour}

    def __str__(self) -> str:
        sleep = "never sleeps" if not self.sleep_time or self.sleep_time < 0 else f"sleeps after {self.sleep_time}s"
        price = "price unknown" if self.price_per_hour is None else (
            f"${self.price_per_hour:.2f}/h, billing ${self.cost_per_hour:.2f}/h now")
        return (f"{self.replica.space_id}  {self.stage}  {self.hardware or self.replica.hardware}  {sleep}  {price}  "
                f"(copy of {self.replica.source}, serves {self.replica.model})")


# -- the list --------------------------------------------------------------------------------------------------------
def replicas_path() -> Path:
    """``$HF_HOME/janusflux/replicas.json`` (huggingface_hub's ``HF_HOME``, read when called)."""
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HOME") or constants.HF_HOME).expanduser() / "janusflux" / "replicas.json"


def load_replicas(path: str | os.PathLike[str] | None = None, endpoint: str | None = None) -> list[Replica]:
    """The replica list (all Hubs, or the one at ``endpoint``). A missing file is an empty list; an unreadable one
    raises ``InvalidInputError("replicas")`` naming the file."""
    file = Path(path) if path is not None else replicas_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        rows = json.loads(text)["replicas"]
        out = [Replica(**row) for row in rows]
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidInputError("replicas", f"cannot read the replica list {file}: {type(e).__name__}: {e}") from None
    return [r for r in out if endpoint is None or r.endpoint == endpoint.rstrip("/")]


def _save(replicas: list[Replica], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"replicas": [r.to_dict() for r in replicas]}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _update(path: Path, change: Callable[[list[Replica]], list[Replica]]) -> None:
    _save(change(load_replicas(path)), path)


# -- what a session does with them -------------------------------------------------------------------------------
def replica_table(option: Any, endpoint: str) -> dict[str, tuple[str, ...]]:
    """Official Space id → its replicas' ids, from a :class:`~janusflux.Session`'s ``replicas`` option: True (the
    list's entries on ``endpoint``; an unreadable list is logged and ignored), False / None (none), a mapping
    replica id → official Space id, or an iterable of :class:`Replica`."""
    pairs: list[tuple[str, str]]
    if option is True:
        try:
            pairs = [(r.space_id, r.source) for r in load_replicas(endpoint=endpoint)]
        except InvalidInputError as e:
            log.warning("replicas not used: %s", e)
            pairs = []
    elif option is False or option is None:
        pairs = []
    elif isinstance(option, Mapping):
        pairs = list(option.items())
    elif isinstance(option, Iterable) and not isinstance(option, (str, bytes)):
        items = list(option)
        if not all(isinstance(r, Replica) for r in items):
            raise InvalidInputError("replicas", "expected True, False, {replica id: official Space id} or Replicas")
        pairs = [(r.space_id, r.source) for r in items]
    else:
        raise InvalidInputError("replicas", f"expected True, False, a mapping or a list of Replica, got {option!r}")
    table: dict[str, list[str]] = {}
    for replica, source in pairs:
        if not (isinstance(replica, str) and _ID.match(replica) and isinstance(source, str) and _ID.match(source)):
            raise InvalidInputError("replicas", f"expected Space ids (owner/name), got {replica!r} -> {source!r}")
        if replica not in table.setdefault(source, []):
            table[source].append(replica)
    return {k: tuple(v) for k, v in table.items()}


def with_replicas(spec: ModelSpec, table: Mapping[str, tuple[str, ...]]) -> ModelSpec:
    """``spec`` with the replicas of its official Space after it (before the mirrors), marked dedicated."""
    if not spec.spaces:
        return spec
    official = spec.spaces[0]
    extra = tuple(r for r in table.get(official, ()) if r not in spec.spaces)
    if not extra:
        return spec
    return spec.replace(spaces=(official, *extra, *spec.spaces[1:]), dedicated=spec.dedicated | set(extra))


# -- the Hub ---------------------------------------------------------------------------------------------------------
def _hub(session: Any) -> tuple[Any, Any, str, str]:
    """(the session: default janusflux's, HfApi on its Hub, the endpoint, the token for it); a session without a
    token is refused."""
    from huggingface_hub import HfApi

    from .allowance import _endpoint_and_token

    if session is None:
        from . import default_session

        session = default_session()
    hub, token = _endpoint_and_token(session, None, None)
    if not token:
        raise InvalidInputError("token", "replicas are Spaces in your namespace: give a Hugging Face token with write "
                                         "access (HF_TOKEN, `hf auth login` or Session(token=...))")
    return session, HfApi(endpoint=hub), hub, token


def _call(hub: str, what: str, fn: Callable[[], T], param: str = "name") -> T:
    """Run a huggingface_hub call; its errors become typed ones (no token in any message). A ``TimeoutError`` is
    passed on: it is ``wait_for_space`` saying the Space is still starting (httpx's own timeouts are ``HTTPError``s),
    not a network failure, although Python makes it an ``OSError``."""
    import httpx
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return fn()
    except TimeoutError:
        raise
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        message = getattr(getattr(e, "response", None), "headers", {}).get("x-error-message") or f"HTTP {status}"
        if status == 401:
            raise InvalidInputError("token", f"the Hub ({hub}) refused the token ({what})") from None
        if status in (400, 403, 404, 409):
            raise InvalidInputError(param, f"the Hub ({hub}) refused to {what}: {message}") from None
        raise SpaceUnavailableError(f"the Hub ({hub}) answered {status} to {what}", stage="HUB_ERROR") from None
    except (httpx.HTTPError, OSError) as e:
        raise SpaceUnavailableError(f"the Hub ({hub}) is unreachable: {type(e).__name__}",
                                    stage="UNREACHABLE") from None


def check_create(model: Any, count: Any, hardware: Any, sleep_time: Any, private: Any, timeout: Any) -> ModelSpec:
    """The checks of :func:`create_replicas` that need no request; returns the model's spec."""
    spec = get_model(model)
    if not spec.spaces or not _ID.match(spec.spaces[0]):
        raise InvalidInputError("model", f"{spec.alias} is not served by a Hub Space (its first Space is "
                                         f"{spec.spaces[0] if spec.spaces else None!r})")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 20:
        raise InvalidInputError("count", f"expected an int from 1 to 20, got {count!r}")
    if not isinstance(hardware, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", hardware):
        raise InvalidInputError("hardware", f"expected a Spaces hardware name such as a10g-large, got {hardware!r}")
    if hardware.startswith(("zero-", "cpu-")):
        why = "ZeroGPU draws on the same allowance" if hardware.startswith("zero-") else "the model needs a GPU"
        raise InvalidInputError("hardware", f"{hardware} is not a dedicated GPU ({why}): pick one such as l4x1, "
                                            "a10g-large or a100-large")
    if sleep_time is not None and (isinstance(sleep_time, bool) or not isinstance(sleep_time, int)
                                   or (sleep_time <= 0 and sleep_time != -1)):
        raise InvalidInputError("sleep_time", f"expected seconds > 0 (or -1 / None: never sleep), got {sleep_time!r}")
    if not isinstance(private, bool):
        raise InvalidInputError("private", f"expected a bool, got {private!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise InvalidInputError("timeout", f"expected seconds > 0, got {timeout!r}")
    return spec


def create_replicas(model: str, count: int = 1, *, hardware: str, sleep_time: int | None = None, session: Any = None,
                    private: bool = True, timeout: float = 1800.0,
                    path: str | os.PathLike[str] | None = None) -> list[Replica]:
    """Duplicate ``model``'s official Space ``count`` times into your namespace on ``hardware`` (``private`` by
    default, sleeping after ``sleep_time`` idle seconds; None or -1: never), add them to the replica list and wait
    until every one runs (at most ``timeout`` seconds). Returns the new replicas.

    ``InvalidInputError`` naming the parameter for bad input (before any request) or a hardware the Hub does not list;
    ``SpaceUnavailableError`` (with ``stage``) when a copy fails to build or is not running after ``timeout`` (it stays
    in the list: ``replicas list`` shows it, ``replicas delete`` removes it)."""
    spec = check_create(model, count, hardware, sleep_time, private, timeout)
    file = Path(path) if path is not None else replicas_path()
    session, api, hub, token = _hub(session)
    from .plan import hardware_prices

    prices = _call(hub, "list the Spaces hardware", lambda: hardware_prices(session), "hardware")
    if hardware not in prices:
        raise InvalidInputError("hardware", f"unknown Spaces hardware {hardware!r}; the Hub lists "
                                            f"{', '.join(sorted(prices))}")
    source = spec.spaces[0]
    base = source.split("/")[1]
    taken = {r.space_id.split("/")[1] for r in load_replicas(file)}
    created: list[Replica] = []
    n = 0
    while len(created) < count:
        n += 1
        name = f"{base}-replica-{n}"
        if name in taken:
            continue
        def duplicate(name: str = name) -> Any:
            return api.duplicate_repo(source, to_id=name, repo_type="space", private=private,
                                      space_hardware=hardware, space_sleep_time=sleep_time, token=token)

        try:
            url = _call(hub, f"duplicate {source}", duplicate)
        except InvalidInputError as e:
            if "already" in str(e) and n < count + 20:  # a Space of that name exists (not in the list): the next
                continue
            raise
        replica = Replica(space_id=url.repo_id, source=source, model=spec.alias, endpoint=hub, hardware=hardware,
                          sleep_time=sleep_time, private=private,
                          created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        _update(file, lambda rows: [*(x for x in rows if x.space_id != replica.space_id), replica])  # noqa: B023
        created.append(replica)
        log.info("duplicated %s as %s on %s", source, replica.space_id, hardware)
    deadline = time.monotonic() + float(timeout)
    for replica in created:
        _wait_running(api, hub, token, replica.space_id, deadline)
    return created


def _wait_running(api: Any, hub: str, token: str, space_id: str, deadline: float) -> None:
    """huggingface_hub ``wait_for_space`` until the copy leaves BUILDING / APP_STARTING: a few quick polls first (a
    copy that is already up), then one every ``POLL_MAX`` seconds (a build takes minutes)."""
    runtime = None
    for first, poll in ((POLL_FIRST, POLL_MIN), (None, POLL_MAX)):
        left = deadline - time.monotonic()
        wait = max(0.0, left if first is None else min(first, left))
        def waited(wait: float = wait, poll: float = poll) -> Any:
            return api.wait_for_space(space_id, timeout=wait, poll_interval=poll, token=token)

        try:
            runtime = _call(hub, f"wait for {space_id}", waited)
            break
        except TimeoutError:
            continue
    stage = str(runtime.stage) if runtime is not None else str(
        _call(hub, f"read the runtime of {space_id}", lambda: api.get_space_runtime(space_id, token=token)).stage)
    if stage.startswith("RUNNING") or stage == "SLEEPING":  # a sleeping copy wakes at the first call
        return
    if runtime is None:
        raise SpaceUnavailableError(f"the replica is still {stage}: not running within the timeout", stage=stage,
                                    space_id=space_id)
    raise SpaceUnavailableError(f"the replica is {stage}", stage=stage, space_id=space_id)


def list_replicas(*, session: Any = None, path: str | os.PathLike[str] | None = None) -> list[ReplicaStatus]:
    """The replicas on the session's Hub with their stage, hardware, sleep time and price (one runtime request each,
    one for the price list)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    from .plan import hardware_prices

    session, api, hub, token = _hub(session)
    rows = load_replicas(path, endpoint=hub)
    prices = _call(hub, "list the Spaces hardware", lambda: hardware_prices(session)) if rows else {}
    out = []
    for r in rows:
        def runtime(space_id: str = r.space_id) -> Any:
            try:
                return api.get_space_runtime(space_id, token=token)
            except RepositoryNotFoundError:
                return None

        rt = _call(hub, f"read the runtime of {r.space_id}", runtime)
        if rt is None:
            out.append(ReplicaStatus(r, "NOT_FOUND", None, None, prices.get(r.hardware)))
            continue
        hardware = rt.hardware or rt.requested_hardware
        out.append(ReplicaStatus(r, str(rt.stage), hardware, rt.sleep_time, prices.get(hardware or r.hardware)))
    return out


def _find(name: Any, path: Path, hub: str) -> Replica:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("name", f"expected a replica's Space id or name, got {name!r}")
    rows = load_replicas(path, endpoint=hub)
    found = [r for r in rows if name.strip() in (r.space_id, r.space_id.split("/")[1])]
    if not found:
        known = ", ".join(r.space_id for r in rows) or "none"
        raise InvalidInputError("name", f"{name!r} is not in the replica list ({path}); known: {known}")
    return found[0]


def pause_replica(name: str, *, session: Any = None, path: str | os.PathLike[str] | None = None) -> str:
    """Pause a replica (huggingface_hub ``pause_space``: it stops billing until restarted). Returns its stage."""
    file = Path(path) if path is not None else replicas_path()
    session, api, hub, token = _hub(session)
    replica = _find(name, file, hub)
    rt = _call(hub, f"pause {replica.space_id}", lambda: api.pause_space(replica.space_id, token=token))
    return str(rt.stage)


def delete_replica(name: str, *, session: Any = None, path: str | os.PathLike[str] | None = None) -> Replica:
    """Delete a replica's Space (huggingface_hub ``delete_repo``; gone already is fine) and remove it from the list."""
    file = Path(path) if path is not None else replicas_path()
    session, api, hub, token = _hub(session)
    replica = _find(name, file, hub)
    _call(hub, f"delete {replica.space_id}", lambda: api.delete_repo(replica.space_id, repo_type="space",
                                                                     token=token, missing_ok=True))
    _update(file, lambda rows: [r for r in rows if r != replica])
    return replica
