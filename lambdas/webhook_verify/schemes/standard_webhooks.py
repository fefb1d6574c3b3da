"""Standard Webhooks (https://www.standardwebhooks.com/), and Svix under its own header names."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Check, Scheme, SchemeConfigError, SigningInput, any_key_signs
from .helpers import BASE62, IdShape, b64, body_field, body_sha256, clean_id, mac
from .public_keys import (
    ED25519_KEY_BYTES,
    ED25519_SIGNATURE_BYTES,
    Ed25519Key,
    ed25519_private_from_seed,
    ed25519_raw_public,
    ed25519_verify,
    strict_b64decode,
)
from .request import Request

_PARTS = ("id", "timestamp", "signature")
_MESSAGE_ID = IdShape("msg_", BASE62, 27)
_PUBLIC_PREFIX = "whpk_"
_PRIVATE_PREFIX = "whsk_"
# More v1a entries than this in one header are not tried (each costs a verification;
# a sender signs once per active key, one or two during a rotation).
MAX_V1A_SIGNATURES = 8


def _ed25519_private(secret: str) -> Any:
    """The Ed25519 private key of a ``whsk_`` secret, or None."""
    raw = _b64_key(secret.removeprefix(_PRIVATE_PREFIX))
    if raw is None or len(raw) not in (ED25519_KEY_BYTES, 2 * ED25519_KEY_BYTES):
        return None
    private = ed25519_private_from_seed(raw[:ED25519_KEY_BYTES])
    # The 64-byte form carries the public key too: it must be this seed's.
    if len(raw) > ED25519_KEY_BYTES and ed25519_raw_public(private) != raw[ED25519_KEY_BYTES:]:
        return None
    return private


def _b64_key(text: str) -> bytes | None:
    """Base64 with or without its padding, as the secrets are written."""
    text = text.rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class StandardWebhooks(Scheme):
    """Signed content ``{id}.{timestamp}.{body}``; the signature header is a
    space-separated list of ``v1,<base64>`` (HMAC-SHA256, keyed by a
    ``whsec_`` secret: base64 of the key) and ``v1a,<base64>`` (Ed25519, for a
    ``whpk_`` secret: base64 of the 32-byte public key). A ``whsk_`` secret
    (base64 of the Ed25519 private key: seed and public key, 64 bytes, as
    Svix's server writes it, or the 32-byte seed alone) verifies with its
    public key and signs ``v1a``. Each entry is checked only with keys of its
    kind; ``cryptography`` is imported only for ``v1a`` (``public_keys``).

    Svix also sends the unbranded ``webhook-*`` set (``fallback_prefix``): the
    id, timestamp and signature are all read from ``{prefix}-*`` when all three
    are there, else all from the fallback set, never a mix of the two.
    """

    name: str = "standard-webhooks"
    prefix: str = "webhook"
    timestamped: bool = True
    fallback_prefix: str = ""
    id_shape: IdShape | None = _MESSAGE_ID

    # v1a (a whpk_ or whsk_ secret) needs it, and only a source with options.ed25519
    # verifies v1a: every other source never imports it, and deploys without the layer.
    needs_cryptography: ClassVar[bool] = True

    def uses_cryptography(self, options: Mapping[str, Any]) -> bool:
        return options.get("ed25519") is True

    def key(self, secret: str) -> bytes | None:
        """The HMAC key of a ``whsec_`` secret, or the ``Ed25519Key`` of a ``whpk_`` or ``whsk_`` one."""
        if secret.startswith(_PUBLIC_PREFIX):
            raw = _b64_key(secret.removeprefix(_PUBLIC_PREFIX))
            return Ed25519Key(raw) if raw is not None and len(raw) == ED25519_KEY_BYTES else None
        if secret.startswith(_PRIVATE_PREFIX):
            private = _ed25519_private(secret)
            return Ed25519Key(ed25519_raw_public(private)) if private is not None else None
        return _b64_key(secret.removeprefix("whsec_")) or None

    def secret_for_key(self, key: bytes) -> str:
        if isinstance(key, Ed25519Key):
            return _PUBLIC_PREFIX + b64(key)
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
        entries = signature.split(" ")
        provided = [entry[3:] for entry in entries if entry.startswith("v1,")]
        asymmetric = [entry[4:] for entry in entries if entry.startswith("v1a,")]
        hmac_keys = [key for key in keys if not isinstance(key, Ed25519Key)]
        # v1a only where the source says its secrets are Ed25519 keys (and so has the layer).
        ed25519 = self.uses_cryptography(check.options)
        public_keys = [key for key in keys if isinstance(key, Ed25519Key)] if ed25519 else []
        verified = False
        if provided and hmac_keys:
            verified |= any_key_signs(
                hmac_keys, lambda key: [self._signature(key, msg_id, timestamp, request.body)], provided
            )
        if asymmetric and public_keys and len(asymmetric) <= MAX_V1A_SIGNATURES:
            content = f"{msg_id}.{timestamp}.".encode() + request.body
            signatures = [
                raw for raw in map(strict_b64decode, asymmetric) if raw and len(raw) == ED25519_SIGNATURE_BYTES
            ]
            verified |= any([ed25519_verify(key, raw, content) for key in public_keys for raw in signatures])
        return verified

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        msg_id = delivery.delivery_id or "msg_" + body_sha256(delivery.body)[:24]
        if secret.startswith(_PRIVATE_PREFIX):
            private = _ed25519_private(secret)
            if private is None:
                raise ValueError(f"{self.name}: a whsk_ secret is the base64 of an Ed25519 private key")
            content = f"{msg_id}.{delivery.timestamp}.".encode() + delivery.body
            signature = "v1a," + b64(private.sign(content))
        elif secret.startswith(_PUBLIC_PREFIX):
            raise ValueError(f"{self.name}: a whpk_ public key only verifies; sign with its whsk_ private key")
        else:
            key = self.signing_key(secret)
            signature = "v1," + self._signature(key, msg_id, str(delivery.timestamp), delivery.body)
        return {
            f"{self.prefix}-id": msg_id,
            f"{self.prefix}-timestamp": str(delivery.timestamp),
            f"{self.prefix}-signature": signature,
        }

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header(f"{self._prefix_for(request)}-id"))

    def validate_options(self, options: Mapping[str, Any]) -> None:
        if "ed25519" in options and not isinstance(options["ed25519"], bool):
            raise SchemeConfigError("options.ed25519 must be true or false")
        path = options.get("event_type_field")
        if path is not None and (not isinstance(path, str) or not path):
            raise SchemeConfigError(
                "options.event_type_field must be a dotted JSON path in the body, e.g. event_type (Lithic)"
            )

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        # A provider may name its event elsewhere in the signed body (Lithic: event_type).
        path = options.get("event_type_field")
        if path:
            return body_field(request, str(path))
        return body_field(request, "type", "eventType")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(f"{prefix}-signature" for prefix in self._prefixes())
