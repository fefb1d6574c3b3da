"""Adyen standard webhooks: an HMAC in each notification item, over a documented join of its fields.

Adyen posts ``{"live": ..., "notificationItems": [{"NotificationRequestItem": item}]}``
(one item per request for JSON webhooks). Each item's
``additionalData.hmacSignature`` is the base64 HMAC-SHA256, keyed with the
webhook's HMAC key (hex text, decoded to bytes), of::

    pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success

with ``value`` and ``currency`` from ``amount`` and a missing field as empty
text. Nothing is escaped, so the signature binds that joined text, not each
field's boundaries. Only these fields are signed; the rest of the item
(``reason``, ``eventDate``, ``additionalData``, ``operations``, ...) and
``live`` are not, and no timestamp is: the delivery id is built from signed
fields, so a replay is a duplicate for the processor. Every item must verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import IdShape, body_sha256, clean_id, json_body, mac
from .request import Request

ITEMS = "notificationItems"
ITEM = "NotificationRequestItem"
# Adyen sends one item per JSON request; older batches held a few. More than this
# is refused: each item costs one HMAC per active key.
MAX_ITEMS = 20
PSP_REFERENCE = IdShape(prefix="", alphabet=string.ascii_uppercase + string.digits, length=16)
SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)


def _text(value: Any, *, number: bool = False) -> str | None:
    """A signed field as Adyen writes it into the signed text: a string, or a whole number for ``value``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if number and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def signing_string(item: Any) -> str | None:
    """The text Adyen signs for one NotificationRequestItem, or None when it cannot be signed.

    Every item has an amount (its value a whole number, its currency text); the
    other signed fields are text, or missing (empty).
    """
    amount = item.get("amount") if isinstance(item, dict) else None
    if not isinstance(amount, dict):
        return None
    value, currency = amount.get("value"), amount.get("currency")
    if not isinstance(value, int) or isinstance(value, bool) or not isinstance(currency, str):
        return None
    fields = {**item, "value": value, "currency": currency}
    parts = [_text(fields.get(name), number=name == "value") for name in SIGNED_FIELDS]
    texts = [part for part in parts if part is not None]
    return ":".join(texts) if len(texts) == len(parts) else None


def notification_items(body: bytes) -> list[dict[str, Any]] | None:
    """The NotificationRequestItems of an Adyen body (1 to ``MAX_ITEMS``), or None."""
    document = json_body(body)
    wrapped = document.get(ITEMS) if isinstance(document, dict) else None
    if not isinstance(wrapped, list) or not 1 <= len(wrapped) <= MAX_ITEMS:
        return None
    items = [entry.get(ITEM) if isinstance(entry, dict) else None for entry in wrapped]
    return items if all(isinstance(item, dict) for item in items) else None  # type: ignore[return-value]


def _provided(item: Mapping[str, Any]) -> str | None:
    additional = item.get("additionalData")
    value = additional.get("hmacSignature") if isinstance(additional, dict) else None
    return value if isinstance(value, str) and value else None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _test_item(body: bytes, delivery_id: str | None) -> dict[str, Any]:
    """A NotificationRequestItem carrying ``body`` (as text) in a signed field, for a test sender."""
    reference = delivery_id or hashlib.sha256(body).hexdigest()[:16].upper()
    return {
        "amount": {"currency": "EUR", "value": 0},
        "eventCode": "AUTHORISATION",
        "merchantAccountCode": "WebhookKitTest",
        "merchantReference": body.decode("utf-8", "replace"),
        "pspReference": reference,
        "success": "true",
    }


def _digest(key: bytes, text: str) -> str:
    return base64.b64encode(mac(key, text.encode("utf-8"))).decode("ascii")


def _digests(text: str, key: bytes) -> list[str]:
    return [_digest(key, text)]


@dataclass(frozen=True)
class Adyen(Scheme):
    """No options (docs/signatures.md, "adyen"); the secret is the webhook's HMAC key in hex."""

    name: str = "adyen"
    timestamped: bool = False
    # Only the fields above are signed: other parts of the body may change without notice.
    signs_body: ClassVar[bool] = False
    # What a test sender passes as ``delivery_id`` becomes a pspReference: 16 capitals and digits.
    id_shape: IdShape | None = PSP_REFERENCE

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ()

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        items = notification_items(request.body)
        if not items or not keys:
            return False
        # Every item must carry a signature by an active key (a batch may mix keys during
        # a rotation); no early exit.
        result = True
        for item in items:
            text, provided = signing_string(item), _provided(item)
            if text is None or provided is None:
                return False
            result &= any_key_signs(keys, partial(_digests, text), [provided])
        return result

    # ------------------------------------------------------------------ secrets: hex HMAC keys

    def key(self, secret: str) -> bytes | None:
        try:
            key = bytes.fromhex(secret)
        except ValueError:
            return None
        # bytes.fromhex skips spaces; Adyen's keys are plain hex.
        return key if key and len(secret) == 2 * len(key) else None

    def secret_for_key(self, key: bytes) -> str:
        return binascii.hexlify(key).decode("ascii").upper()

    def example_secret(self, seed: bytes) -> str:
        return seed.hex()[:64].upper()

    # ------------------------------------------------------------------ signing (test senders)

    def envelope(
        self,
        body: bytes,
        secret: str,
        *,
        timestamp: int,
        options: Mapping[str, Any],
        delivery_id: str | None = None,
    ) -> bytes:
        """``body`` as Adyen would post it, every item signed: a NotificationRequestItem, or a
        notification holding them, as it is; any other body as the merchantReference (text) of
        an AUTHORISATION test item whose pspReference is ``delivery_id`` or derived from it."""
        document = _json(body)
        if isinstance(document, dict) and ITEMS not in document:
            document = {"live": "false", ITEMS: [{ITEM: document}]}
        items = notification_items(json.dumps(document).encode()) if isinstance(document, dict) else None
        if items is None or any(signing_string(item) is None for item in items):
            item = _test_item(body, delivery_id)
            document, items = {"live": "false", ITEMS: [{ITEM: item}]}, [item]
        key = self.signing_key(secret)
        for entry, item in zip(document[ITEMS], items, strict=True):
            additional = item.get("additionalData")
            extra = dict(additional) if isinstance(additional, dict) else {}
            signature = _digest(key, signing_string(item) or "")
            entry[ITEM] = {**item, "additionalData": {**extra, "hmacSignature": signature}}
        return json.dumps(document, indent=2).encode()

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        # The signatures are in the body (``envelope``); Adyen sends no header of its own.
        if notification_items(delivery.body) is None:
            raise ValueError("adyen signs in the body: wrap the body with envelope() first")
        return {}

    # ------------------------------------------------------------------ what the signature covers

    def _single(self, request: Request) -> dict[str, Any] | None:
        items = notification_items(request.body)
        return items[0] if items and len(items) == 1 else None

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        """``pspReference:eventCode:success`` of the item (all signed); a batch's is its replay digest."""
        item = self._single(request)
        if item is None:
            return self.replay_digest(request, options) if notification_items(request.body) else None
        parts = [item.get(name) for name in ("pspReference", "eventCode", "success")]
        texts = [part for part in parts if isinstance(part, str) and part]
        return clean_id(":".join(texts)) if len(texts) == len(parts) else None

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        item = self._single(request)
        return clean_id(item.get("eventCode")) if item else None

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        items = notification_items(request.body)
        texts = [signing_string(item) for item in items] if items else None
        if not texts or any(text is None for text in texts):
            return body_sha256(request.body)
        return hashlib.sha256(json.dumps(texts).encode()).hexdigest()

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset()  # the signatures are in the body
