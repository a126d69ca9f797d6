"""The Hub twin's model and dataset repos: the routes huggingface_hub 2.4 uses for `create_repo`, `upload_folder` /
`create_commit`, `list_repo_files`, `repo_info`; downloads (`hf_hub_download`, `snapshot_download`) for datasets.

In memory, one branch (`main`) per repo, commits as whole snapshots. Uploads are "regular" only: the preupload route
tells huggingface_hub to send every file inline (base64 in the NDJSON commit), as the Hub does for small files; a file
over `INLINE_LIMIT` is refused at preupload with a clear message, and an `lfsFile` line in a commit is refused too
(the twin has no LFS or Xet storage). Private repos are visible to their owner only (404 to others, as on the Hub).
`POST /api/validate-yaml` accepts any README header that parses as YAML.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

__all__ = ["INLINE_LIMIT", "Repo", "RepoStore", "add_repo_routes"]

INLINE_LIMIT = 10 * 1024 * 1024  # bytes: the largest file the twin takes inline (the Hub's limit for regular files)
_TYPES = {"datasets": "dataset", "models": "model"}


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    owner: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    sha: str = ""
    created: float = field(default_factory=time.time)
    commits: list[dict[str, Any]] = field(default_factory=list)


class RepoStore:
    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.Lock()

    def get(self, repo_type: str, repo_id: str, user: str | None) -> Repo | None:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and repo.owner != user):
            return None
        return repo


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    headers = {"x-error-message": message}
    if code:
        headers["x-error-code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def add_repo_routes(app: FastAPI, user_name: Callable[[Request], str | None]) -> RepoStore:
    """Add the repo routes to the Hub twin's app; `user_name(request)` names the caller (None: anonymous)."""
    store = RepoStore()

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def prefix(repo: Repo) -> str:
        return "datasets/" if repo.repo_type == "dataset" else ""

    def writable(request: Request, kind: str, owner: str, name: str) -> Repo | JSONResponse:
        user = user_name(request)
        if user is None:
            return _error(401, "Invalid credentials in Authorization header")
        repo = store.get(_TYPES.get(kind, ""), f"{owner}/{name}", user)
        if repo is None:
            return _error(404, "Repository not found", "RepoNotFound")
        if repo.owner != user:
            return _error(403, f"You don't have the rights to write to {owner}/{name}")
        return repo

    @app.post("/api/repos/create")
    async def create(request: Request):
        user = user_name(request)
        if user is None:
            return _error(401, "Invalid credentials in Authorization header")
        body = await request.json()
        name, namespace = body.get("name"), body.get("organization") or user
        repo_type = body.get("type") or "model"
        if repo_type not in ("model", "dataset"):
            return _error(400, f"The Hub twin stores model and dataset repos, not {repo_type!r}")
        if namespace != user:
            return _error(403, f"You don't have the rights to create a repo under the namespace {namespace!r}")
        repo_id = f"{namespace}/{name}"
        private = body.get("visibility", "public") != "public" or bool(body.get("private"))
        url = f"{base(request)}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
        with store.lock:
            if (repo_type, repo_id) in store.repos:
                return JSONResponse({"error": "You already created this repo", "url": url}, status_code=409)
            repo = Repo(repo_id, repo_type, user, private)
            repo.sha = hashlib.sha1(f"{repo_id}:{time.time()}".encode()).hexdigest()
            store.repos[(repo_type, repo_id)] = repo
        return {"url": url, "name": repo_id, "id": hashlib.sha256(repo_id.encode()).hexdigest()[:24]}

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request):
        import yaml  # type: ignore[import-untyped]

        content = (await request.json()).get("content") or ""
        if content.startswith("---"):
            header = content.split("---", 2)[1] if content.count("---") >= 2 else ""
            try:
                yaml.safe_load(header)
            except yaml.YAMLError as e:
                return JSONResponse({"errors": [{"message": f"invalid YAML: {e}"}], "warnings": []}, status_code=400)
        return {"errors": [], "warnings": []}

    @app.post("/api/{kind}/{owner}/{name}/preupload/{revision}")
    async def preupload(kind: str, owner: str, name: str, revision: str, request: Request):
        repo = writable(request, kind, owner, name)
        if isinstance(repo, JSONResponse):
            return repo
        files = (await request.json()).get("files") or []
        big = [f["path"] for f in files if int(f.get("size") or 0) > INLINE_LIMIT]
        if big:
            return _error(400, f"The Hub twin takes files up to {INLINE_LIMIT} bytes inline and has no LFS storage: "
                               f"{', '.join(big[:3])} too large")
        out = []
        for f in files:
            old = repo.files.get(f["path"])
            out.append({"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                        "oid": git_blob_oid(old) if old is not None else None})
        return {"files": out, "commitOid": repo.sha}

    @app.post("/api/{kind}/{owner}/{name}/commit/{revision}")
    async def commit(kind: str, owner: str, name: str, revision: str, request: Request):
        repo = writable(request, kind, owner, name)
        if isinstance(repo, JSONResponse):
            return repo
        if revision != "main":
            return _error(400, "The Hub twin keeps one branch per repo: main")
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
        header: dict[str, Any] = next((ln["value"] for ln in lines if ln.get("key") == "header"), {})
        with store.lock:
            files = dict(repo.files)
            for ln in lines:
                key, value = ln.get("key"), ln.get("value") or {}
                if key == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    files = {p: d for p, d in files.items() if not p.startswith(folder)}
                elif key == "lfsFile":
                    return _error(400, "The Hub twin has no LFS storage: upload small files (inline) only")
            repo.files = files
            repo.sha = hashlib.sha1(repo.sha.encode() + json.dumps(sorted(files)).encode()
                                    + str(time.time()).encode()).hexdigest()
            repo.commits.append({"oid": repo.sha, "summary": header.get("summary", ""), "time": time.time()})
        return {"commitUrl": f"{base(request)}/{prefix(repo)}{repo.repo_id}/commit/{repo.sha}",
                "commitOid": repo.sha, "pullRequestUrl": None}

    def readable(request: Request, kind: str, owner: str, name: str) -> Repo | None:
        return store.get(_TYPES.get(kind, ""), f"{owner}/{name}", user_name(request))

    def info(repo: Repo) -> dict[str, Any]:
        return {"_id": hashlib.sha256(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
                "author": repo.owner, "sha": repo.sha, "private": repo.private, "gated": False, "disabled": False,
                "lastModified": _iso(repo.commits[-1]["time"] if repo.commits else repo.created),
                "createdAt": _iso(repo.created), "tags": [], "downloads": 0, "likes": 0,
                "siblings": [{"rfilename": p} for p in sorted(repo.files)]}

    @app.get("/api/{kind}/{owner}/{name}")
    @app.get("/api/{kind}/{owner}/{name}/revision/{revision}")
    def repo_info(kind: str, owner: str, name: str, request: Request, revision: str = "main"):
        repo = readable(request, kind, owner, name)
        if repo is None:
            return _error(404, "Repository not found", "RepoNotFound")
        return info(repo)

    @app.get("/api/{kind}/{owner}/{name}/tree/{revision}")
    @app.get("/api/{kind}/{owner}/{name}/tree/{revision}/{path:path}")
    def tree(kind: str, owner: str, name: str, revision: str, request: Request, path: str = "",
             recursive: bool = False):
        repo = readable(request, kind, owner, name)
        if repo is None:
            return _error(404, "Repository not found", "RepoNotFound")
        root = path.strip("/") + "/" if path.strip("/") else ""
        entries: dict[str, dict[str, Any]] = {}
        for p, data in sorted(repo.files.items()):
            if not p.startswith(root):
                continue
            rest = p[len(root):]
            if recursive or "/" not in rest:
                entries[p] = {"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": p}
            parts = rest.split("/")[:-1]
            for i in range(1, len(parts) + 1 if recursive else min(1, len(parts)) + 1):
                folder = root + "/".join(parts[:i])
                entries.setdefault(folder, {"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                            "size": 0, "path": folder})
        return list(entries.values())

    def resolve(owner: str, name: str, path: str, request: Request, body: bool) -> Response:
        repo = readable(request, "datasets", owner, name)
        if repo is None:
            return _error(404, "Repository not found", "RepoNotFound")
        if path not in repo.files:
            return _error(404, f"Entry not found: {path}", "EntryNotFound")
        data = repo.files[path]
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{git_blob_oid(data)}"', "Content-Length": str(len(data))}
        return Response(data if body else b"", headers=headers, media_type="application/octet-stream")

    @app.get("/datasets/{owner}/{name}/resolve/{revision}/{path:path}")
    def download(owner: str, name: str, revision: str, path: str, request: Request) -> Response:
        return resolve(owner, name, path, request, True)

    @app.head("/datasets/{owner}/{name}/resolve/{revision}/{path:path}")
    def download_head(owner: str, name: str, revision: str, path: str, request: Request) -> Response:
        return resolve(owner, name, path, request, False)

    return store
