"""Catalogue entries Linear, Modern Treasury and Lithic, checked against what their providers publish.

Modern Treasury's and Lithic's Python libraries are independent oracles: what
the catalogue's scheme signs must pass their check and a change must not;
Modern Treasury's ``get_signature`` signs, so its signatures must verify here.
Linear publishes no Python library: its entry is held to what @linear/sdk's
webhook client reads (the body's webhookTimestamp in milliseconds, the
Linear-Signature hex digest). The published vectors verify through
tests/unit/test_providers.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import Request, SchemeConfigError, body_sha256, get_scheme

NOW = 1_700_000_000


def _signed(
    provider: str, body: bytes, secret: str, *, timestamp: int = NOW, delivery_id: str | None = None
) -> Request:
    entry = PROVIDERS[provider]
    headers = get_scheme(entry.scheme).sign(
        body, secret, timestamp=timestamp, options=dict(entry.options), delivery_id=delivery_id
    )
    return Request(headers={name.lower(): value for name, value in headers.items()}, body=body)


def _verify(provider: str, request: Request, secret: str, *, now: float = NOW, tolerance: int = 300) -> bool:
    entry = PROVIDERS[provider]
    return get_scheme(entry.scheme).verify(
        request, [secret], now=now, tolerance_seconds=tolerance, options=dict(entry.options)
    )


def _read(provider: str, request: Request) -> tuple[str | None, str | None]:
    entry = PROVIDERS[provider]
    scheme = get_scheme(entry.scheme)
    return scheme.delivery_id(request, entry.options), scheme.event_type(request, entry.options)


# --------------------------------------------------------------------------- Linear

LINEAR_SECRET = "lin_wh_example_signing_secret"


def _linear_body(timestamp_ms: Any) -> bytes:
    document = {"action": "create", "type": "Issue", "data": {"id": "2174add1"}, "webhookTimestamp": timestamp_ms}
    return json.dumps(document, separators=(",", ":")).encode()


def test_linear_signs_the_body_and_reads_the_delivery_header_and_the_signed_type() -> None:
    body = _linear_body(NOW * 1000)
    request = _signed("linear", body, LINEAR_SECRET)
    assert set(request.headers) == {"linear-signature"}
    assert len(request.headers["linear-signature"]) == 64  # hex, no prefix
    assert _verify("linear", request, LINEAR_SECRET)
    assert not _verify("linear", request, LINEAR_SECRET + "x")
    delivered = Request(
        headers={**request.headers, "linear-delivery": "234d1a4e-b617-4388-90fe-adc3633d6b72"}, body=body
    )
    assert _read("linear", delivered) == ("234d1a4e-b617-4388-90fe-adc3633d6b72", "Issue")
    assert PROVIDERS["linear"].answer is not None and PROVIDERS["linear"].answer["status"] == 200


@pytest.mark.parametrize("offset_ms", [61_000, -61_000])
def test_linear_webhook_timestamp_is_milliseconds_held_to_the_window(offset_ms: int) -> None:
    # @linear/sdk refuses a webhookTimestamp more than 60 seconds away; a source with that window does too.
    body = _linear_body(NOW * 1000 + offset_ms)
    request = _signed("linear", body, LINEAR_SECRET)
    assert not _verify("linear", request, LINEAR_SECRET, tolerance=60)
    assert _verify("linear", request, LINEAR_SECRET, tolerance=300)


@pytest.mark.parametrize("timestamp", [None, "soon", True, NOW, 1.5])
def test_linear_body_without_a_millisecond_webhook_timestamp_is_refused(timestamp: Any) -> None:
    body = _linear_body(timestamp)
    assert not _verify("linear", _signed("linear", body, LINEAR_SECRET), LINEAR_SECRET)


# --------------------------------------------------------------------------- Modern Treasury

MT_KEY = "mt_webhook_key_example"
MT_BODY = b'{"event":"completed","data":{"id":"0f8e3719-3dfd-4613-9bbf-c0333781b59f","object":"payment_order"}}'


def _mt_client() -> Any:
    pytest.importorskip("modern_treasury")
    from modern_treasury import ModernTreasury

    return ModernTreasury(api_key="test", organization_id="org", webhook_key=MT_KEY)


def test_modern_treasury_library_accepts_what_the_catalogue_entry_signs() -> None:
    client = _mt_client()
    request = _signed("modern-treasury", MT_BODY, MT_KEY)
    headers = {"X-Signature": request.headers["x-signature"]}
    assert client.webhooks.validate_signature(MT_BODY.decode(), headers=headers, key=MT_KEY) is True
    assert client.webhooks.validate_signature(MT_BODY.decode() + " ", headers=headers, key=MT_KEY) is False
    assert client.webhooks.validate_signature(MT_BODY.decode(), headers=headers, key=MT_KEY + "x") is False


@pytest.mark.parametrize("body", [MT_BODY, b"foo", '{"event":"caf\u00e9"}'.encode()])
def test_modern_treasury_library_signature_is_accepted_by_the_catalogue_entry(body: bytes) -> None:
    client = _mt_client()
    signature = client.webhooks.get_signature(body.decode(), key=MT_KEY)
    request = Request(headers={"x-signature": signature}, body=body)
    assert _verify("modern-treasury", request, MT_KEY)
    assert not _verify("modern-treasury", request, MT_KEY + "x")
    assert not _verify("modern-treasury", Request(headers=request.headers, body=body + b" "), MT_KEY)


def test_modern_treasury_reads_the_webhook_id_header_and_the_signed_event() -> None:
    request = _signed("modern-treasury", MT_BODY, MT_KEY)
    with_id = Request(headers={**request.headers, "x-webhook-id": "9a1d7b32-5c0e-4e8f-a1c2-3b4d5e6f7a8b"}, body=MT_BODY)
    assert _read("modern-treasury", with_id) == ("9a1d7b32-5c0e-4e8f-a1c2-3b4d5e6f7a8b", "completed")
    # Without the header the delivery is keyed on the body.
    assert _read("modern-treasury", request) == (body_sha256(MT_BODY), "completed")


# --------------------------------------------------------------------------- Lithic

LITHIC_SECRET = "whsec_zlFsbBZ8Xcodlpcu6NDTdSzZRLSdhkst"  # lithic-python's webhook tests' secret
LITHIC_BODY = b'{"event_type":"card.created","card_token":"7ef7d65c-9023-4da3-b113-3b8583fd7951"}'


def _lithic_verifies(body: bytes, headers: dict[str, str], secret: str) -> bool:
    pytest.importorskip("lithic")
    import standardwebhooks
    from lithic import Lithic

    client = Lithic(api_key="test", webhook_secret=secret)
    try:
        client.webhooks.verify_signature(payload=body.decode(), headers=headers, secret=secret)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def test_lithic_library_accepts_what_the_catalogue_entry_signs() -> None:
    # The library reads the real clock: sign now.
    now = int(time.time())
    request = _signed(
        "lithic", LITHIC_BODY, LITHIC_SECRET, timestamp=now, delivery_id="msg_2Lh9KRb0pzN4LePd3XiA4v12Axj"
    )
    assert _lithic_verifies(LITHIC_BODY, dict(request.headers), LITHIC_SECRET)
    assert not _lithic_verifies(LITHIC_BODY + b" ", dict(request.headers), LITHIC_SECRET)
    assert not _lithic_verifies(LITHIC_BODY, dict(request.headers), "whsec_" + "d3Jvbmc=")
    stale = _signed("lithic", LITHIC_BODY, LITHIC_SECRET, timestamp=now - 600)
    assert not _lithic_verifies(LITHIC_BODY, dict(stale.headers), LITHIC_SECRET)
    assert not _verify("lithic", stale, LITHIC_SECRET, now=now)


def test_lithic_reads_the_webhook_id_and_the_signed_event_type() -> None:
    request = _signed("lithic", LITHIC_BODY, LITHIC_SECRET, delivery_id="msg_2Lh9KRb0pzN4LePd3XiA4v12Axj")
    assert _verify("lithic", request, LITHIC_SECRET)
    assert _read("lithic", request) == ("msg_2Lh9KRb0pzN4LePd3XiA4v12Axj", "card.created")
    # The plain standard-webhooks entry keeps reading type.
    assert get_scheme("standard-webhooks").event_type(request, {}) is None


@pytest.mark.parametrize("value", ["", 3, ["event_type"]])
def test_standard_webhooks_refuses_an_event_type_field_that_is_not_a_path(value: Any) -> None:
    with pytest.raises(SchemeConfigError, match="event_type_field"):
        get_scheme("standard-webhooks").validate_options({"event_type_field": value})
