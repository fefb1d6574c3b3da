"""Twitch EventSub: ``Twitch-Eventsub-Message-Signature: sha256=<hex>`` of id + timestamp + body.

The HMAC-SHA256 covers ``Twitch-Eventsub-Message-Id``, then
``Twitch-Eventsub-Message-Timestamp`` (RFC 3339 with up to nanoseconds, as
Twitch writes it), then the body, concatenated without separators. The id and
the timestamp are signed, so the id is the delivery id. The message type
header (``notification``, ``webhook_callback_verification``, ``revocation``)
is not signed: the event type is read from the signed body instead, and a
``revocation`` message is recognised by its body too (no ``event``, a
subscription whose status is not ``enabled``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import clean_id, field, json_body, mac
from .request import Request

MESSAGE_ID = "twitch-eventsub-message-id"
TIMESTAMP = "twitch-eventsub-message-timestamp"
SIGNATURE = "twitch-eventsub-message-signature"
MESSAGE_TYPE = "twitch-eventsub-message-type"
REVOCATION = "revocation"

# RFC 3339 as Twitch writes it: UTC "Z" or an offset, at most nanoseconds. Anything
# longer or looser is refused before any arithmetic.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def rfc3339_seconds(value: str | None) -> float | None:
    """Unix seconds of an RFC 3339 timestamp, or None when ``value`` is not one."""
    if value is None:
        return None
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_hours, off_minutes = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    if not zulu:
        offset = timedelta(hours=int(off_hours), minutes=int(off_minutes))
        moment -= offset if sign == "+" else -offset
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def rfc3339(timestamp: int) -> str:
    """``timestamp`` (whole Unix seconds) in RFC 3339, UTC, as ``2023-11-14T22:13:20Z``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Twitch(Scheme):
    name: str = "twitch"
    timestamped: bool = True

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (MESSAGE_ID, TIMESTAMP, SIGNATURE)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        message_id = clean_id(request.header(MESSAGE_ID))
        timestamp = request.header(TIMESTAMP)
        provided = request.header(SIGNATURE)
        if message_id is None or not provided or timestamp is None:
            return False
        moment = rfc3339_seconds(timestamp)
        if moment is None or check.tolerance_seconds < 0:
            return False
        if not check.now - check.tolerance_seconds <= moment <= check.now + check.tolerance_seconds:
            return False
        message = (message_id + timestamp).encode() + request.body
        return any_key_signs(keys, lambda key: ["sha256=" + mac(key, message).hex()], [provided])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        # Without an id given, one derived from the body: signing stays a pure function.
        message_id = delivery.delivery_id or str(uuid.UUID(bytes=hashlib.sha256(delivery.body).digest()[:16]))
        timestamp = rfc3339(delivery.timestamp)
        digest = mac(self.signing_key(secret), (message_id + timestamp).encode() + delivery.body).hex()
        return {MESSAGE_ID: message_id, TIMESTAMP: timestamp, SIGNATURE: "sha256=" + digest}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header(MESSAGE_ID))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        document = json_body(request.body)
        if not isinstance(document, dict):
            return None
        status = field(document, "subscription.status")
        if "event" not in document and "events" not in document and isinstance(status, str) and status != "enabled":
            return REVOCATION
        return clean_id(field(document, "subscription.type"))

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({SIGNATURE})
