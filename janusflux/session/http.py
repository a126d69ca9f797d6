"""Plain HTTP beside gradio_client: one lazily made httpx client and SSL context per session, with the token sent
only where :class:`~janusflux.session.credentials.Credentials` allows it."""

from __future__ import annotations

import ssl
import threading
from typing import Any

from ..errors import SpaceBusyError
from .credentials import Credentials

__all__ = ["Http"]


class Http:
    """GETs to the Hub and to result files, and the SSL context gradio_client clients use."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._client: Any = None
        self._ssl: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            try:
                import certifi

                self._ssl = ssl.create_default_context(cafile=certifi.where())
            except ImportError:
                self._ssl = ssl.create_default_context()
        return self._ssl

    def get(self, url: str, **kwargs: Any) -> Any:
        """An httpx GET with the authorization header ``url`` may receive."""
        if self._client is None:
            import httpx

            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(follow_redirects=True, timeout=60)
        return self._client.get(url, headers=self._credentials.headers(url), **kwargs)

    def fetch(self, url: str) -> bytes:
        """Download a result file (or an input image URL). The token goes only to token hosts."""
        r = self.get(url)
        if r.status_code != 200:
            raise SpaceBusyError(f"download answered {r.status_code}", reason="download", space_id=url)
        content: bytes = r.content
        return content

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
