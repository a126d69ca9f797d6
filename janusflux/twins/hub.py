"""The Hub twin: the few huggingface.co routes the SDK, huggingface_hub and gradio_client ask, plus a control API.

Point `HF_ENDPOINT` at it. Space info reports each Space twin's URL as `host`, so `Client("owner/name")` reaches
the twin unchanged. A duplicate (`twins/spaces_admin.py`) is private to its owner: others get 404, as on the Hub.
The JWT route answers anonymous callers too (a token naming no user, counted by address); a
token naming a user needs `Authorization: Bearer hf_...`. Quota and whoami need a token (401 otherwise), like the Hub.

Control API (for tests in other processes and `janusflux serve` users), JSON in and out:
  POST /_twin/fault   {"space": id|family|null, <knob>: value, ..., "times": N|null, "clear": bool}
  POST /_twin/stage   {"space": id, "stage": "SLEEPING", "wake_after": 1.0}
  POST /_twin/zerogpu {"space": id|family|null, "wording": "2024", "hardware_factor": 1.5, "anonymous": "ip",
                       "waiting_toast": "slot"}
  POST /_twin/reset   {"identity": "alice"|"ip:127.0.0.1"|null}   (quota)
  GET  /_twin/requests, DELETE /_twin/requests, GET /_twin/state,
  GET  /_twin/quota?identity=...   ({"left": seconds left now, "charged": seconds booked since the start})
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from . import zerogpu
from .repos import add_repo_routes
from .spaces_admin import add_space_routes
from .state import FAULT_KNOBS, SpaceState

if TYPE_CHECKING:
    from .fleet import TwinFleet

__all__ = ["build_hub", "hardware_list", "runtime"]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _not_found(space_id: str) -> JSONResponse:
    return JSONResponse({"error": "Repository not found"}, status_code=404,
                        headers={"x-error-code": "RepoNotFound", "x-error-message": "Repository not found"})


def _unauthorized() -> JSONResponse:
    return JSONResponse({"error": "Invalid credentials in Authorization header"}, status_code=401)


def _forbidden(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=403, headers={"x-error-message": message})


def runtime(st: SpaceState) -> dict[str, Any]:
    """A Space's runtime as `GET /api/spaces/{id}/runtime` answers (huggingface_hub `SpaceRuntime`)."""
    stage = st.stage
    return {
        "stage": stage,
        "hardware": {"current": st.hardware if stage == "RUNNING" else None, "requested": st.hardware},
        "storage": None,
        "gcTimeout": st.sleep_time if st.dedicated else 172800,
        "replicas": {"current": 1, "requested": 1},
        "devMode": False,
        "domains": [{"domain": st.spec.subdomain + ".hf.space", "stage": "READY"}],
        "sdk": "gradio",
    }


# A STAND-IN price list: the public Spaces hardware names with hourly prices as the Hub's pricing page showed them
# (not fetched: huggingface.co is unreachable here). Shaped as `GET /api/spaces/hardware` answers huggingface_hub 2.4
# (`list_spaces_hardware` -> JobHardwareInfo: prices per minute in micro-dollars).
SPACES_HARDWARE: tuple[tuple[str, str, str, str, tuple[str, int, str] | None, float], ...] = (
    # name, pretty name, cpu, ram, (gpu model, count, vram) or None, USD per hour
    ("cpu-basic", "CPU Basic", "2 vCPU", "16 GB", None, 0.0),
    ("cpu-upgrade", "CPU Upgrade", "8 vCPU", "32 GB", None, 0.03),
    ("zero-a10g", "ZeroGPU", "2 vCPU", "16 GB", ("A10G", 1, "24 GB"), 0.0),
    ("t4-small", "Nvidia T4 - small", "4 vCPU", "15 GB", ("T4", 1, "16 GB"), 0.40),
    ("t4-medium", "Nvidia T4 - medium", "8 vCPU", "30 GB", ("T4", 1, "16 GB"), 0.60),
    ("l4x1", "1x Nvidia L4", "8 vCPU", "30 GB", ("L4", 1, "24 GB"), 0.80),
    ("l4x4", "4x Nvidia L4", "48 vCPU", "186 GB", ("L4", 4, "96 GB"), 3.80),
    ("a10g-small", "Nvidia A10G - small", "4 vCPU", "15 GB", ("A10G", 1, "24 GB"), 1.00),
    ("a10g-large", "Nvidia A10G - large", "12 vCPU", "46 GB", ("A10G", 1, "24 GB"), 1.50),
    ("a10g-largex2", "2x Nvidia A10G - large", "24 vCPU", "92 GB", ("A10G", 2, "48 GB"), 3.00),
    ("l40sx1", "1x Nvidia L40S", "8 vCPU", "62 GB", ("L40S", 1, "48 GB"), 1.80),
    ("a100-large", "Nvidia A100 - large", "12 vCPU", "142 GB", ("A100", 1, "80 GB"), 2.50),
    ("h100", "Nvidia H100", "23 vCPU", "240 GB", ("H100", 1, "80 GB"), 4.50),
)


