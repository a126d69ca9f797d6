"""Origins (scheme, host, port) of URLs, and the Hugging Face hosts: the unit every credential decision uses."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["DEFAULT_PORTS", "Origin", "is_hf_origin", "origin_of"]

HF_SUFFIXES = (".huggingface.co", ".hf.space")
DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]  # (scheme, lower-case host, port)


def origin_of(url: str) -> Origin | None:
    """``(scheme, host, port)`` of an http(s) URL, with the default port filled in; None for anything else."""
    try:
        u = urlsplit(url.strip())
        port = u.port
    except ValueError:
        return None
    scheme, host = u.scheme.lower(), (u.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or DEFAULT_PORTS[scheme]


def is_hf_origin(origin: Origin | None) -> bool:
    """A Hugging Face host over https on port 443."""
    if origin is None:
        return False
    scheme, host, port = origin
    return scheme == "https" and port == 443 and (host == "huggingface.co" or host.endswith(HF_SUFFIXES))
