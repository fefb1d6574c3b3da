"""Cloudinary notifications: ``X-Cld-Signature``, the hex SHA-1 (or SHA-256) digest of
``{body}{X-Cld-Timestamp}{api_secret}``.

Not an HMAC: the API secret is appended to the signed text and the whole is
hashed. With the secret last, a length-extension forgery does not apply; what
remains is the hash's own strength. An account signs with SHA-1 unless its
``signature_algorithm`` is SHA-256; the two digests differ in length (40 and
64 hex digits), so without ``options.algorithm`` the length picks the hash, and
a source that names one accepts only that one. The timestamp is signed and
checked against the source's window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, Scheme, SchemeConfigError, SigningInput, any_key_signs
from .helpers import body_field
from .request import Request

_SIGNATURE = "x-cld-signature"
_TIMESTAMP = "x-cld-timestamp"
_ALGORITHMS = ("sha1", "sha256")
# The hash a digest of this many hex digits comes from.
_BY_LENGTH = {40: "sha1", 64: "sha256"}


def _algorithm(options: Mapping[str, Any], signature: str | None = None) -> str | None:
    """The hash to check ``signature`` with (to sign with, without one); None if there is none."""
    chosen = options.get("algorithm")
    if chosen is not None:
        return str(chosen).lower()
    return _BY_LENGTH.get(len(signature)) if signature is not None else "sha1"


def _digest(algorithm: str, body: bytes, timestamp: str, key: bytes) -> str:
    return hashlib.new(algorithm, body + timestamp.encode() + key).hexdigest()


@dataclass(frozen=True)
class Cloudinary(Scheme):
    """The secret is the account's API secret (text); the type is the body's ``notification_type``."""

    name: str = "cloudinary"
    timestamped: bool = True

    @staticmethod
    def validate_options(options: Mapping[str, Any]) -> None:
        if options.get("algorithm") is not None and _algorithm(options) not in _ALGORITHMS:
            raise SchemeConfigError(f"options.algorithm must be one of {', '.join(_ALGORITHMS)} (Cloudinary's)")

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (_SIGNATURE, _TIMESTAMP)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        signature, timestamp = request.header(_SIGNATURE), request.header(_TIMESTAMP)
        if not signature or not check.in_window(timestamp):
            return False
        algorithm = _algorithm(check.options, signature)
        if algorithm not in _ALGORITHMS:
            return False
        assert timestamp is not None and algorithm is not None
        return any_key_signs(keys, lambda key: [_digest(algorithm, request.body, timestamp, key)], [signature])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        self.validate_options(options)
        timestamp = str(delivery.timestamp)
        digest = _digest(_algorithm(options) or "sha1", delivery.body, timestamp, self.signing_key(secret))
        return {_SIGNATURE: digest, _TIMESTAMP: timestamp}

    # Notifications carry no id of their own: the verifier keys them on the body's digest,
    # which a retry signed with a fresh timestamp keeps.
    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return None

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "notification_type")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({_SIGNATURE, _TIMESTAMP})
