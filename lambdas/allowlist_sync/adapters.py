"""The sync's two seams with the world: AWS WAF's IP sets and the providers' feeds."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from allowlist_sync.core import DependencyError, IpSetState, StaleLock
from shared.allowlists import MAX_FEED_BYTES, Preset
from webhook_verify.https_get import https_get

# A feed is a few KB, or a few hundred for GitHub's whole meta document.
FEED_TOTAL_SECONDS = 10.0


def split_ref(ref: str) -> dict[str, str]:
    """An AWS::WAFv2::IPSet's Ref, "name|id|scope", as the API's Name, Id and Scope."""
    name, ip_set_id, scope = ref.split("|")
    return {"Name": name, "Id": ip_set_id, "Scope": scope}


class WafIpSets:
    """``core.IpSets`` over a boto3 ``wafv2`` client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get(self, ref: str) -> IpSetState:
        try:
            answer = self._client.get_ip_set(**split_ref(ref))
        except Exception as error:
            raise DependencyError(_code(error)) from None
        return IpSetState(
            addresses=tuple(answer["IPSet"]["Addresses"]),
            lock_token=answer["LockToken"],
            description=answer["IPSet"].get("Description"),
        )

    def update(self, ref: str, addresses: Sequence[str], lock_token: str, description: str | None) -> None:
        # UpdateIPSet replaces every mutable setting, the description too: pass it through.
        extra = {"Description": description} if description else {}
        try:
            self._client.update_ip_set(**split_ref(ref), Addresses=list(addresses), LockToken=lock_token, **extra)
        except Exception as error:
            if _code(error) == "WAFOptimisticLockException":
                raise StaleLock from None
            raise DependencyError(_code(error)) from None


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__


class FeedReader:
    """``core.Fetch``: a preset's feed through the kit's bounded HTTPS GET, on the preset's own hosts only.

    ``feeds`` replaces a preset's URL (its host then is the only one allowed) and
    ``opener`` the urllib opener: tests serve feeds over TLS on loopback. The
    deployed function passes neither.
    """

    def __init__(
        self,
        *,
        feeds: Mapping[str, str] | None = None,
        opener: Any = None,
        total_seconds: float = FEED_TOTAL_SECONDS,
        max_bytes: int = MAX_FEED_BYTES,
    ) -> None:
        self._feeds = dict(feeds or {})
        self._opener = opener
        self._total_seconds = total_seconds
        self._max_bytes = max_bytes

    def __call__(self, preset: Preset) -> bytes:
        url = self._feeds.get(preset.name, preset.feed)
        hosts = (urlsplit(url).netloc,) if preset.name in self._feeds else preset.hosts
        return https_get(
            url,
            allowed_hosts=[re.compile(re.escape(host)) for host in hosts],
            max_bytes=self._max_bytes,
            total_seconds=self._total_seconds,
            opener=self._opener,
        )
