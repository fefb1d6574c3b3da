"""PayPal: ``PAYPAL-TRANSMISSION-SIG``, SHA256withRSA over
``{transmission id}|{transmission time}|{webhook id}|{CRC32 of the body}``, checked with
the certificate at ``PAYPAL-CERT-URL``.

The signed string is PayPal's (developer.paypal.com/api/rest/webhooks/rest,
"Verify the signature"; PayPal-Python-SDK ``WebhookEvent._get_expected_sig``):
the CRC32 is the unsigned decimal of the exact body bytes. A source's secrets
are its webhook ids ("Record the ID as it is needed for verification of all
webhook messages sent to that URL"): several active ids let a source move to a
new webhook without refusing the old one's deliveries. The certificate must be
on PayPal's API hosts (``api.paypal.com``, ``api-m.paypal.com`` and their
``sandbox`` twins) under ``/v1/notifications/certs/``, and name a
``*.paypal.com`` subject, as PayPal's SDK checks.

PayPal signs a CRC32 of the body, not a cryptographic digest: whoever holds one
signed delivery can build another body with the same CRC32 and send it with
the same headers. So the transmission time is held to the source's window, and
neither the event id nor the event type (both in the body) counts as signed:
the idempotency key binds the signed headers and the CRC (``replay_digest``),
so such a body is a duplicate of the delivery it copies.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from .base import Check, SigningInput
from .certificates import CertificateScheme, decoded_signature, rsa_sign, rsa_signs, signing_key
from .helpers import body_field
from .request import Request

TRANSMISSION_ID = "paypal-transmission-id"
TRANSMISSION_TIME = "paypal-transmission-time"
TRANSMISSION_SIG = "paypal-transmission-sig"
CERT_URL = "paypal-cert-url"
AUTH_ALGO = "paypal-auth-algo"
# The only algorithm PayPal names (PAYPAL-AUTH-ALGO); nothing weaker is accepted in its place.
ALGORITHM = "SHA256withRSA"
_HOSTS = r"api(?:-m)?(?:\.sandbox)?\.paypal\.com"
_CERT_URL = re.compile(rf"https://{_HOSTS}/v1/notifications/certs/[A-Za-z0-9_.-]{{1,200}}")
# PayPal's ids are letters, digits and hyphens; "|" would make the signed string ambiguous.
_TRANSMISSION_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
# PayPal documents webhook_id as ^[a-zA-Z0-9]+$.
_WEBHOOK_ID = re.compile(r"[A-Za-z0-9]{1,64}")
# RFC 3339 (PayPal: "Internet date and time format"), e.g. 2015-05-18T15:45:13Z.
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:(Z)|([+-])(\d{2}):(\d{2}))")


def transmission_seconds(value: str | None) -> int | None:
    """The Unix seconds of an RFC 3339 transmission time, or None when it is not one."""
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, second, tzinfo=UTC)  # a real date and time
    except ValueError:
        return None
    offset = 0 if match[7] else (int(match[9]) * 3600 + int(match[10]) * 60) * (1 if match[8] == "+" else -1)
    return calendar.timegm((year, month, day, hour, minute, second)) - offset


def signed_string(transmission_id: str, time: str, webhook_id: str, body: bytes) -> bytes:
    return f"{transmission_id}|{time}|{webhook_id}|{zlib.crc32(body)}".encode()


@dataclass(frozen=True)
class PayPal(CertificateScheme):
    name: str = "paypal"
    timestamped: bool = True
    key_hosts: ClassVar[re.Pattern[str]] = re.compile(_HOSTS)

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (TRANSMISSION_ID, TRANSMISSION_TIME, TRANSMISSION_SIG, CERT_URL, AUTH_ALGO)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        transmission_id = request.header(TRANSMISSION_ID)
        time = request.header(TRANSMISSION_TIME)
        url = request.header(CERT_URL)
        signature = decoded_signature(request.header(TRANSMISSION_SIG))
        seconds = transmission_seconds(time)
        if (
            not keys
            or transmission_id is None
            or not _TRANSMISSION_ID.fullmatch(transmission_id)
            or time is None
            or seconds is None
            or not check.in_window(str(seconds))
            or request.header(AUTH_ALGO) != ALGORITHM
            or url is None
            or not _CERT_URL.fullmatch(url)
            or signature is None
        ):
            return False
        key = self.fetch_key(url, check, subjects=lambda subject: subject.endswith(".paypal.com"))
        if key is None:
            return False
        result = False
        for webhook_id in keys:
            message = signed_string(transmission_id, time, webhook_id.decode(), request.body)
            result |= rsa_signs(key, signature, message, "sha256")
        return result

    # ------------------------------------------------------------------ secrets: webhook ids

    def key(self, secret: str) -> bytes | None:
        return secret.encode() if _WEBHOOK_ID.fullmatch(secret) else None

    def secret_for_key(self, key: bytes) -> str:
        # An empty key stays empty (no webhook id): it must verify nothing.
        text = key.decode("ascii", "replace")
        if not key or _WEBHOOK_ID.fullmatch(text):
            return text
        return hashlib.sha256(key).hexdigest()[:32].upper()

    def example_secret(self, seed: bytes) -> str:
        # PayPal's webhook ids are 17 upper-case letters and digits (4JH86294D6297924G).
        return seed.hex().upper()[:17]

    # ------------------------------------------------------------------ signing (test senders)

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        if not _WEBHOOK_ID.fullmatch(secret):
            raise ValueError("a paypal secret is the webhook's id (letters and digits)")
        transmission_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{secret}|{delivery.timestamp}|{delivery.body.hex()}"))
        time = datetime.fromtimestamp(delivery.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        message = signed_string(transmission_id, time, secret, delivery.body)
        url = options.get("signing_certificate_url", "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-test")
        return {
            TRANSMISSION_ID: transmission_id,
            TRANSMISSION_TIME: time,
            CERT_URL: str(url),
            AUTH_ALGO: ALGORITHM,
            TRANSMISSION_SIG: rsa_sign(signing_key(options, self.name), message, "sha256"),
        }

    # ------------------------------------------------------------------ what the signature covers

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "id")

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "event_type")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({TRANSMISSION_SIG})

    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        return False  # in a body bound only by a CRC32

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        return False

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        signed = "|".join(request.header(name) or "" for name in (TRANSMISSION_ID, TRANSMISSION_TIME))
        return hashlib.sha256(f"{signed}|{zlib.crc32(request.body)}".encode()).hexdigest()
