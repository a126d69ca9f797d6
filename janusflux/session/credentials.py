"""Credentials: the HF token (where it comes from, how it hides) and which origins may receive it.

Tokens: explicit, else ``HF_TOKEN``, else huggingface_hub's saved login (``huggingface_hub.get_token``).

Who receives the token is decided per *origin* (scheme, host, port), never per host name alone:

- **Hub API calls** (``space_info``, the ZeroGPU token request) go to the ``hf_endpoint`` origin with the token.
- **A Space connection** gets the token when its origin is a *token host*: a Hugging Face host over https on port
  443 (``huggingface.co``, ``*.huggingface.co``, ``*.hf.space``) or an origin named in ``send_token_to``.
- **A result download** gets it only when its origin equals the origin of the Space connection that produced it,
  and that connection got the token. An ``image=`` URL gets it only when its origin is named in ``send_token_to``.
- Redirects never carry it (downloads do not follow redirects to another origin).

``send_token_to`` entries: ``host`` means ``https://host:443`` only; ``https://host[:port]`` and
``http://host:port`` name one origin; ``host:port`` names that host and port over http or https. Anything else
(a path, a query, userinfo, a wildcard, an empty string) is an ``InvalidInputError("send_token_to")``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..errors import InvalidInputError
from ..origins import DEFAULT_PORTS, Origin, is_hf_origin, origin_of

__all__ = ["Credentials", "Origin", "Secret", "check_token", "origin_of", "redact"]

DEFAULT_ENDPOINT = "https://huggingface.co"
_HOST_PORT = re.compile(r"(?P<host>\[[0-9a-f:.]+\]|[^:\[\]/]+)(?::(?P<port>[0-9]{1,5}))?")
_HOST = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$")

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


def parse_send_token_to(entries: Sequence[str]) -> frozenset[Origin]:
    """The origins named by ``send_token_to`` (see the module docstring); raises on what it cannot parse."""
    if isinstance(entries, str) or not all(isinstance(h, str) for h in entries):
        raise InvalidInputError("send_token_to", "expected a list of hosts or origins")
    origins: set[Origin] = set()
    for entry in entries:
        text = entry.strip().lower().rstrip("/")
        bad = InvalidInputError("send_token_to", f"cannot parse {entry!r}: expected host, host:port, "
                                                 "https://host[:port] or http://host:port")
        if "://" in text:
            u = urlsplit(text)
            try:
                port = u.port
            except ValueError:
                raise bad from None
            if (u.scheme not in DEFAULT_PORTS or u.path or u.query or u.fragment or "@" in u.netloc
                    or not _HOST.match(u.hostname or "") or (u.scheme == "http" and port is None)):
                raise bad
            origins.add((u.scheme, u.hostname or "", port or 443))
            continue
        m = _HOST_PORT.fullmatch(text)
        if m is None or not _HOST.match(m["host"]) or (m["port"] and not 0 < int(m["port"]) < 65536):
            raise bad
        if m["port"]:
            origins |= {("http", m["host"], int(m["port"])), ("https", m["host"], int(m["port"]))}
        else:
            origins.add(("https", m["host"], 443))
    return frozenset(origins)


class Credentials:
    """The session's HF token and the origins that may receive it."""

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
        hub = origin_of(self.hf_endpoint)
        if hub is None:
            raise InvalidInputError("hf_endpoint", f"expected an http(s) URL, got {self.hf_endpoint!r}")
        self.hub_origin: Origin = hub
        self.named = parse_send_token_to(send_token_to)

    def secrets(self) -> tuple[str, ...]:
        return (self.token.reveal(),) if self.token else ()

    def token_for(self, url: str) -> str | None:
        """The token if ``url`` is a token host (a Space connection or a URL the user named), else None."""
        return self.token.reveal() if self.token and self.is_token_host(url) else None

    def hub_token(self, url: str) -> str | None:
        """The token for a Hub API call to ``url``: only on the ``hf_endpoint`` origin."""
        return self.token.reveal() if self.token and origin_of(url) == self.hub_origin else None

    def is_token_host(self, url: str) -> bool:
        """A Hugging Face host over https on port 443, or an origin named in ``send_token_to``."""
        origin = origin_of(url)
        return is_hf_origin(origin) or origin in self.named

    def is_named(self, url: str) -> bool:
        """An origin the user named in ``send_token_to``."""
        return origin_of(url) in self.named
