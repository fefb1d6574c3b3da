"""ECDSA P-256 / SHA-256: SendGrid's signed Event Webhook.

``X-Twilio-Email-Event-Webhook-Signature`` is the base64 of a DER ECDSA
signature of ``{X-Twilio-Email-Event-Webhook-Timestamp}{body}``. The source's
secret is the webhook's verification key as SendGrid shows it: the base64 of a
DER SubjectPublicKeyInfo (``MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE...``). A test
sender's secret is a P-256 private key as PKCS#8 PEM (``example_secret``),
whose public key is derived to verify.

An ECDSA signature is not unique: ``(r, n - s)`` verifies as well as ``(r, s)``.
Nothing here keys on the signature's bytes (a replay is recognised by the body),
so that costs nothing. ``cryptography`` is imported only when a request is
verified or signed (``public_keys``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Check, Scheme, SigningInput
from .helpers import b64
from .public_keys import (
    MAX_DER_SIGNATURE_BYTES,
    MAX_KEY_TEXT,
    is_private_pem,
    p256_canonical_spki,
    p256_private_key,
    p256_private_pem,
    p256_public_from_pem,
    p256_sign,
    p256_verify,
    strict_b64decode,
)
from .request import Request

_SIGNATURE = "x-twilio-email-event-webhook-signature"
_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
# A base64 DER signature of at most MAX_DER_SIGNATURE_BYTES.
_MAX_SIGNATURE_TEXT = 4 * ((MAX_DER_SIGNATURE_BYTES + 2) // 3)


@dataclass(frozen=True)
class SendGrid(Scheme):
    """A batch of events (a JSON array) per post: there is no delivery id or event
    type for the whole post, so the verifier keys it on the body's SHA-256; each
    event carries its own ``sg_event_id`` and ``event`` for the handler."""

    name: str = "sendgrid"
    timestamped: bool = True
    needs_cryptography: ClassVar[bool] = True

    def key(self, secret: str) -> bytes | None:
        """The DER SubjectPublicKeyInfo: SendGrid's verification key, or derived from a PEM private key."""
        if not isinstance(secret, str) or not secret or len(secret) > MAX_KEY_TEXT:
            return None
        if is_private_pem(secret):
            return p256_public_from_pem(secret)
        der = strict_b64decode(secret.strip())
        return p256_canonical_spki(der) if der else None

    def secret_for_key(self, key: bytes) -> str:
        """A private key (PKCS#8 PEM) derived from ``key`` as seed material; "" for no key."""
        return p256_private_pem(key) if key else ""

    def example_secret(self, seed: bytes) -> str:
        """A P-256 private key as PKCS#8 PEM, derived from ``seed`` (a test sender's key)."""
        return p256_private_pem(seed)

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (_TIMESTAMP, _SIGNATURE)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        timestamp = request.header(_TIMESTAMP)
        provided = request.header(_SIGNATURE)
        if not provided or len(provided) > _MAX_SIGNATURE_TEXT or not check.in_window(timestamp):
            return False
        assert timestamp is not None
        signature = strict_b64decode(provided)
        if not signature:
            return False
        message = timestamp.encode() + request.body
        return any([p256_verify(key, signature, message) for key in keys])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        private = p256_private_key(secret)
        if private is None:
            raise ValueError(
                "sendgrid signs with a P-256 private key as PKCS#8 PEM (see example_secret); "
                "the verification key only verifies"
            )
        signature = p256_sign(private, str(delivery.timestamp).encode() + delivery.body)
        return {_TIMESTAMP: str(delivery.timestamp), _SIGNATURE: b64(signature)}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return None

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return None

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({_SIGNATURE})
