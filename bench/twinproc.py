"""Twins in a child process, so the servers do not share the benchmark's interpreter (and its GIL) — a real Space is
another machine. The child runs ``janusflux.twins.start_twins``; the parent reads the request log through the Hub
twin's control API (``/_twin/requests``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import httpx

_CHILD = r"""
import json, sys, signal, threading
sys.path.insert(0, {root!r})
from bench.common import setup_env, guard_network
setup_env(); guard_network()
from janusflux.twins import start_twins
kw = json.loads(sys.argv[1])
fleet = start_twins(**kw)
print("TWINS " + json.dumps({{"hub": fleet.hub_url, "urls": fleet.urls}}), flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
try:
    sys.stdin.read()  # until the parent closes our stdin (or dies)
finally:
    fleet.stop()
"""


@dataclass
class Req:
    server: str
    method: str
    path: str
    query: str


class RemoteFleet:
    """The few fleet methods the harness uses, for twins running in a child process."""

    def __init__(self, **kwargs: Any) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        kwargs.setdefault("port", 0)
        self.kwargs = kwargs
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD.format(root=root), json.dumps(kwargs)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env={**os.environ})
        self._ready = False
        self.delay = float(kwargs.get("delay", 0.01))

    def ready(self) -> RemoteFleet:
        """Wait until the child's servers listen (start several children first, then wait: they start in parallel)."""
        if self._ready:
            return self
        line = ""
        while self.proc.stdout and not line.startswith("TWINS "):  # gradio prints its own lines first
            line = self.proc.stdout.readline()
            if not line:
                self.proc.kill()
                raise RuntimeError("the twins' child process did not start")
        info = json.loads(line[len("TWINS "):])
        self.hub_url: str = info["hub"]
        self.urls: dict[str, str] = info["urls"]
        self._http = httpx.Client(timeout=30)
        self._ready = True
        return self

    def url(self, space_id: str) -> str:
        return self.urls[space_id]

    @property
    def requests(self) -> list[Req]:
        rows = self._http.get(self.hub_url + "/_twin/requests").json()
        return [Req(r["server"], r["method"], r["path"], r["query"]) for r in rows]

    def clear_requests(self) -> None:
        self._http.delete(self.hub_url + "/_twin/requests")

    def issue_token(self, space_id: str, user_token: str) -> str:
        """A ZeroGPU JWT from the Hub twin's /jwt route, as huggingface.co would issue it to that user."""
        r = self._http.get(f"{self.hub_url}/api/spaces/{space_id}/jwt",
                           params={"expiration": "2100-01-01T00:00:00.000Z", "include_pro_status": "true"},
                           headers={"authorization": f"Bearer {user_token}"})
        r.raise_for_status()
        return str(r.json()["token"])

    def charged(self, identity: str) -> float:
        """GPU seconds the Space twins booked to ``identity`` (a token, a user) since they started."""
        return float(self._http.get(self.hub_url + "/_twin/quota", params={"identity": identity}).json()["charged"])

    def reset_quota(self, identity: str) -> None:
        self._http.post(self.hub_url + "/_twin/reset", json={"identity": identity}).raise_for_status()

    def stop(self) -> None:
        if self._ready:
            self._http.close()
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> RemoteFleet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start(**kwargs: Any) -> RemoteFleet:
    return RemoteFleet(**kwargs).ready()
