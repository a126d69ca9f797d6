"""The ZeroGPU headers of a call (``x-zerogpu-token``/``x-zerogpu-uuid``, ``x-ip-token``) and the JWT fetch behind
them. The JWT cache itself is :class:`janusflux.zerogpu.JwtCache`."""

from __future__ import annotations

import logging

from ..errors import SpaceBusyError
from ..zerogpu import JwtCache, jwt_url
from .http import Http

__all__ = ["SECRET_HEADERS", "call_headers", "fetch_jwt", "scrub"]

log = logging.getLogger("janusflux")


def fetch_jwt(http: Http, hf_endpoint: str, space_id: str) -> str:
    """A fresh ZeroGPU JWT for ``space_id`` from the Hub (sent with the HF token where allowed)."""
    url, query = jwt_url(hf_endpoint, space_id)
    r = http.get(url, params=query, timeout=15)
    if r.status_code != 200:
        raise SpaceBusyError(f"ZeroGPU token request answered {r.status_code}", reason="jwt", space_id=space_id)
    return str(r.json()["token"])


SECRET_HEADERS = ("x-zerogpu-token", "x-ip-token")


def call_headers(space_id: str | None, *, ip_token: str | None, zerogpu: bool, token: str | None, uuid: str,
                 jwt: JwtCache | None, scoped: bool) -> dict[str, str]:
    """Headers for one job: the ip token if any; for a Space (not a bare URL) with ZeroGPU on, the given ZeroGPU
    ``token`` or, when ``jwt`` is given (the session has an HF token), one from the cache. None of them unless
    ``scoped``: the connection's URL is the host the Hub named for ``space_id``, or a token host."""
    headers: dict[str, str] = {}
    if not scoped:
        return headers
    if ip_token:
        headers["x-ip-token"] = ip_token
    if not zerogpu or space_id is None:
        return headers
    if token is None and jwt is not None:
        try:
            token = jwt.get(space_id)
        except Exception as e:  # noqa: BLE001 - best effort: without it the Space counts the caller by IP
            log.warning("no ZeroGPU token for %s (%s); calling anonymously", space_id, e)
    if token:
        headers["x-zerogpu-token"] = token
        headers["x-zerogpu-uuid"] = uuid
    return headers


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret in it replaced by its redacted form (a Space may echo request headers)."""
    from .credentials import redact

    for secret in secrets:
        if secret and len(secret) >= 8 and secret in text:
            text = text.replace(secret, redact(secret))
    return text
