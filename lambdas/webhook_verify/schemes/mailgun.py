"""Mailgun: an HMAC of a timestamp and a token, sent in the JSON body beside the event.

Mailgun posts ``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}``.
``signature`` is the hex HMAC-SHA256, keyed with the account's webhook signing key, of
the timestamp followed by the token (no separator); a subaccount's delivery also
carries ``parent-signature``, the same HMAC with the primary account's key, so
either key verifies.

Only the timestamp and the token are signed, not ``event-data``: whoever sees one
delivery can attach any event to its signature object until the timestamp leaves
the window. So the delivery id is the signed token (Mailgun's advice is to accept a
token once): a signature object used again is a duplicate for the processor,
whatever event it carries, and the event type is reported as unsigned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import IdShape, body_field, body_sha256, clean_id, json_body, mac, parse_timestamp
from .request import Request

SIGNATURE = "signature"
EVENT_DATA = "event-data"
# Which fields of the signature object may carry a digest; each is compared with every key.
_DIGESTS = ("signature", "parent-signature")
# Mailgun's tokens are 50 characters; its signatures 64 hex digits.
TOKEN_SHAPE = IdShape(prefix="", alphabet="0123456789abcdefghijklmnopqrstuvwxyz", length=50)


@dataclass(frozen=True)
class SignedFields:
    """What a delivery's signature object holds: the signed timestamp and token, and its digests."""

    timestamp: str
    token: str
    digests: tuple[str, ...]

    @property
    def message(self) -> bytes:
        return (self.timestamp + self.token).encode("ascii")


def signed_fields(body: bytes) -> SignedFields | None:
    """The signature object of a Mailgun body, or None when it is missing or malformed.

    The timestamp is Unix seconds as a JSON string of digits or a whole JSON number
    (Mailgun documents it as an int and sends a string); the token is printable
    ASCII of at most ``MAX_ID_LENGTH`` characters.
    """
    document = json_body(body)
    signature = document.get(SIGNATURE) if isinstance(document, dict) else None
    if not isinstance(signature, dict):
        return None
    timestamp = signature.get("timestamp")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not isinstance(timestamp, str) or parse_timestamp(timestamp) is None:
        return None
    token = signature.get("token")
    token = clean_id(token) if isinstance(token, str) else None
    digests = tuple(value for name in _DIGESTS if isinstance(value := signature.get(name), str) and value)
    if token is None or not digests:
        return None
    return SignedFields(timestamp, token, digests)


@dataclass(frozen=True)
class Mailgun(Scheme):
    """No options: the signature object is where Mailgun puts it (docs/signatures.md, "mailgun")."""

    name: str = "mailgun"
    timestamped: bool = True
    # event-data is not signed: a signature object authenticates any event beside it.
    signs_body: ClassVar[bool] = False
    id_shape: IdShape | None = TOKEN_SHAPE

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ()

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        fields = signed_fields(request.body)
        if fields is None or not check.in_window(fields.timestamp):
            return False
        return any_key_signs(keys, lambda key: [mac(key, fields.message).hex()], fields.digests)

    def envelope(
        self,
        body: bytes,
        secret: str,
        *,
        timestamp: int,
        options: Mapping[str, Any],
        delivery_id: str | None = None,
    ) -> bytes:
        """``body`` as Mailgun would post it, with a signature object whose token is ``delivery_id``
        (or one derived from the input): a JSON object holding event-data is the whole delivery, any other
        object is its event-data, and any other body is carried as the event-data's text."""
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            document = body.decode("utf-8", "replace")
        if not isinstance(document, dict) or EVENT_DATA not in document:
            document = {EVENT_DATA: document}
        # Deterministic without a delivery id: the same input gives the same bytes.
        token = delivery_id or hashlib.sha256(b"%d|%s" % (timestamp, body)).hexdigest()[:50]
        fields = SignedFields(str(timestamp), token, ())
        digest = mac(self.signing_key(secret), fields.message).hex()
        # The signature object first, as Mailgun's own examples show it.
        signature = {"timestamp": fields.timestamp, "token": token, "signature": digest}
        document = {SIGNATURE: signature, **{name: value for name, value in document.items() if name != SIGNATURE}}
        return json.dumps(document, indent=2).encode()

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        # The signature is in the body (``envelope``); Mailgun sends no header of its own.
        if signed_fields(delivery.body) is None:
            raise ValueError("mailgun signs in the body: wrap the body with envelope() first")
        return {}

    def key(self, secret: str) -> bytes | None:
        # The key is the text itself; an empty one could be guessed by anyone.
        return secret.encode() if secret else None

    def example_secret(self, seed: bytes) -> str:
        # Mailgun's webhook signing keys are hex text (older ones "key-" and 32 characters).
        return seed.hex()[:32]

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        fields = signed_fields(request.body)
        return fields.token if fields else None

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, f"{EVENT_DATA}.event")

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        return False

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        fields = signed_fields(request.body)
        return hashlib.sha256(fields.message).hexdigest() if fields else body_sha256(request.body)

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset()  # the signature is in the body
