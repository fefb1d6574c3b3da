"""HubSpot (signature v3): base64 HMAC-SHA256 of method + URL + body + millisecond timestamp.

``X-HubSpot-Signature-v3`` signs ``{method}{uri}{body}{timestamp}`` with the
app's client secret, where ``uri`` is the URL HubSpot posted to, query
included, with ``: / ? @ ! $ ' ( ) * , ;`` unescaped, and ``timestamp`` is
``X-HubSpot-Request-Timestamp`` (Unix milliseconds). Like Square and Twilio
the URL is the source's ``public_url``; the query is re-tried in each
spelling of ``helpers.signed_urls``, whose hand-typed one is HubSpot's.

A delivery is a JSON array of up to 100 events. It has no id of its own and
each attempt carries a new ``attemptNumber``, so the delivery id is derived
from the events' ``eventId`` values, which stay the same on a retry.
HubSpot's event ids are numbers; a test sender's are too (``id_shape``).
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import (
    IdShape,
    b64,
    body_sha256,
    clean_id,
    json_body,
    mac,
    signed_url,
    signed_urls,
    timestamp_in_window,
)
from .request import Request

SIGNATURE = "x-hubspot-signature-v3"
TIMESTAMP = "x-hubspot-request-timestamp"
# HubSpot batches up to 100 events a request; a longer array is not read for ids.
MAX_EVENTS = 100
_EVENT_ID = IdShape("", string.digits, 10)


def _events(request: Request) -> list[dict[str, Any]] | None:
    document = json_body(request.body)
    if not isinstance(document, list) or not 0 < len(document) <= MAX_EVENTS:
        return None
    if not all(isinstance(event, dict) for event in document):
        return None
    return document


def _message(method: str, url: str, body: bytes, timestamp: str) -> bytes:
    return method.encode() + url.encode() + body + timestamp.encode()


@dataclass(frozen=True)
class HubSpot(Scheme):
    """The window is checked to the millisecond; HubSpot's SDKs refuse requests older than 5 minutes."""

    name: str = "hubspot"
    timestamped: bool = True
    needs_public_url: ClassVar[bool] = True
    id_shape: IdShape | None = _EVENT_ID

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (SIGNATURE, TIMESTAMP)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        provided, timestamp = request.header(SIGNATURE), request.header(TIMESTAMP)
        urls = signed_urls(request, check.options)
        if not provided or not urls:
            return False
        if not timestamp_in_window(timestamp, check.now * 1000, check.tolerance_seconds * 1000):
            return False
        assert timestamp is not None
        messages = [_message(request.method, url, request.body, timestamp) for url in urls]
        return any_key_signs(keys, lambda key: [b64(mac(key, message)) for message in messages], [provided])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        url = signed_url(Request(headers={}, body=delivery.body, query=delivery.query), options)
        millis = str(delivery.timestamp * 1000)
        digest = b64(mac(self.signing_key(secret), _message("POST", url, delivery.body, millis)))
        return {SIGNATURE: digest, TIMESTAMP: millis}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        """The eventId of a one-event batch; ``hubspot-`` and the SHA-256 of the eventIds, in
        order, of a larger one; the body's SHA-256 when an event has none."""
        events = _events(request)
        ids = [clean_id(event.get("eventId")) for event in events] if events else []
        if not ids or None in ids:
            return body_sha256(request.body)
        if len(ids) == 1:
            return ids[0]
        return "hubspot-" + hashlib.sha256(",".join(str(i) for i in ids).encode()).hexdigest()

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        """The batch's subscriptionType when every event has the same one (else None: read each event's)."""
        events = _events(request)
        types = {clean_id(event.get("subscriptionType")) for event in events} if events else set()
        return types.pop() if len(types) == 1 else None

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        # URL, body and timestamp are signed; a NUL occurs in none of the headers or the URL.
        timestamp = request.header(TIMESTAMP) or ""
        material = signed_url(request, options).encode() + b"\0" + timestamp.encode() + b"\0" + request.body
        return hashlib.sha256(material).hexdigest()

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({SIGNATURE, "x-hubspot-signature"})
