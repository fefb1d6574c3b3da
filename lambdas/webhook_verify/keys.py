"""Public keys and certificates by URL, for the schemes that name theirs in the request (AWS SNS, PayPal).

Every URL comes from a request, so each fetch goes through the kit's one
bounded GET (``webhook_verify.https_get``: https only, a host of the
allow-list, by default the hosts the certificate schemes name
(``CertificateScheme.key_hosts``), no redirect, size and time caps) whatever
the scheme already checked. ``TOTAL_SECONDS`` bounds the whole response and
``MAX_BYTES`` its body, so a slow or hostile server cannot eat the caller's
budget (a provider waits seconds for its answer). A key is cached for
``CACHE_SECONDS``, at most ``CACHE_ENTRIES`` URLs; a failed fetch is
remembered for ``FAILURE_SECONDS``, so a burst of requests naming a missing
certificate costs one call. Any failure is ``KeyUnavailable`` (the request is
then ``unavailable``: 503, and the provider retries). Nothing here logs a URL.

Nothing here imports ``cryptography`` (the certificate schemes do, when they
verify), and ``urllib.request`` is imported by the first fetch only.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from webhook_verify.https_get import CONNECT_SECONDS, FetchError, build_opener, https_get, url_allowed
from webhook_verify.schemes import SCHEMES, KeyUnavailable, key_host_patterns

# A provider answers within seconds or not at all; the verifier must still answer the provider
# (each connection or read: webhook_verify.https_get.CONNECT_SECONDS).
TOTAL_SECONDS = 4.0
# A PEM certificate is 2-8 KB; a chain a few times that.
MAX_BYTES = 64 * 1024
CACHE_SECONDS = 3600.0
CACHE_ENTRIES = 32
FAILURE_SECONDS = 10.0


class KeyFetcher:
    """Public keys and certificates by URL, cached: what ``verify(fetch=...)`` needs for AWS SNS and PayPal.

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

    def __call__(self, url: str) -> bytes:
        return self.fetch_key(url)

    def fetch_key(self, url: str) -> bytes:
        """The key or certificate at ``url``; ``KeyUnavailable`` when it cannot be fetched (the caller answers 503)."""
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

    # ------------------------------------------------------------------ the one GET

    def allowed(self, url: str) -> bool:
        """Whether ``url`` is https on an allowed host, with no user info, query-free host part and no fragment."""
        return url_allowed(url, self.allowed_hosts)

    def _get(self, url: str) -> bytes:
        if self._opener is None and url_allowed(url, self.allowed_hosts):
            self._opener = self._opener_factory()
        return https_get(
            url,
            allowed_hosts=self.allowed_hosts,
            max_bytes=self._max_bytes,
            total_seconds=self._total_seconds,
            connect_seconds=CONNECT_SECONDS,
            opener=self._opener,
        )

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
