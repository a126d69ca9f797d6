"""Plain HTTP beside gradio_client: one lazily made httpx client and one SSL context per session.

:meth:`Http.get` is for Hub API calls (the token only to the ``hf_endpoint`` origin); :meth:`Http.fetch` downloads a
result file or an ``image=`` URL with the credentials its caller decided on, a byte cap and a total deadline, and
follows redirects itself so that credentials never leave the URL's origin.

The SSL context trusts certifi's bundle and, when ``SSL_CERT_FILE`` is set, that file as well (httpx alone would use
it *instead of* certifi). gradio_client gets the same context, so both sides trust the same roots.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from typing import Any
from urllib.parse import urljoin

from ..errors import GenerationTimeoutError, SpaceBusyError, SpaceRefusedError
from ..origins import origin_of
from .credentials import Credentials

__all__ = ["DOWNLOAD_TIMEOUT", "MAX_DOWNLOAD_BYTES", "Http"]

# The largest image a Space here makes is FLUX at 2048x2048; as an 8-bit RGBA PNG that does not compress at all it
# is 16 MiB of pixels + 2 KiB of filter bytes + zlib's stored-block overhead, about 16.8 MB. 32 MiB leaves room for a
# 16-bit PNG of 2048x2048 RGB (24 MiB) and stops a Space from making .data hold hundreds of MB.
MAX_DOWNLOAD_BYTES = 32 * 1024 * 1024
DOWNLOAD_TIMEOUT = 120.0  # seconds for a whole download when the call had no timeout
MAX_REDIRECTS = 5


class Http:
    """GETs to the Hub, bounded downloads, and the SSL context gradio_client clients use."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._client: Any = None
        self._ssl: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def ssl_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                try:
                    import certifi

                    ctx = ssl.create_default_context(cafile=certifi.where())
                except ImportError:
                    ctx = ssl.create_default_context()
                extra = os.environ.get("SSL_CERT_FILE")
                if extra:
                    ctx.load_verify_locations(cafile=extra)
                self._ssl = ctx
            return self._ssl

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            ctx = self.ssl_context()
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(follow_redirects=False, timeout=60, verify=ctx)
        return self._client

    def get(self, url: str, **kwargs: Any) -> Any:
        """A Hub API GET: the token goes along only when ``url`` is on the ``hf_endpoint`` origin. On a redirect to
        another origin httpx drops the authorization header (a renamed Space's Hub URLs redirect)."""
        token = self._credentials.hub_token(url)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return self._http().get(url, headers=headers, follow_redirects=True, **kwargs)

    def fetch(self, url: str, *, token: str | None = None, max_bytes: int = MAX_DOWNLOAD_BYTES,
              timeout: float | None = None, space_id: str | None = None) -> bytes:
        """Download ``url`` (a result file or an input image URL), sending ``token`` to ``url``'s origin only.

        Reads at most ``max_bytes`` (a larger body raises :class:`SpaceRefusedError` before it is read whole) and
        finishes within ``timeout`` seconds in total (default :data:`DOWNLOAD_TIMEOUT`), or raises
        :class:`GenerationTimeoutError`; a dripping server cannot stretch it."""
        import httpx

        seconds = timeout if timeout is not None else DOWNLOAD_TIMEOUT
        deadline = time.monotonic() + seconds
        origin = origin_of(url)
        where = space_id or url.split("?")[0]
        for _ in range(MAX_REDIRECTS + 1):
            if origin_of(url) is None:
                raise SpaceRefusedError("refusing to download a non-http(s) URL", why="not a URL", space_id=where)
            headers = {"authorization": f"Bearer {token}"} if token and origin_of(url) == origin else {}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                with self._http().stream("GET", url, headers=headers, timeout=httpx.Timeout(remaining)) as r:
                    if r.is_redirect and "location" in r.headers:
                        url = urljoin(url, r.headers["location"])
                        continue
                    if r.status_code != 200:
                        raise SpaceBusyError(f"download answered {r.status_code}", reason="download", space_id=where)
                    return _read_capped(r, max_bytes, deadline, seconds, where)
            except httpx.TimeoutException as e:
                raise _too_slow(seconds, where) from e
            except httpx.HTTPError as e:
                raise SpaceBusyError(f"download failed ({type(e).__name__})", reason="download",
                                     space_id=where) from e
        else:
            raise SpaceBusyError(f"download redirected more than {MAX_REDIRECTS} times", reason="download",
                                 space_id=where)
        raise _too_slow(seconds, where)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _read_capped(r: Any, max_bytes: int, deadline: float, seconds: float, where: str) -> bytes:
    declared = r.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SpaceRefusedError(f"the file is {declared} bytes, more than the cap of {max_bytes} (max_download_bytes)",
                                why="too large", space_id=where)
    buf = bytearray()
    for chunk in r.iter_bytes():  # as they arrive: a dripping body meets the deadline check
        buf += chunk
        if len(buf) > max_bytes:
            raise SpaceRefusedError(f"the file is larger than the cap of {max_bytes} bytes (max_download_bytes)",
                                    why="too large", space_id=where)
        if time.monotonic() > deadline:
            raise _too_slow(seconds, where)
    return bytes(buf)


def _too_slow(seconds: float, where: str) -> GenerationTimeoutError:
    return GenerationTimeoutError(f"the download did not finish within {seconds:g} s", space_id=where)
