"""WorkOS: ``WorkOS-Signature: t=<ms>, v1=<hex>``, hex HMAC-SHA256 of ``{t}.{body}`` with ``t`` in milliseconds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import IdShape, body_field, mac, timestamp_in_window
from .request import Request

_HEADER = "workos-signature"
# WorkOS event ids are "event_" and a ULID (Crockford base32, upper case).
_EVENT_ID = IdShape("event_", "0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26)


def _items(value: str) -> tuple[str, str] | None:
    """The ``t`` and ``v1`` values of a header of exactly those two items, or None.

    WorkOS writes ``t=<ms>, v1=<hex>``; its SDKs split on ", " and take both
    parts, so any other item, a repeat or an item without "=" is refused. Only
    the space after a comma is dropped: a value is compared as it is sent.
    """
    items = value.split(",", 2)
    if len(items) != 2:
        return None
    found: dict[str, str] = {}
    for item in items:
        key, sep, item_value = item.lstrip(" ").partition("=")
        if not sep or key in found or key not in ("t", "v1"):
            return None
        found[key] = item_value
    return found["t"], found["v1"]


@dataclass(frozen=True)
class WorkOS(Scheme):
    """The timestamp is Unix milliseconds, checked against the source's window to the millisecond.

    The secret is the endpoint's webhook secret, the HMAC key as UTF-8 text.
    """

    name: str = "workos"
    timestamped: bool = True
    id_shape: IdShape | None = _EVENT_ID

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (_HEADER,)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        value = request.header(_HEADER)
        parsed = _items(value) if value else None
        if parsed is None:
            return False
        timestamp, provided = parsed
        if not timestamp_in_window(timestamp, check.now * 1000, check.tolerance_seconds * 1000):
            return False
        message = timestamp.encode() + b"." + request.body
        return any_key_signs(keys, lambda key: [mac(key, message).hex()], [provided])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        millis = str(delivery.timestamp * 1000)
        digest = mac(self.signing_key(secret), millis.encode() + b"." + delivery.body).hex()
        return {_HEADER: f"t={millis}, v1={digest}"}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "id")

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "event")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({_HEADER})
