"""The VCR side of janusflux's test kit (:mod:`janusflux.testing`): what a cassette records of janusflux traffic, and
the secret scrubbing and refusal described there. Imported by the fixtures; vcrpy itself is imported on use."""

from __future__ import annotations

import copy
import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    import vcr

SESSION_HASH = "janusflux-session-hash"
JWT_EXPIRATION = "2000-01-01T00:00:00.000Z"
FAKE_JWT = "janusflux-scrubbed-zerogpu-jwt"
MULTIPART_BOUNDARY = "janusflux-multipart-boundary"
INPUT_NAME = b"janusflux-in-input.png"
SECRET_HEADERS = ("authorization", "x-hf-authorization", "x-zerogpu-token", "x-zerogpu-uuid", "x-ip-token", "cookie",
                  "set-cookie")
NOISE_HEADERS = ("x-amzn-trace-id",)  # random per request (huggingface_hub), of no use in a cassette
MATCH_ON = ("method", "scheme", "host", "port", "path", "query", "body")

_JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+")
_HASH_BODY = re.compile(rb'("session_hash"\s*:\s*)"[^"]*"')
_HEARTBEAT = re.compile(r"(/heartbeat/)[^/?]+")
_INPUT = re.compile(rb"janusflux-in-[A-Za-z0-9_]+\.png")
_BOUNDARY = re.compile(r"boundary=([^;\s]+)")
SCRUBBED = "janusflux-scrubbed"
_HF_TOKEN = re.compile(rb"hf_[A-Za-z0-9]{20,}")
_BEARER = re.compile(rb"(?i)(bearer\s+)(?!" + SCRUBBED.encode() + rb")[A-Za-z0-9._~+/=-]+")
_MIN_COOKIE = 8  # shorter cookie values are flags, not credentials (and would scrub common words)


