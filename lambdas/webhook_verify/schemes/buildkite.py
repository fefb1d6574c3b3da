"""Buildkite: ``X-Buildkite-Signature: timestamp=<ts>,signature=<hex>``, hex HMAC-SHA256 of ``{timestamp}.{body}``.

Stripe's layout with Buildkite's item names. The key is the webhook's token
(the same value Buildkite would otherwise send as it is in X-Buildkite-Token),
as UTF-8 text. A webhook carries no delivery id: the verifier keys it on the
body's digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .request import Request
from .timestamp_hex import TimestampAndHexSignatures


@dataclass(frozen=True)
class Buildkite(TimestampAndHexSignatures):
    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return None


BUILDKITE = Buildkite(
    name="buildkite",
    header="x-buildkite-signature",
    separator=",",
    timestamp_key="timestamp",
    signature_key="signature",
    joiner=b".",
    id_field="",
    type_field="event",
)
