"""Ed25519 over ``{timestamp}{joiner}{body}``: Discord interactions and Telnyx.

The source's secret is the provider's public key as the provider shows it
(Discord: 64 hex digits; Telnyx: base64 of the 32-byte key). A test sender's
secret is an Ed25519 private key as PKCS#8 PEM instead (``example_secret``):
the public key is derived from it, so one secret both signs and verifies.
``cryptography`` is imported only when a request is verified or signed
(``public_keys``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Check, Scheme, SigningInput
from .helpers import IdShape, b64, body_field, clean_id, field, json_body
from .public_keys import (
    ED25519_KEY_BYTES,
    ED25519_SIGNATURE_BYTES,
    MAX_KEY_TEXT,
    ed25519_private_key,
    ed25519_private_pem,
    ed25519_public_from_pem,
    ed25519_verify,
    is_private_pem,
    strict_b64decode,
)
from .request import Request

_HEX_KEY = re.compile(rf"[0-9a-fA-F]{{{2 * ED25519_KEY_BYTES}}}")
# Signatures in lower-case hex only, as Discord sends them: one spelling per signature.
_HEX_SIGNATURE = re.compile(rf"[0-9a-f]{{{2 * ED25519_SIGNATURE_BYTES}}}")


@dataclass(frozen=True)
class Ed25519Signature(Scheme):
    """One header holds an Ed25519 signature (hex or base64) of
    ``{timestamp}{joiner}{body}``, the timestamp (Unix seconds) another.

    A signature is read only in its one spelling: lower-case hex, or canonical
    padded base64 (a near miss of a right signature's text does not pass). A
    public key in hex is read in either case. Every active key is tried.
    """

    name: str
    signature_header: str
    timestamp_header: str
    hex_signature: bool
    hex_public_key: bool
    joiner: bytes
    # Body fields holding the delivery id and the event type, the first found wins.
    id_fields: tuple[str, ...]
    type_fields: tuple[str, ...]
    id_shape: IdShape | None = None
    timestamped: bool = True
    needs_cryptography: ClassVar[bool] = True

    # ----------------------------------------------------------------- keys

    def key(self, secret: str) -> bytes | None:
        """The raw 32-byte public key: the provider's public key, or derived from a PEM private key."""
        if not isinstance(secret, str) or not secret or len(secret) > MAX_KEY_TEXT:
            return None
        if is_private_pem(secret):
            return ed25519_public_from_pem(secret)
        text = secret.strip()
        if self.hex_public_key:
            return bytes.fromhex(text) if _HEX_KEY.fullmatch(text) else None
        raw = strict_b64decode(text)
        return raw if raw is not None and len(raw) == ED25519_KEY_BYTES else None

    def secret_for_key(self, key: bytes) -> str:
        """A private key (PKCS#8 PEM) derived from ``key`` as seed material; "" for no key."""
        return ed25519_private_pem(key) if key else ""

    def example_secret(self, seed: bytes) -> str:
        """An Ed25519 private key as PKCS#8 PEM, derived from ``seed`` (a test sender's key)."""
        return ed25519_private_pem(seed)

    # ----------------------------------------------------------------- verify and sign

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (self.timestamp_header, self.signature_header)

    def _decode_signature(self, text: str) -> bytes | None:
        if self.hex_signature:
            return bytes.fromhex(text) if _HEX_SIGNATURE.fullmatch(text) else None
        raw = strict_b64decode(text)
        return raw if raw is not None and len(raw) == ED25519_SIGNATURE_BYTES else None

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        timestamp = request.header(self.timestamp_header)
        provided = request.header(self.signature_header)
        if not provided or not check.in_window(timestamp):
            return False
        assert timestamp is not None
        signature = self._decode_signature(provided)
        if signature is None:
            return False
        message = timestamp.encode() + self.joiner + request.body
        return any([ed25519_verify(key, signature, message) for key in keys])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        private = ed25519_private_key(secret)
        if private is None:
            raise ValueError(
                f"{self.name} signs with an Ed25519 private key as PKCS#8 PEM (see example_secret); "
                "the provider's public key only verifies"
            )
        signature = private.sign(str(delivery.timestamp).encode() + self.joiner + delivery.body)
        return {
            self.timestamp_header: str(delivery.timestamp),
            self.signature_header: signature.hex() if self.hex_signature else b64(signature),
        }

    # ----------------------------------------------------------------- what the body says

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, *self.id_fields)

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, *self.type_fields)

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({self.signature_header})


# Discord's interaction types by number (docs: Receiving and Responding, "Interaction Type").
DISCORD_INTERACTION_TYPES = {
    1: "PING",
    2: "APPLICATION_COMMAND",
    3: "MESSAGE_COMPONENT",
    4: "APPLICATION_COMMAND_AUTOCOMPLETE",
    5: "MODAL_SUBMIT",
}


@dataclass(frozen=True)
class Discord(Ed25519Signature):
    """Discord interactions: ``X-Signature-Ed25519`` (hex) of ``{X-Signature-Timestamp}{body}``.

    The delivery id is the interaction's ``id`` (a snowflake) and the event type
    the name of its ``type`` (``APPLICATION_COMMAND``, ...); both are signed. A
    PING (type 1) is answered with a PONG after its signature verifies
    (``webhook_verify.handshakes.discord``).
    """

    default_handshake: ClassVar[str | None] = "discord-ping"

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        kind = field(json_body(request.body), "type")
        if type(kind) is int:
            return DISCORD_INTERACTION_TYPES.get(kind, str(kind))
        return clean_id(kind) if isinstance(kind, str) else None


DISCORD = Discord(
    name="discord",
    signature_header="x-signature-ed25519",
    timestamp_header="x-signature-timestamp",
    hex_signature=True,
    hex_public_key=True,
    joiner=b"",
    id_fields=("id",),
    type_fields=("type",),
    # Snowflakes: 64-bit integers, written as 17 to 20 decimal digits.
    id_shape=IdShape("1", string.digits, 18),
)

# Telnyx (API v2): ``telnyx-signature-ed25519`` (base64) of ``{telnyx-timestamp}|{body}``;
# the public key is the base64 one shown in the Mission Control Portal.
TELNYX = Ed25519Signature(
    name="telnyx",
    signature_header="telnyx-signature-ed25519",
    timestamp_header="telnyx-timestamp",
    hex_signature=False,
    hex_public_key=False,
    joiner=b"|",
    # Webhooks wrap the event in "data"; the callback reference shows it bare.
    id_fields=("data.id", "id"),
    type_fields=("data.event_type", "event_type"),
)
