"""The verifier's only HTTP client (``verifier.core.Web``): certificate fetches and SNS confirmations.

Fetches are the library's ``webhook_verify.keys.KeyFetcher`` (bounded,
allow-listed, cached per cold start; a failure is ``KeyUnavailable``, so the
verifier answers 503 and the provider retries). A confirmation (AWS SNS's
SubscribeURL) is one GET through the same bounded client, never cached; a
failure is ``DependencyError`` (503 too). Nothing here logs a URL: a
confirmation link carries a token.
"""

from __future__ import annotations

from verifier.adapters import DependencyError
from webhook_verify.https_get import FetchError, build_opener
from webhook_verify.keys import CACHE_ENTRIES, CACHE_SECONDS, FAILURE_SECONDS, MAX_BYTES, TOTAL_SECONDS, KeyFetcher

__all__ = [
    "CACHE_ENTRIES",
    "CACHE_SECONDS",
    "FAILURE_SECONDS",
    "MAX_BYTES",
    "TOTAL_SECONDS",
    "UrllibWeb",
    "build_opener",
]


class UrllibWeb(KeyFetcher):
    """``verifier.core.Web`` with the standard library's HTTP client: the library's key fetcher, and confirmations."""

    def confirm(self, url: str) -> None:
        try:
            self._get(url)
        except FetchError as error:
            raise DependencyError(str(error)) from None