def hardware_list() -> list[dict[str, Any]]:
    """The stand-in price list as the Hub's `/api/spaces/hardware` shapes it."""
    out = []
    for name, pretty, cpu, ram, gpu, per_hour in SPACES_HARDWARE:
        per_minute = per_hour / 60
        out.append({"name": name, "prettyName": pretty, "cpu": cpu, "ram": ram, "ephemeralStorage": "50 GB",
                    "accelerator": None if gpu is None else {"type": "gpu", "model": gpu[0], "quantity": str(gpu[1]),
                                                             "vram": gpu[2], "manufacturer": "Nvidia"},
                    "unitCostMicroUSD": round(per_minute * 1e6), "unitCostUSD": round(per_minute, 6),
                    "unitLabel": "minute"})
    return out


def _hardware_routes(app: FastAPI) -> None:
    @app.get("/api/spaces/hardware")
    def spaces_hardware():
        return hardware_list()


def build_hub(fleet: TwinFleet) -> FastAPI:
    app = FastAPI(title="janusflux Hub twin", docs_url=None, redoc_url=None, openapi_url=None)
    zero = fleet.zero
    started = time.time()

    def user_of(request: Request) -> zerogpu.User | None:
        return zero.users.lookup(zerogpu.bearer(request.headers.get("authorization")))

    def visible(space_id: str, request: Request) -> SpaceState | None:
        """The Space's state, None when it does not exist or is private and the caller is not its owner."""
        st = fleet.states.get(space_id)
        if st is None or (st.private and getattr(user_of(request), "name", None) != st.owner):
            return None
        return st

    @app.get("/api/spaces/zero-gpu/quota")
    def quota(request: Request):
        user = user_of(request)
        if user is None:
            return _unauthorized()
        key = f"user:{user.name}"
        resets = zero.ledger.resets_at(key)
        return {
            "base": zero.ledger.base(key),
            "current": zero.ledger.left(key),
            "resetsAt": None if resets is None else _iso(resets),
            "overquotaUsed": 0,
        }

    @app.get("/api/whoami-v2")
    def whoami(request: Request):
        user = user_of(request)
        if user is None:
            return _unauthorized()
        return {
            "type": "user",
            "id": hashlib.sha256(user.name.encode()).hexdigest()[:24],
            "name": user.name,
            "fullname": user.name.title(),
            "email": None,
            "isPro": user.plan == "pro",
            "canPay": user.plan == "pro",
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "janusflux-twin", "role": "read",
                                                             "createdAt": _iso(started)}},
        }

    @app.get("/api/spaces/{owner}/{name}")
    def space_info(owner: str, name: str, request: Request):
        space_id = f"{owner}/{name}"
        st = visible(space_id, request)
        if st is None:
            return _not_found(space_id)
        return {
            "_id": hashlib.sha256(space_id.encode()).hexdigest()[:24],
            "id": space_id,
            "author": owner,
            "sha": hashlib.sha1(space_id.encode()).hexdigest(),
            "lastModified": _iso(started),
            "createdAt": _iso(started),
            "private": st.private,
            "gated": False,
            "disabled": False,
            "likes": 0,
            "trendingScore": 0,
            "sdk": "gradio",
            "tags": ["gradio", "region:us"],
            "host": st.url,
            "subdomain": st.spec.subdomain,
            "runtime": runtime(st),
            "cardData": {"title": name, "sdk": "gradio", "app_file": "app.py"},
            "siblings": [{"rfilename": "README.md"}, {"rfilename": "app.py"}, {"rfilename": "requirements.txt"}],
        }

    @app.get("/api/spaces/{owner}/{name}/runtime")
    def space_runtime(owner: str, name: str, request: Request):
        space_id = f"{owner}/{name}"
        st = visible(space_id, request)
        if st is None:
            return _not_found(space_id)
        return runtime(st)

    @app.post("/api/spaces/{owner}/{name}/restart")
    def restart(owner: str, name: str, request: Request):
        space_id = f"{owner}/{name}"
        st = visible(space_id, request)
        if st is None:
            return _not_found(space_id)
        user = user_of(request)
        if user is None:
            return _unauthorized()
        if st.owner is not None and user.name != st.owner:
            return _forbidden(f"only the owner of {space_id} can restart it")
        if st.stage in ("SLEEPING", "APP_STARTING"):
            st.wake()
        elif st.stage in ("PAUSED", "STOPPED", "RUNTIME_ERROR"):
            st.start("APP_STARTING", fleet.options.build_time)
        return runtime(st)

    @app.get("/api/spaces/{owner}/{name}/jwt")
    def jwt(owner: str, name: str, request: Request, expiration: str | None = None):
        space_id = f"{owner}/{name}"
        if visible(space_id, request) is None:
            return _not_found(space_id)
        lifetime = zerogpu.JWT_LIFETIME
        if expiration:
            try:
                exp = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
                if exp.tzinfo is None:
                    exp = exp.replace(tzinfo=timezone.utc)
                lifetime = min(exp.timestamp() - time.time(), 86400.0)
            except ValueError:
                return JSONResponse({"error": f"Invalid expiration {expiration!r}"}, status_code=400)
        token = zero.issue_jwt(space_id, user_of(request), request.client.host if request.client else "127.0.0.1",
                               lifetime=lifetime, token_format=fleet.options.zerogpu_token_format)
        return {"token": token}

    @app.get("/api/agent-harnesses")
    def harnesses():
        # huggingface_hub 2.4 (utils/_detect_agent.py) reads an object and caches it under HF_HOME for a day. The
        # twin knows no harness list; the two standard variables are the ones that module documents.
        return {"standardEnvVars": ["AI_AGENT", "AGENT"], "harnesses": {}}

    @app.api_route("/api/telemetry/{topic:path}", methods=["HEAD", "GET", "POST"])
    def telemetry(topic: str):
        # huggingface_hub's send_telemetry (used by gradio_client's Client) sends HEAD here; the twin keeps nothing.
        return JSONResponse({})

    _hardware_routes(app)
    store = add_repo_routes(app, lambda request: getattr(user_of(request), "name", None))
    add_space_routes(app, fleet, store, user_of, visible)

    # --- control API ----------------------------------------------------------------------------------------------
    @app.post("/_twin/fault")
    async def fault(request: Request):
        body = await request.json()
        space = body.pop("space", None)
        try:
            if body.pop("clear", False):
                fleet.clear_faults(space)
            knobs = {k: v for k, v in body.items() if k in FAULT_KNOBS or k == "times"}
            if set(body) - set(knobs):
                raise ValueError(f"Unknown fault knob(s) {sorted(set(body) - set(knobs))}")
            if knobs:
                fleet.set_fault(space, **knobs)
        except (ValueError, KeyError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return fleet.state()

    @app.post("/_twin/stage")
    async def stage(request: Request):
        body = await request.json()
        try:
            fleet.set_stage(body["space"], body["stage"], wake_after=float(body.get("wake_after", 1.0)))
        except (ValueError, KeyError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return fleet.state()

    @app.post("/_twin/zerogpu")
    async def zerogpu_settings(request: Request):
        body = await request.json()
        space = body.pop("space", None)
        try:
            fleet.set_zerogpu(space, **body)
        except (ValueError, KeyError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        return fleet.state()

    @app.post("/_twin/reset")
    async def reset(request: Request):
        body = await request.json() if await request.body() else {}
        fleet.reset_quota(body.get("identity"))
        return fleet.state()

    @app.get("/_twin/requests")
    def requests_():
        return [r.to_dict() for r in fleet.requests]

    @app.delete("/_twin/requests")
    def clear_requests():
        fleet.clear_requests()
        return {"cleared": True}

    @app.get("/_twin/state")
    def state():
        return fleet.state()

    @app.get("/_twin/quota")
    def quota_of(identity: str):
        key = zero.identity_key(identity)
        return {"identity": key, "left": fleet.quota_left(identity), "charged": zero.ledger.charged(key)}

    return app
