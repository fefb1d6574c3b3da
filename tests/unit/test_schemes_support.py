"""Builders shared by the scheme tests (no tests here): a validly signed request for any scheme."""

from __future__ import annotations

from typing import Any

from shared.schemes import Request, get_scheme, twilio_json_query

PUBLIC_URL = "https://hooks.example.com/prod/webhooks/demo"

# Options each scheme needs to sign and verify at all.
OPTIONS: dict[str, dict[str, Any]] = {
    "standard-webhooks": {},
    "svix": {},
    "stripe": {},
    "github": {},
    "shopify": {},
    "slack": {},
    "twilio": {"public_url": PUBLIC_URL},
    "square": {"public_url": PUBLIC_URL},
    "paddle": {},
    "generic-hmac": {
        "signature_header": "X-Signature",
        "algorithm": "sha256",
        "encoding": "hex",
        "prefix": "sha256=",
        "timestamp_header": "X-Timestamp",
        "signed_template": "{timestamp}.{body}",
    },
}

TIMESTAMPED = ("standard-webhooks", "svix", "stripe", "slack", "paddle", "generic-hmac")

# Where each scheme carries its digest: (header, text before the digest in that header).
# The text before may depend on the timestamp, so it is a function of the header value.
SIGNATURE_HEADER = {
    "standard-webhooks": "webhook-signature",
    "svix": "svix-signature",
    "stripe": "stripe-signature",
    "github": "x-hub-signature-256",
    "shopify": "x-shopify-hmac-sha256",
    "slack": "x-slack-signature",
    "twilio": "x-twilio-signature",
    "square": "x-square-hmacsha256-signature",
    "paddle": "paddle-signature",
    "generic-hmac": "x-signature",
}


def secret_for(scheme: str, seed: bytes) -> str:
    """A secret in the form the scheme's provider hands out, derived from ``seed``."""
    import base64

    if scheme in ("standard-webhooks", "svix"):
        return "whsec_" + base64.b64encode(seed).decode()
    return "sec_" + seed.hex()


def signed_request(scheme: str, body: bytes, secret: str, timestamp: int) -> Request:
    """A request that ``scheme`` signs with ``secret`` at ``timestamp``.

    Twilio is signed in JSON mode (bodySHA256 in the URL), where the signature
    covers the exact body bytes, like every other scheme here.
    """
    options = OPTIONS[scheme]
    extra: dict[str, Any] = {}
    query: tuple[tuple[str, str], ...] = ()
    if scheme == "twilio":
        query = twilio_json_query(body)
        extra = {"query": query, "json": True}
    headers = get_scheme(scheme).sign(body, secret, timestamp=timestamp, options=options, **extra)
    return Request(headers={k.lower(): v for k, v in headers.items()}, body=body, url=PUBLIC_URL, query=query)


def split_signature(scheme: str, value: str) -> tuple[str, str]:
    """Split a signature header value into (text before the digest, digest)."""
    if scheme in ("standard-webhooks", "svix"):
        return value[:3], value[3:]
    if scheme in ("stripe", "paddle", "github", "slack", "generic-hmac"):
        head, _, digest = value.rpartition("=")
        return head + "=", digest
    return "", value


def with_timestamp(scheme: str, request: Request, old: int, new: int) -> Request:
    """The same request claiming timestamp ``new`` instead of ``old`` (signature untouched)."""
    headers = dict(request.headers)
    if scheme == "stripe":
        headers["stripe-signature"] = headers["stripe-signature"].replace(f"t={old},", f"t={new},", 1)
    elif scheme == "paddle":
        headers["paddle-signature"] = headers["paddle-signature"].replace(f"ts={old};", f"ts={new};", 1)
    else:
        name = {
            "standard-webhooks": "webhook-timestamp",
            "svix": "svix-timestamp",
            "slack": "x-slack-request-timestamp",
            "generic-hmac": "x-timestamp",
        }[scheme]
        assert headers[name] == str(old)
        headers[name] = str(new)
    return Request(headers=headers, body=request.body, url=request.url, query=request.query)


def replace_header(request: Request, name: str, value: str) -> Request:
    headers = dict(request.headers)
    headers[name] = value
    return Request(headers=headers, body=request.body, url=request.url, query=request.query)


def verify(scheme: str, request: Request, secrets: list[str], now: float, tolerance: int = 300) -> bool:
    return get_scheme(scheme).verify(request, secrets, now=now, tolerance_seconds=tolerance, options=OPTIONS[scheme])
