"""The verifier's only HTTP client (``verifier.core.Web``): certificate fetches and SNS confirmations.

Every URL comes from a request, so it is checked here again whatever the
scheme already checked: ``https`` only, a host (without port or user info) of
the allow-list (by default the hosts the certificate schemes name,
``CertificateScheme.key_hosts``), no redirect followed (a 3xx is a failure).
Each call is bounded so that a slow or hostile server cannot eat the
verifier's budget (its 10-second default timeout, and the provider's own
answer deadline): ``CONNECT_SECONDS`` per connection or read, ``TOTAL_SECONDS``
for the whole response, ``MAX_BYTES`` of body. A certificate is cached per cold
start for ``CACHE_SECONDS`` and at most ``CACHE_ENTRIES`` URLs; a failed fetch
is remembered for ``FAILURE_SECONDS`` so a burst of requests naming a missing
certificate costs one call. Any failure is ``KeyUnavailable`` (a fetch: the
verifier answers 503 and the provider retries) or ``DependencyError`` (a
confirmation: 503 too). Nothing here logs a URL: a confirmation link carries a
token.

Nothing here imports ``cryptography`` (the certificate schemes do, when they
verify), and ``urllib.request`` is imported by the first call only.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.schemes import SCHEMES, KeyUnavailable, key_host_patterns
from verifier.adapters import DependencyError

if TYPE_CHECKING:
    import ssl

# A provider answers within seconds or not at all; the verifier must still answer the provider.
CONNECT_SECONDS = 2.0
TOTAL_SECONDS = 4.0
# A PEM certificate is 2-8 KB; a chain a few times that.
MAX_BYTES = 64 * 1024
CACHE_SECONDS = 3600.0
CACHE_ENTRIES = 32
FAILURE_SECONDS = 10.0
_CHUNK = 16 * 1024
_URL_CHARACTERS = re.compile(r"[\x21-\x7e]{1,2048}")


class FetchError(Exception):
    """Why a call failed (never leaves this module: callers get KeyUnavailable or DependencyError)."""


class UrllibWeb:
    """``verifier.core.Web`` with the standard library's HTTP client.

    ``allowed_hosts``: patterns a URL's host (with its port, if any) must match
    in full; ``opener`` builds the urllib opener (tests pass one trusting a test
    CA); ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        *,
        allowed_hosts: Iterable[re.Pattern[str]] | None = None,
        opener: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        cache_seconds: float = CACHE_SECONDS,
        cache_entries: int = CACHE_ENTRIES,
        max_bytes: int = MAX_BYTES,
        total_seconds: float = TOTAL_SECONDS,
    ) -> None:
        self.allowed_hosts = tuple(allowed_hosts if allowed_hosts is not None else key_host_patterns(SCHEMES.values()))
        self._opener_factory = opener or build_opener
        self._opener: Any = None
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache_entries = cache_entries
        self._max_bytes = max_bytes
        self._total_seconds = total_seconds
        # url -> (expires at, certificate bytes, or None for a recent failure)
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ core.Web

    def fetch_key(self, url: str) -> bytes:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            if cached[1] is None:
                raise KeyUnavailable("a recent fetch of this certificate failed")
            return cached[1]
        try:
            found = self._get(url)
        except FetchError as error:
            self._remember(url, None, now + FAILURE_SECONDS)
            raise KeyUnavailable(str(error)) from None
        self._remember(url, found, now + self._cache_seconds)
        return found

    def confirm(self, url: str) -> None:
        try:
            self._get(url)
        except FetchError as error:
            raise DependencyError(str(error)) from None

    # ------------------------------------------------------------------ the one GET

    def allowed(self, url: str) -> bool:
        """Whether ``url`` is https on an allowed host, with no user info, query-free host part and no fragment."""
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
            and any(pattern.fullmatch(parts.netloc) for pattern in self.allowed_hosts)
        )

    def _get(self, url: str) -> bytes:
        if not self.allowed(url):
            raise FetchError("the URL is not https on an allowed host")
        deadline = time.monotonic() + self._total_seconds
        try:
            if self._opener is None:
                self._opener = self._opener_factory()
            with self._opener.open(url, timeout=CONNECT_SECONDS) as response:
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status}")
                length = response.headers.get("Content-Length")
                if length is not None and (not length.isdigit() or int(length) > self._max_bytes):
                    raise FetchError("the response is larger than the cap")
                chunks: list[bytes] = []
                size = 0
                while True:
                    if time.monotonic() > deadline:
                        raise FetchError("the response took too long")
                    # read1: one socket read at most, so a server that trickles bytes meets the deadline.
                    chunk = response.read1(_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise FetchError("the response is larger than the cap")
                    chunks.append(chunk)
                return b"".join(chunks)
        except FetchError:
            raise
        except Exception as error:
            raise FetchError(type(error).__name__) from None

    def _remember(self, url: str, value: bytes | None, expires: float) -> None:
        with self._lock:
            if url not in self._cache and len(self._cache) >= self._cache_entries:
                now = self._clock()
                for stale in [key for key, (until, _) in self._cache.items() if until <= now]:
                    del self._cache[stale]
                while len(self._cache) >= self._cache_entries:
                    # The entry that expires first goes.
                    del self._cache[min(self._cache, key=lambda key: self._cache[key][0])]
            self._cache[url] = (expires, value)


def build_opener(context: ssl.SSLContext | None = None) -> Any:
    """A urllib opener that follows no redirect and verifies the server's certificate and name
    (``context``: the default TLS context, or one that trusts a test CA)."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # urllib then raises HTTPError for the 3xx

    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())
