"""A hostile Space (and the Hub that names it) on loopback, for tests/test_hostile.py.

Small stdlib HTTP servers, optionally over TLS, that speak just enough of the Hub API and of Gradio's sse_v3
protocol for gradio_client and janusflux. The Space serves the ``/config`` and ``/info`` of a real Gradio twin
(copied at test time), then misbehaves as its :class:`Plan` says: an absolute ``api_prefix``, an old Gradio
version, file outputs on other origins or local paths, errors that echo the request headers, oversized or dripping
files, an event line that never ends. Every server records each request it received (method, path, headers), which
is how the tests prove what reached whom.

``hf_names`` stands for DNS: a name table that patches ``socket.getaddrinfo`` so ``(name, 443)`` reaches a loopback
port, while the URL, the ``Host`` header and TLS SNI stay the real Hugging Face name. Other HF names fail to
resolve and everything else goes to the real resolver. ``make_tls`` makes a throwaway CA and a ``*.hf.space`` /
``huggingface.co`` certificate with ``openssl`` in a temp folder; the session trusts the CA through
``SSL_CERT_FILE`` (see janusflux/session/http.py).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

SPACE_ID = "black-forest-labs/FLUX.1-schnell"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5e2d1a80000000049454e44ae426082")


@dataclass
class Seen:
    server: str
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Plan:
    """How the hostile Space behaves. ``output(space)`` is the file output it answers (given the server)."""

    api_prefix: str = "/gradio_api"
    version: str | None = None
    output: Callable[[Server], Any] | None = None
    error: str | None = None  # answer an error; "{headers}" is replaced by the queue/join request headers
    toast: str | None = None  # a gr.Warning-style log before the result; "{headers}" as for error
    file_size: int = len(PNG)  # bytes the file route serves (PNG header, then zeros)
    declare_length: bool = True
    drip: float = 0.0  # seconds between bytes of the file
    endless_event: bool = False  # after process_starts, one event line that never ends (1 MiB per write)
    endless_pause: float = 0.0  # seconds between those writes
    redirect_to: dict[str, str] = field(default_factory=dict)  # server name -> URL its file route redirects to
    jwt: str = ""  # the ZeroGPU token the Hub hands out
    hosts: dict[str, str] = field(default_factory=dict)  # Space id -> the host the Hub names


class Server:
    """One recording server on 127.0.0.1 (http, or https with ``tls``) playing ``role`` ("space" or "hub")."""

    def __init__(self, name: str, role: str, plan: Plan, log: list[Seen], base: dict[str, Any],
                 tls: ssl.SSLContext | None = None, public_url: str | None = None) -> None:
        self.name, self.role, self.plan, self.log, self.base = name, role, plan, log, base
        self.stopped = threading.Event()
        self.sent_bytes = 0  # body bytes written by the endless event / file routes
        self.hangups = threading.Event()  # the client closed the endless event stream (a write failed)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.url = public_url or f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def requests(self, path_part: str = "") -> list[Seen]:
        return [r for r in self.log if r.server == self.name and path_part in r.path]

    def stop(self) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    plan = server.plan

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # every response closes its connection

        def setup(self) -> None:
            if isinstance(self.request, ssl.SSLSocket):
                try:
                    self.request.do_handshake()
                except (ssl.SSLError, OSError):
                    self.request.close()
                    raise
            super().setup()

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _record(self) -> tuple[str, dict[str, list[str]]]:
            u = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.log.append(Seen(server.name, self.command, self.path, headers))
            return u.path, parse_qs(u.query)

        def _json(self, obj: Any, status: int = 200) -> None:
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:
            self._record()
            self._json({})

        def do_POST(self) -> None:
            path, _ = self._record()
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            if path.endswith("/queue/join"):
                server.base["join_headers"] = {k.lower(): v for k, v in self.headers.items()}
                server.base["event_id"] = uuid.uuid4().hex
                return self._json({"event_id": server.base["event_id"]})
            self._json({})

        def do_GET(self) -> None:
            path, query = self._record()
            if server.role == "hub":
                return self._hub(path)
            if path == "/config":
                cfg = dict(server.base["config"], api_prefix=plan.api_prefix, root=server.url)
                if plan.version:
                    cfg["version"] = plan.version
                return self._json(cfg)
            if path.endswith("/info"):
                return self._json(server.base["info"])
            if path.endswith("/queue/data"):
                return self._events()
            if "/file=" in path:
                return self._file()
            if "/heartbeat/" in path:
                return self._sse_head()
            self._json({"detail": "Not Found"}, 404)

        def _hub(self, path: str) -> None:
            parts = path.strip("/").split("/")
            if parts[:2] == ["api", "spaces"] and len(parts) >= 4:
                space_id = f"{parts[2]}/{parts[3]}"
                if parts[4:] == ["jwt"]:
                    return self._json({"token": plan.jwt})
                host = plan.hosts.get(space_id)
                if host is None:
                    return self._json({"error": "Repository not found"}, 404)
                return self._json({"id": space_id, "author": parts[2], "sdk": "gradio", "host": host,
                                   "subdomain": host.split("//")[1].split(".")[0], "private": False,
                                   "runtime": {"stage": "RUNNING", "hardware": {"current": "zero-a10g",
                                                                               "requested": "zero-a10g"}}})
            self._json({"error": "not found"}, 404)

        def _sse_head(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()

        def _send(self, msg: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(msg).encode() + b"\n\n")
            self.wfile.flush()

        def _events(self) -> None:
            self._sse_head()
            deadline = time.monotonic() + 5  # gradio_client opens the stream and joins at about the same time
            while "event_id" not in server.base and time.monotonic() < deadline:
                time.sleep(0.01)
            event = server.base.get("event_id", "")
            joined = server.base.get("join_headers", {})
            echo = json.dumps({k: v for k, v in joined.items() if k.startswith(("x-", "authorization"))})
            try:
                self._send({"msg": "estimation", "event_id": event, "rank": 0, "queue_size": 1, "rank_eta": None})
                self._send({"msg": "process_starts", "event_id": event, "eta": None})
                if plan.endless_event:
                    chunk = b"data: " + b"x" * (1024 * 1024 - 6)
                    self.wfile.write(chunk)
                    try:
                        while not server.stopped.is_set():
                            time.sleep(plan.endless_pause)
                            self.wfile.write(b"x" * (1024 * 1024))
                            self.wfile.flush()
                            server.sent_bytes += 1024 * 1024
                    except OSError:
                        server.hangups.set()
                    return
                if plan.toast:
                    self._send({"msg": "log", "event_id": event, "log": plan.toast.replace("{headers}", echo),
                                "level": "warning", "duration": 10, "visible": True, "title": "Warning"})
                if plan.error is not None:
                    self._send({"msg": "process_completed", "event_id": event, "success": False,
                                "output": {"error": plan.error.replace("{headers}", echo), "title": "Error",
                                           "duration": None, "visible": True}})
                else:
                    own = f"{server.url}{plan.api_prefix}/file=/tmp/x/image.png"
                    value = plan.output(server) if plan.output else file_data(own)
                    self._send({"msg": "process_completed", "event_id": event, "success": True,
                                "output": {"data": [value, 42], "is_generating": False}})
                self._send({"msg": "close_stream", "event_id": None})
            except OSError:
                pass

        def _file(self) -> None:
            if server.name in plan.redirect_to:
                self.send_response(302)
                self.send_header("location", plan.redirect_to[server.name])
                self.send_header("content-length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("content-type", "image/png")
            if plan.declare_length:
                self.send_header("content-length", str(plan.file_size))
            self.end_headers()
            body = PNG[: plan.file_size] if plan.file_size <= len(PNG) else PNG
            try:
                if plan.drip:
                    for i in range(plan.file_size):
                        if server.stopped.is_set():
                            return
                        self.wfile.write(body[i:i + 1] if i < len(body) else b"\0")
                        self.wfile.flush()
                        server.sent_bytes += 1
                        time.sleep(plan.drip)
                    return
                self.wfile.write(body)
                rest, block = plan.file_size - len(body), b"\0" * 65536
                while rest > 0 and not server.stopped.is_set():
                    n = min(rest, len(block))
                    self.wfile.write(block[:n])
                    server.sent_bytes += n
                    rest -= n
            except OSError:
                pass

    return Handler


def file_data(url: str | None, path: str | None = "/tmp/x/image.png") -> dict[str, Any]:
    """A Gradio FileData output, as a Space sends it."""
    return {"path": path, "url": url, "size": None, "orig_name": "image.png", "mime_type": None, "is_stream": False,
            "meta": {"_type": "gradio.FileData"}}


# -- TLS and names --------------------------------------------------------------------------------------------------
def make_tls(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A test CA (its certificate is returned, to be trusted) and a server context for ``*.hf.space``,
    ``huggingface.co`` and ``*.huggingface.co`` signed by it. Keys stay in ``folder`` (a temp folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt, key, csr, crt, ext = (folder / n for n in ("ca.key", "ca.pem", "leaf.key", "leaf.csr",
                                                               "leaf.pem", "leaf.ext"))

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "2",
        "-subj", "/CN=janusflux hostile-space test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=*.hf.space")
    ext.write_text("subjectAltName=DNS:*.hf.space,DNS:huggingface.co,DNS:*.huggingface.co\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(crt), "-days", "2", "-extfile", str(ext))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    return ca_crt, ctx


@contextlib.contextmanager
def hf_names(table: dict[str, int]) -> Iterator[None]:
    """Stands for DNS: ``(name, 443)`` of each name in ``table`` resolves to ``127.0.0.1:<port>``; other Hugging
    Face names do not resolve; everything else goes to the real resolver."""
    real = socket.getaddrinfo

    def lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in table and int(port) == 443:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", table[name]))]
        if name == "huggingface.co" or name.endswith((".hf.space", ".huggingface.co")):
            raise socket.gaierror(socket.EAI_NONAME, f"{name} is not in the test name table")
        return real(host, port, *args, **kwargs)

    socket.getaddrinfo = lookup  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real  # type: ignore[assignment]
