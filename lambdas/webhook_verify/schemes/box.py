"""Box (webhooks v2): base64 HMAC-SHA256 of the body followed by ``BOX-DELIVERY-TIMESTAMP`` (RFC 3339).

Box signs every delivery twice, ``BOX-SIGNATURE-PRIMARY`` with the app's
primary key and ``BOX-SIGNATURE-SECONDARY`` with its secondary key, so that
either key can be rotated while the other still verifies. A source lists the
keys it trusts as its secrets; a delivery verifies when either header holds a
digest made with any of them. ``BOX-SIGNATURE-VERSION`` must be ``1`` and
``BOX-SIGNATURE-ALGORITHM`` ``HmacSHA256``, as Box's SDKs require.

The signed bytes are the body as received. Box's Python SDK also tries the
body with non-ASCII characters re-escaped, for callers that hold a decoded
and re-encoded body; the kit always holds the bytes Box sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import b64, body_field, mac
from .request import Request

# Box writes RFC 3339 as Twitch does (a zone, whole seconds in practice): one reader for both.
from .twitch import rfc3339, rfc3339_seconds

PRIMARY = "box-signature-primary"
SECONDARY = "box-signature-secondary"
TIMESTAMP = "box-delivery-timestamp"
VERSION = "box-signature-version"
ALGORITHM = "box-signature-algorithm"


@dataclass(frozen=True)
class Box(Scheme):
    name: str = "box"
    timestamped: bool = True

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (PRIMARY, SECONDARY, TIMESTAMP, VERSION, ALGORITHM)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        if request.header(VERSION) != "1" or request.header(ALGORITHM) != "HmacSHA256":
            return False
        provided = [value for value in (request.header(PRIMARY), request.header(SECONDARY)) if value]
        timestamp = request.header(TIMESTAMP)
        sent = rfc3339_seconds(timestamp)
        if not provided or sent is None or check.tolerance_seconds < 0:
            return False
        if not check.now - check.tolerance_seconds <= sent <= check.now + check.tolerance_seconds:
            return False
        assert timestamp is not None
        message = request.body + timestamp.encode()
        return any_key_signs(keys, lambda key: [b64(mac(key, message))], provided)

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        timestamp = rfc3339(delivery.timestamp)
        digest = b64(mac(self.signing_key(secret), delivery.body + timestamp.encode()))
        return {TIMESTAMP: timestamp, PRIMARY: digest, VERSION: "1", ALGORITHM: "HmacSHA256"}

    # BOX-DELIVERY-ID changes on every retry; the body's id (the event's) does not, and it is signed.
    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "id")

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "trigger")

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        # The timestamp is signed too; a NUL never occurs in it, so it cannot trade bytes with the body.
        timestamp = (request.header(TIMESTAMP) or "").encode()
        return hashlib.sha256(timestamp + b"\0" + request.body).hexdigest()

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({PRIMARY, SECONDARY})