# -- the VCR configuration ---------------------------------------------------------------------------------------
def normalize_request(request: Any) -> Any:
    """vcrpy ``before_record_request``: drop heartbeats and the agent-registry lookup; make random and time-dependent
    parts fixed (a copy). The registry is asked once per process (:func:`janusflux.session.quiet.load_agent_registry`),
    so it would land in whichever cassette runs first and go unplayed when the order changes; not recorded, a replay
    that asks for it gets no answer, and the registry is then empty, as huggingface_hub does offline."""
    parts = urlsplit(request.uri)
    if "/heartbeat/" in parts.path or parts.path.endswith("/api/agent-harnesses"):
        return None
    request = copy.deepcopy(request)
    query = parse_qsl(parts.query, keep_blank_values=True)
    fixed = [(k, SESSION_HASH if k == "session_hash" else JWT_EXPIRATION if k == "expiration" else v)
             for k, v in query]
    path = _HEARTBEAT.sub(r"\g<1>" + SESSION_HASH, parts.path)
    if fixed != query or path != parts.path:
        request.uri = urlunsplit((parts.scheme, parts.netloc, path, urlencode(fixed), parts.fragment))
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    if body:
        body = _HASH_BODY.sub(rb'\1"' + SESSION_HASH.encode() + b'"', body)
        body = _INPUT.sub(INPUT_NAME, body)
        ctype = request.headers.get("content-type") or request.headers.get("Content-Type") or ""
        m = _BOUNDARY.search(ctype)
        if ctype.startswith("multipart/") and m:
            body = body.replace(m.group(1).encode(), MULTIPART_BOUNDARY.encode())
            for name in [h for h in request.headers if h.lower() == "content-type"]:
                request.headers[name] = ctype.replace(m.group(1), MULTIPART_BOUNDARY)
        request.body = body
    return request


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy ``before_record_response``: no cookies, no JWTs, no heartbeat asked for (a copy)."""
    response = copy.deepcopy(response)
    headers = response.get("headers") or {}
    for name in [h for h in headers if h.lower() in SECRET_HEADERS]:
        del headers[name]
    body = response.get("body", {}).get("string")
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes) and body:
        body = _JWT.sub(FAKE_JWT.encode(), body)
        body = body.replace(b'"connect_heartbeat":true', b'"connect_heartbeat":false')
        body = body.replace(b'"connect_heartbeat": true', b'"connect_heartbeat": false')
        response["body"]["string"] = body
        for name in [h for h in headers if h.lower() == "content-length"]:
            headers[name] = [str(len(body))]
    return response


class CassetteSecretError(RuntimeError):
    """The recorder refused to write a cassette because a secret is still in it. ``found`` lists each one, redacted,
    with where it was (the secret itself is in neither the message nor the attributes)."""

    def __init__(self, path: str, found: list[str]) -> None:
        self.path, self.found = path, found
        super().__init__(f"refusing to write cassette {path}: it still holds {len(found)} secret(s): "
                         + "; ".join(found[:10]))


def _redact(value: bytes) -> str:
    text = value.decode("latin-1")
    return f"{text[:3]}…{text[-2:]}" if len(text) > 8 else "***"


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else b""


class Scrubber:
    """Removes secrets from what vcrpy records, and finds any that remain (see the module docstring).

    ``secrets`` are the literal values to scrub (None and short values are ignored); cookie values set by recorded
    responses are added as they are seen."""

    def __init__(self, secrets: Iterator[Any] | list[Any] | tuple[Any, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[bytes, str] = {}
        for value in secrets:
            self.add(value, "a session secret")

    def add(self, value: Any, what: str) -> None:
        if isinstance(value, str) and len(value) >= _MIN_COOKIE:
            with self._lock:
                self._secrets.setdefault(value.encode(), what)

    def _known(self) -> list[tuple[bytes, str]]:
        with self._lock:
            return sorted(self._secrets.items(), key=lambda kv: -len(kv[0]))

    def scrub(self, data: bytes) -> bytes:
        for secret, _ in self._known():
            data = data.replace(secret, SCRUBBED.encode())
        data = _HF_TOKEN.sub(SCRUBBED.encode(), data)
        data = _BEARER.sub(rb"\g<1>" + SCRUBBED.encode(), data)
        return _JWT.sub(FAKE_JWT.encode(), data)

    def find(self, data: bytes, where: str) -> list[str]:
        """What is still secret in ``data``, redacted, each with ``where``."""
        found = [f"{what} {_redact(secret)} in {where}" for secret, what in self._known() if secret in data]
        for pattern, what in ((_HF_TOKEN, "an HF token"), (_BEARER, "a Bearer credential"), (_JWT, "a JWT")):
            found += [f"{what} {_redact(m.group(0))} in {where}" for m in pattern.finditer(data)]
        return found

    def _scrub_str(self, value: str) -> str:
        return self.scrub(value.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")

    def request(self, request: Any) -> Any:
        """vcrpy ``before_record_request``: :func:`normalize_request`, then secrets out of URI, headers and body."""
        request = normalize_request(request)
        if request is None:
            return None
        request.uri = self._scrub_str(request.uri)
        for name in list(request.headers):
            request.headers[name] = self._scrub_str(str(request.headers[name]))
        if request.body:
            request.body = self.scrub(_as_bytes(request.body))
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        """vcrpy ``before_record_response``: cookie values learnt, :func:`scrub_response`, then secrets out of
        headers and body."""
        for name, values in (response.get("headers") or {}).items():
            if name.lower() == "set-cookie":
                for value in values if isinstance(values, list) else [values]:
                    self.add(str(value).split(";", 1)[0].partition("=")[2].strip('"'), "a cookie value")
        response = scrub_response(response)
        headers = response.get("headers") or {}
        for name in list(headers):
            values = headers[name]
            headers[name] = ([self._scrub_str(str(v)) for v in values] if isinstance(values, list)
                             else self._scrub_str(str(values)))
        body = response.get("body", {}).get("string")
        if body:
            scrubbed = self.scrub(_as_bytes(body))
            if scrubbed != _as_bytes(body):
                response["body"]["string"] = scrubbed
                for name in [h for h in headers if h.lower() == "content-length"]:
                    headers[name] = [str(len(scrubbed))]
        return response

    def check(self, path: str, cassette: dict[str, Any]) -> None:
        """Raise :class:`CassetteSecretError` if a secret is still anywhere in ``cassette`` (vcrpy's dict)."""
        found: list[str] = []
        for i, (req, resp) in enumerate(zip(cassette.get("requests", []), cassette.get("responses", []), strict=True)):
            where = f"interaction {i} ({req.method} {self._scrub_str(req.uri)})"
            found += self.find(_as_bytes(req.uri), f"the request URI of {where}")
            found += self.find(_as_bytes(req.body or b""), f"the request body of {where}")
            for name, value in req.headers.items():
                found += self.find(_as_bytes(str(value)), f"request header {name} of {where}")
            for name, values in (resp.get("headers") or {}).items():
                found += self.find(_as_bytes(str(values)), f"response header {name} of {where}")
                if name.lower() in SECRET_HEADERS:
                    found.append(f"response header {name} of {where}")
            found += self.find(_as_bytes(resp.get("body", {}).get("string") or b""), f"the response body of {where}")
        if found:
            raise CassetteSecretError(path, found)


class _CheckingPersister:
    """vcrpy's filesystem persister, which first has the scrubber check the cassette (and refuses to write it)."""

    def __init__(self, scrubber: Scrubber) -> None:
        self.scrubber = scrubber

    def load_cassette(self, cassette_path: Any, serializer: Any) -> Any:
        from vcr.persisters.filesystem import FilesystemPersister

        return FilesystemPersister.load_cassette(cassette_path, serializer)

    def save_cassette(self, cassette_path: Any, cassette_dict: dict[str, Any], serializer: Any) -> None:
        from vcr.persisters.filesystem import FilesystemPersister

        self.scrubber.check(str(cassette_path), cassette_dict)
        FilesystemPersister.save_cassette(cassette_path, cassette_dict, serializer)


def janusflux_vcr_config(scrubber: Scrubber | None = None, **overrides: Any) -> dict[str, Any]:
    """The keyword arguments of ``vcr.VCR(...)`` for janusflux traffic (also usable as pytest-recording's
    ``vcr_config``). Replays by default (``record_mode="none"``). ``scrubber`` (default: one that knows no literal
    secret, only the shapes) removes secrets from what is recorded."""
    scrubber = scrubber or Scrubber()
    config: dict[str, Any] = {
        "record_mode": "none",
        "match_on": MATCH_ON,
        "filter_headers": [*SECRET_HEADERS, *NOISE_HEADERS],
        "before_record_request": scrubber.request,
        "before_record_response": scrubber.response,
        "decode_compressed_response": True,
        "allow_playback_repeats": False,
        "serializer": "yaml",
    }
    config.update(overrides)
    return config


def janusflux_vcr(cassette_dir: str | os.PathLike[str] | None = None, secrets: Any = (),
                  **overrides: Any) -> vcr.VCR:
    """A ``vcr.VCR`` with :func:`janusflux_vcr_config` (``cassette_library_dir`` = ``cassette_dir``) that scrubs
    ``secrets`` (and every secret shape) from what it records and refuses to write a cassette still holding one
    (:class:`CassetteSecretError`)."""
    import functools

    import vcr

    if cassette_dir is not None:
        overrides.setdefault("cassette_library_dir", str(cassette_dir))
    scrubber = Scrubber(list(secrets))
    config = janusflux_vcr_config(scrubber, **overrides)
    repeats = config.pop("allow_playback_repeats")  # a use_cassette() option, not a VCR() one
    recorder = vcr.VCR(**config)
    recorder.register_persister(_CheckingPersister(scrubber))
    recorder.use_cassette = functools.partial(recorder.use_cassette, allow_playback_repeats=repeats)
    return recorder
