"""Credentials: the HF token (where it comes from, how it hides) and which origins may receive it.

Tokens: explicit, else ``HF_TOKEN``, else huggingface_hub's saved login (``huggingface_hub.get_token``), and sent only
to Hugging Face hosts (``huggingface.co``, ``*.hf.space``, the configured ``HF_ENDPOINT``) unless the caller names
other hosts in ``send_token_to``. Every other URL gets no token.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlparse

from ..errors import InvalidInputError

__all__ = ["Credentials", "Secret", "check_token", "redact"]

DEFAULT_ENDPOINT = "https://huggingface.co"


class Secret:
    """A token that never shows itself in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"<token {redact(self._value)}>"

    __str__ = __repr__


def redact(token: str | None) -> str:
    """``hf_ab…yz`` style: enough to recognise a token, not enough to use it."""
    if not token:
        return "none"
    return f"{token[:3]}…{token[-2:]}" if len(token) > 8 else "***"


def check_token(value: object, param: str) -> str | None:
    """A token argument: a non-empty string without spaces, or None/False for none."""
    if value is None or value is False:
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise InvalidInputError(param, f"expected a token string (or False for none), got a {type(value).__name__}")
    return value.strip()


class Credentials:
    """The session's HF token and the hosts that may receive it."""

    def __init__(self, token: str | bool | None, hf_endpoint: str | None, send_token_to: Sequence[str]) -> None:
        if token is True:
            raise InvalidInputError("token", "expected a token string, None or False, got True")
        explicit = check_token(token, "token")
        if token is None:
            from huggingface_hub import get_token

            explicit = check_token(get_token(), "token")
        self.token = Secret(explicit) if explicit else None
        self.source = ("argument" if isinstance(token, str) else "disabled" if token is False else
                       "HF_TOKEN" if os.environ.get("HF_TOKEN") else
                       "huggingface_hub login" if explicit else "none")
        self.hf_endpoint = (hf_endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        if not urlparse(self.hf_endpoint).scheme.startswith("http"):
            raise InvalidInputError("hf_endpoint", f"expected an http(s) URL, got {self.hf_endpoint!r}")
        if isinstance(send_token_to, str) or not all(isinstance(h, str) for h in send_token_to):
            raise InvalidInputError("send_token_to", "expected a list of host names")
        self.hosts = {h.lower() for h in send_token_to}

    def token_for(self, url: str) -> str | None:
        """The token if ``url`` is a host that may receive it, else None."""
        return self.token.reveal() if self.token and self.is_token_host(url) else None

    def is_token_host(self, url: str) -> bool:
        """Hugging Face hosts (over https), the configured Hub endpoint (same scheme, host and port) and the hosts
        named in ``send_token_to`` (``host`` or ``host:port``)."""
        u = urlparse(url)
        host = (u.hostname or "").lower()
        if not host:
            return False
        if u.scheme == "https" and (host == "huggingface.co" or host.endswith((".huggingface.co", ".hf.space"))):
            return True
        hub = urlparse(self.hf_endpoint)
        if (u.scheme, host, u.port) == (hub.scheme, (hub.hostname or "").lower(), hub.port):
            return True
        return host in self.hosts or f"{host}:{u.port}" in self.hosts

    def headers(self, url: str) -> dict[str, str]:
        """The authorization header for a plain HTTP request to ``url`` (none for other hosts)."""
        token = self.token_for(url)
        return {"authorization": f"Bearer {token}"} if token else {}
