"""One bounded HTTPS GET, for every place the kit's functions read a URL: the verifier's
certificate fetches and confirmations (``verifier.web``) and the allow-list sync's feeds.

The URL is checked here whatever the caller already checked: ``https`` only, a
host (with its port, if any) that one of ``allowed_hosts`` matches in full, no
user info, no fragment, printable ASCII. No redirect is followed (a 3xx is a
failure). The answer must be 200, declare no more than ``max_bytes`` and send no
more; ``connect_seconds`` bounds each connection or read and ``total_seconds``
the whole response, read one socket read at a time so that a server that
trickles bytes meets the deadline. Every failure is ``FetchError`` with a short
reason that holds no part of the URL (a confirmation link carries a token).

``urllib.request`` is imported by the first call only: a verifier that never
fetches never pays for it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl

CONNECT_SECONDS = 2.0
_CHUNK = 16 * 1024
_URL_CHARACTERS = re.compile(r"[\x21-\x7e]{1,2048}")


class FetchError(Exception):
    """Why a GET failed: a short reason, never the URL."""


def url_allowed(url: str, allowed_hosts: Iterable[re.Pattern[str]]) -> bool:
    """Whether ``url`` is https on an allowed host, with no user info and no fragment."""
    if not isinstance(url, str) or not _URL_CHARACTERS.fullmatch(url) or "\\" in url:
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and "@" not in parts.netloc
        and not parts.fragment
        and any(pattern.fullmatch(parts.netloc) for pattern in allowed_hosts)
    )


def https_get(
    url: str,
    *,
    allowed_hosts: Iterable[re.Pattern[str]],
    max_bytes: int,
    total_seconds: float,
    connect_seconds: float = CONNECT_SECONDS,
    opener: Any = None,
) -> bytes:
    """The body of a 200 answer to GET ``url``; ``FetchError`` for anything else.

    ``opener``: a urllib opener (``build_opener``), reused across calls by a
    caller that makes many; a new one by default.
    """
    if not url_allowed(url, allowed_hosts):
        raise FetchError("the URL is not https on an allowed host")
    deadline = time.monotonic() + total_seconds
    try:
        with (opener or build_opener()).open(url, timeout=connect_seconds) as response:
            if response.status != 200:
                raise FetchError(f"HTTP {response.status}")
            length = response.headers.get("Content-Length")
            if length is not None and (not length.isdigit() or int(length) > max_bytes):
                raise FetchError("the response is larger than the cap")
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise FetchError("the response took too long")
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError("the response is larger than the cap")
                chunks.append(chunk)
            return b"".join(chunks)
    except FetchError:
        raise
    except Exception as error:
        # HTTPError (a 3xx not followed, a 4xx/5xx), URLError, timeouts, TLS failures.
        status = getattr(error, "code", None)
        raise FetchError(f"HTTP {status}" if isinstance(status, int) else type(error).__name__) from None


def build_opener(context: ssl.SSLContext | None = None) -> Any:
    """A urllib opener that follows no redirect and verifies the server's certificate and name
    (``context``: the default TLS context, or one that trusts a test CA)."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # urllib then raises HTTPError for the 3xx

    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())
