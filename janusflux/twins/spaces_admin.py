"""The Hub twin's Space administration routes, as huggingface_hub 2.4 calls them: `duplicate_repo(repo_type="space")`,
`request_space_hardware`, `set_space_sleep_time`, `pause_space` and `delete_repo` (the runtime and restart routes are
in `hub.py`).

A duplicate becomes a new Space twin (`TwinFleet.duplicate`): the same app and model behaviour on the hardware asked
for (dedicated, not ZeroGPU: no quota charged, no ZeroGPU error), owned by the caller, private unless asked otherwise,
BUILDING for `TwinOptions.build_time` seconds, then RUNNING. Only the owner may change, pause or delete it (403);
the twins' own Spaces belong to nobody and cannot be changed. Errors carry the Hub's `x-error-code` /
`x-error-message` headers, so huggingface_hub raises the same exception types as against the Hub.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .state import SpaceState

if TYPE_CHECKING:
    from .fleet import TwinFleet
    from .repos import RepoStore
    from .zerogpu import User

__all__ = ["add_space_routes"]


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    headers = {"x-error-message": message}
    if code:
        headers["x-error-code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _not_found() -> JSONResponse:
    return _error(404, "Repository not found", "RepoNotFound")


def add_space_routes(app: FastAPI, fleet: TwinFleet, store: RepoStore, user_of: Callable[[Request], User | None],
                     visible: Callable[[str, Request], SpaceState | None]) -> None:
    """Add the routes to the Hub twin's app. ``visible(space_id, request)``: the Space if the caller may see it."""
    from .hub import SPACES_HARDWARE, runtime

    hardware_names = {h[0] for h in SPACES_HARDWARE}

    def owned(space_id: str, request: Request) -> SpaceState | JSONResponse:
        user = user_of(request)
        if user is None:
            return _error(401, "Invalid credentials in Authorization header")
        st = visible(space_id, request)
        if st is None:
            return _not_found()
        if st.owner != user.name:
            return _error(403, f"You don't have the rights to change {space_id}: only its owner can")
        return st

    def check_hardware(name: Any) -> JSONResponse | None:
        if name not in hardware_names:
            return _error(400, f"Invalid hardware {name!r}: expected one of {', '.join(sorted(hardware_names))}")
        return None

    def check_sleep(seconds: Any) -> JSONResponse | None:
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)
                                    or (seconds < 0 and seconds != -1)):
            return _error(400, f"Invalid sleep time {seconds!r}: seconds >= 0, or -1 for never")
        return None

    @app.post("/api/spaces/{owner}/{name}/duplicate")
    async def duplicate(owner: str, name: str, request: Request):
        user = user_of(request)
        if user is None:
            return _error(401, "Invalid credentials in Authorization header")
        from_id = f"{owner}/{name}"
        if visible(from_id, request) is None:
            return _not_found()
        body = await request.json()
        to_id = str(body.get("repository") or f"{user.name}/{name}")
        if to_id.count("/") != 1 or not all(to_id.split("/")):
            return _error(400, f"Invalid repository name {to_id!r}")
        if to_id.split("/")[0] != user.name:
            return _error(403, f"You don't have the rights to create a Space under {to_id.split('/')[0]!r}")
        hardware = body.get("hardware") or "cpu-basic"
        sleep = body.get("sleepTimeSeconds")
        bad = check_hardware(hardware) or check_sleep(sleep)
        if bad is not None:
            return bad
        private = body.get("visibility", "private" if body.get("private", True) else "public") != "public"
        try:
            fleet.duplicate(from_id, to_id, owner=user.name, hardware=hardware,
                            sleep_time=None if sleep in (None, -1) else int(sleep), private=private)
        except ValueError:
            return _error(409, f"You already created this Space: {to_id}")
        return {"url": f"{str(request.base_url).rstrip('/')}/spaces/{to_id}"}

    @app.post("/api/spaces/{owner}/{name}/hardware")
    async def hardware(owner: str, name: str, request: Request):
        st = owned(f"{owner}/{name}", request)
        if isinstance(st, JSONResponse):
            return st
        body = await request.json()
        bad = check_hardware(body.get("flavor")) or check_sleep(body.get("sleepTimeSeconds"))
        if bad is not None:
            return bad
        st.hardware = body["flavor"]
        if "sleepTimeSeconds" in body:
            sleep = body["sleepTimeSeconds"]
            st.sleep_time = None if sleep in (None, -1) else int(sleep)
        st.start("APP_STARTING", fleet.options.build_time)  # the Space restarts on its new hardware
        return runtime(st)

    @app.post("/api/spaces/{owner}/{name}/sleeptime")
    async def sleeptime(owner: str, name: str, request: Request):
        st = owned(f"{owner}/{name}", request)
        if isinstance(st, JSONResponse):
            return st
        seconds = (await request.json()).get("seconds")
        bad = check_sleep(seconds)
        if bad is not None:
            return bad
        st.sleep_time = None if seconds in (None, -1) else int(seconds)
        return runtime(st)

    @app.post("/api/spaces/{owner}/{name}/pause")
    def pause(owner: str, name: str, request: Request):
        st = owned(f"{owner}/{name}", request)
        if isinstance(st, JSONResponse):
            return st
        st.set_stage("PAUSED")
        return runtime(st)

    @app.delete("/api/repos/delete")
    async def delete(request: Request):
        user = user_of(request)
        if user is None:
            return _error(401, "Invalid credentials in Authorization header")
        body = await request.json()
        repo_id = f"{body.get('organization') or user.name}/{body.get('name')}"
        repo_type = body.get("type") or "model"
        if repo_type == "space":
            st = owned(repo_id, request)
            if isinstance(st, JSONResponse):
                return st
            fleet.delete_space(repo_id)
            return {}
        with store.lock:
            repo = store.get(repo_type, repo_id, user.name)
            if repo is None:
                return _not_found()
            if repo.owner != user.name:
                return _error(403, f"You don't have the rights to delete {repo_id}")
            del store.repos[(repo_type, repo_id)]
        return {}
