"""Catalogue entries checked against the providers' own libraries, with the catalogue's scheme and options.

Each library is an independent oracle: it accepts what the kit signs, and,
where it can sign, the kit accepts what it signs. The libraries are test
dependencies (requirements-test.txt). Paddle's (paddle-python-sdk) is not: its
wheel installs top-level `tests` and `examples` packages that would shadow this
repository's; the paddle entry rests on the vectors of that SDK's Verifier tests
(tests/unit/vectors/schemes/paddle.json).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import Request, get_scheme

SCHEME_VECTORS = Path(__file__).parent / "vectors" / "schemes"
BODIES = [b'{"type":"user.created","data":{"id":"user_1"}}', '{"name":"Zoë ✓ 日本","event_id":"evt_1"}'.encode()]
NOTIFICATION_URL = "https://hooks.example.com/prod/webhooks/square"


def _options(provider: str, **extra: Any) -> dict[str, Any]:
    return {**PROVIDERS[provider].options, **extra}


def _signed(provider: str, body: bytes, secret: str, now: int, **extra: Any) -> dict[str, str]:
    """The headers the kit's signer writes for ``provider``, as its catalogue entry configures the scheme."""
    scheme = get_scheme(PROVIDERS[provider].scheme)
    return scheme.sign(body, secret, timestamp=now, options=_options(provider, **extra), delivery_id="msg_oracle1")


def _verifies(provider: str, headers: dict[str, str], body: bytes, secret: str, now: int, **extra: Any) -> bool:
    request = Request(headers={name.lower(): value for name, value in headers.items()}, body=body)
    scheme = get_scheme(PROVIDERS[provider].scheme)
    return scheme.verify(request, [secret], now=now, tolerance_seconds=300, options=_options(provider, **extra))


def _vectors(scheme: str) -> list[dict[str, Any]]:
    return json.loads((SCHEME_VECTORS / f"{scheme}.json").read_text())["vectors"]


# --------------------------------------------------------------------------- stripe


@pytest.mark.parametrize("vector", _vectors("stripe"), ids=lambda v: v["name"])
def test_stripe_library_accepts_the_published_stripe_vector(vector: dict[str, Any]) -> None:
    stripe = pytest.importorskip("stripe")
    header = vector["headers"]["stripe-signature"]
    assert stripe.WebhookSignature.verify_header(vector["body"], header, vector["secret"], tolerance=None)


# --------------------------------------------------------------------------- square


@pytest.mark.parametrize("vector", _vectors("square"), ids=lambda v: v["name"])
def test_squareup_accepts_the_published_square_vectors(vector: dict[str, Any]) -> None:
    helper = pytest.importorskip("square.utils.webhooks_helper")
    assert helper.verify_signature(
        request_body=vector["body"],
        signature_header=vector["headers"]["x-square-hmacsha256-signature"],
        signature_key=vector["secret"],
        notification_url=vector["options"]["public_url"],
    )


@pytest.mark.parametrize("body", BODIES)
def test_squareup_accepts_what_the_square_entry_signs(body: bytes) -> None:
    helper = pytest.importorskip("square.utils.webhooks_helper")
    secret = "square-signature-key"
    headers = _signed("square", body, secret, int(time.time()), public_url=NOTIFICATION_URL)
    assert helper.verify_signature(
        request_body=body.decode(),
        signature_header=headers["x-square-hmacsha256-signature"],
        signature_key=secret,
        notification_url=NOTIFICATION_URL,
    )
    other_url = NOTIFICATION_URL + "/other"
    assert not helper.verify_signature(
        request_body=body.decode(),
        signature_header=headers["x-square-hmacsha256-signature"],
        signature_key=secret,
        notification_url=other_url,
    )


# --------------------------------------------------------------------------- clerk and resend (Svix)

SVIX_SECRET = "whsec_" + "b3JhY2xlLWtleS1mb3Itc3ZpeC1zZW5kZXJz"  # base64 of "oracle-key-for-svix-senders"


@pytest.mark.parametrize("body", BODIES)
def test_clerk_verify_webhook_logic_accepts_what_the_clerk_entry_signs(body: bytes) -> None:
    # @clerk/backend's verifyWebhook copies svix-id/-timestamp/-signature onto the
    # webhook-* names and checks them with the standardwebhooks library.
    standardwebhooks = pytest.importorskip("standardwebhooks")
    headers = _signed("clerk", body, SVIX_SECRET, int(time.time()))
    mapped = {f"webhook-{part}": headers[f"svix-{part}"] for part in ("id", "timestamp", "signature")}
    standardwebhooks.Webhook(SVIX_SECRET).verify(body, mapped)  # raises if it disagrees


@pytest.mark.parametrize("body", BODIES)
def test_clerk_entry_accepts_svix_headers_signed_by_standardwebhooks(body: bytes) -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    now = int(time.time())
    signature = standardwebhooks.Webhook(SVIX_SECRET).sign(
        "msg_clerk1", datetime.fromtimestamp(now, UTC), body.decode()
    )
    headers = {"svix-id": "msg_clerk1", "svix-timestamp": str(now), "svix-signature": signature}
    assert _verifies("clerk", headers, body, SVIX_SECRET, now)
    assert not _verifies("clerk", {**headers, "svix-id": "msg_clerk2"}, body, SVIX_SECRET, now)


@pytest.mark.parametrize("body", BODIES)
def test_resend_library_accepts_what_the_resend_entry_signs(body: bytes) -> None:
    resend = pytest.importorskip("resend")
    headers = _signed("resend", body, SVIX_SECRET, int(time.time()))
    event = resend.Webhooks.verify(
        {
            "payload": body.decode(),
            "headers": {part: headers[f"svix-{part}"] for part in ("id", "timestamp", "signature")},
            "webhook_secret": SVIX_SECRET,
        }
    )
    assert event == json.loads(body)


@pytest.mark.parametrize("body", BODIES)
def test_resend_entry_accepts_what_the_svix_library_signs(body: bytes) -> None:
    # Resend's documentation verifies its webhooks with Svix's library.
    webhooks = pytest.importorskip("svix.webhooks")
    now = int(time.time())
    signature = webhooks.Webhook(SVIX_SECRET).sign("msg_resend1", datetime.fromtimestamp(now, UTC), body.decode())
    headers = {"svix-id": "msg_resend1", "svix-timestamp": str(now), "svix-signature": signature}
    assert _verifies("resend", headers, body, SVIX_SECRET, now)
