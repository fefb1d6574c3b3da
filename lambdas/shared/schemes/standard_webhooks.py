"""Standard Webhooks (https://www.standardwebhooks.com/), and Svix under its own header names."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import BASE62, IdShape, b64, body_field, body_sha256, clean_id, mac
from .request import Request

_PARTS = ("id", "timestamp", "signature")
_MESSAGE_ID = IdShape("msg_", BASE62, 27)


@dataclass(frozen=True)
class StandardWebhooks(Scheme):
    """Signed content ``{id}.{timestamp}.{body}``, HMAC-SHA256, base64; the
    signature header is a space-separated list of ``v1,<base64>``. The secret
    is ``whsec_`` + base64 of the key. Asymmetric ``v1a`` signatures are not
    supported and are ignored.

    Svix also sends the unbranded ``webhook-*`` set (``fallback_prefix``): the
    id, timestamp and signature are all read from ``{prefix}-*`` when all three
    are there, else all from the fallback set, never a mix of the two.
    """

    name: str = "standard-webhooks"
    prefix: str = "webhook"
    timestamped: bool = True
    fallback_prefix: str = ""
    id_shape: IdShape | None = _MESSAGE_ID

    def key(self, secret: str) -> bytes | None:
        secret = secret.removeprefix("whsec_").rstrip("=")
        try:
            key = base64.b64decode(secret + "=" * (-len(secret) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
        return key or None

    def secret_for_key(self, key: bytes) -> str:
        return "whsec_" + b64(key)

    def example_secret(self, seed: bytes) -> str:
        # Svix issues 24-byte keys.
        return self.secret_for_key(seed[:24])

    def _prefixes(self) -> tuple[str, ...]:
        return (self.prefix, self.fallback_prefix) if self.fallback_prefix else (self.prefix,)

    def _prefix_for(self, request: Request) -> str:
        """The header set the request carries (the first one complete)."""
        for prefix in self._prefixes():
            if all(f"{prefix}-{part}" in request.header_values for part in _PARTS):
                return prefix
        return self.prefix

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return [f"{prefix}-{part}" for prefix in self._prefixes() for part in _PARTS]

    @staticmethod
    def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
        return b64(mac(key, f"{msg_id}.{timestamp}.".encode() + body))

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        prefix = self._prefix_for(request)
        msg_id, timestamp, signature = (request.header(f"{prefix}-{part}") for part in _PARTS)
        if not msg_id or not signature or not check.in_window(timestamp):
            return False
        assert timestamp is not None
        provided = [entry[3:] for entry in signature.split(" ") if entry.startswith("v1,")]
        if not provided:
            return False
        return any_key_signs(keys, lambda key: [self._signature(key, msg_id, timestamp, request.body)], provided)

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        msg_id = delivery.delivery_id or "msg_" + body_sha256(delivery.body)[:24]
        signature = self._signature(self.signing_key(secret), msg_id, str(delivery.timestamp), delivery.body)
        return {
            f"{self.prefix}-id": msg_id,
            f"{self.prefix}-timestamp": str(delivery.timestamp),
            f"{self.prefix}-signature": "v1," + signature,
        }

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header(f"{self._prefix_for(request)}-id"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "type", "eventType")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(f"{prefix}-signature" for prefix in self._prefixes())
