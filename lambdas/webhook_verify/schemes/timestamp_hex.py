"""Stripe and Paddle: one header of a timestamp and hex HMAC-SHA256 signatures of ``{ts}{joiner}{body}``."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import BASE62, IdShape, body_field, mac
from .request import Request


@dataclass(frozen=True)
class TimestampAndHexSignatures(Scheme):
    """One header of ``key=value`` items: exactly one timestamp and one or more
    hex HMAC-SHA256 signatures of ``{timestamp}{joiner}{body}``, keyed by the
    secret as UTF-8 text. Several signatures appear while a secret is rotated.
    """

    name: str
    header: str
    separator: str
    timestamp_key: str
    signature_key: str
    joiner: bytes
    id_field: str
    type_field: str
    id_shape: IdShape | None = None
    timestamped: bool = True

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (self.header,)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        header = request.header(self.header)
        if not header:
            return False
        timestamps, provided = [], []
        for item in header.split(self.separator):
            key, sep, value = item.partition("=")
            if not sep:
                return False
            if key == self.timestamp_key:
                timestamps.append(value)
            elif key == self.signature_key:
                provided.append(value)
        if len(timestamps) != 1 or not provided or not check.in_window(timestamps[0]):
            return False
        message = timestamps[0].encode() + self.joiner + request.body
        return any_key_signs(keys, lambda key: [mac(key, message).hex()], provided)

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        message = str(delivery.timestamp).encode() + self.joiner + delivery.body
        digest = mac(self.signing_key(secret), message).hex()
        return {self.header: f"{self.timestamp_key}={delivery.timestamp}{self.separator}{self.signature_key}={digest}"}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, self.id_field)

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, self.type_field)

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({self.header})


@dataclass(frozen=True)
class Stripe(TimestampAndHexSignatures):
    """``Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of ``{t}.{body}``.

    The ``whsec_...`` secret is the HMAC key as UTF-8 text (not base64-decoded).
    Exactly one ``t`` is required; ``v0`` (test-mode legacy) entries are ignored.
    """

    def example_secret(self, seed: bytes) -> str:
        return "whsec_" + seed.hex()[:32]


STRIPE = Stripe(
    name="stripe",
    header="stripe-signature",
    separator=",",
    timestamp_key="t",
    signature_key="v1",
    joiner=b".",
    id_field="id",
    type_field="type",
    id_shape=IdShape("evt_", BASE62, 24),
)

# Paddle Billing: ``Paddle-Signature: ts=<ts>;h1=<hex>[;h1=<hex>...]``, HMAC-SHA256
# of ``{ts}:{body}``. Several ``h1`` appear while a secret is being rotated; exactly one ``ts``.
PADDLE = TimestampAndHexSignatures(
    name="paddle",
    header="paddle-signature",
    separator=";",
    timestamp_key="ts",
    signature_key="h1",
    joiner=b":",
    id_field="event_id",
    type_field="event_type",
    id_shape=IdShape("evt_", string.ascii_lowercase + string.digits, 26),
)
