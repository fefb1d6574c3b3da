"""Catalogue entries Replicate and Postmark, checked against what their providers publish.

Replicate's own Python client (``replicate``) verifies webhooks but cannot
sign them: what the catalogue's scheme signs must pass its ``validate``, and a
changed byte must not. Postmark publishes no library that checks a webhook (it
signs nothing): its entry is checked against the basic authentication its docs
describe. Their published vectors verify through tests/unit/test_providers.py.
"""

from __future__ import annotations

import base64

import pytest

from shared.providers import PROVIDERS
from shared.schemes import Request, get_scheme

NOW = 1_700_000_000
REPLICATE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # replicate-python's test secret
PREDICTIONS = [
    b'{"id":"ufawqhfynnddngldkgtslldrkq","status":"starting","input":{"text":"Alice"},"output":null}',
    b'{"id":"ufawqhfynnddngldkgtslldrkq","status":"succeeded","output":["https://replicate.delivery/x.png"]}',
    '{"id":"p1","status":"failed","error":"caf\u00e9 \u2713"}\n'.encode(),
]


def _signed(provider: str, body: bytes, secret: str, delivery_id: str | None = None) -> Request:
    entry = PROVIDERS[provider]
    headers = get_scheme(entry.scheme).sign(
        body, secret, timestamp=NOW, options=dict(entry.options), delivery_id=delivery_id
    )
    return Request(headers={name.lower(): value for name, value in headers.items()}, body=body)


def _verify(provider: str, request: Request, secret: str) -> bool:
    entry = PROVIDERS[provider]
    return get_scheme(entry.scheme).verify(request, [secret], now=NOW, tolerance_seconds=300, options=entry.options)


# --------------------------------------------------------------------------- Replicate


@pytest.mark.parametrize("body", PREDICTIONS)
def test_replicate_library_accepts_what_the_catalogue_entry_signs(body: bytes) -> None:
    pytest.importorskip("replicate")
    from replicate.webhook import InvalidSignatureError, Webhooks, WebhookSigningSecret

    request = _signed("replicate", body, REPLICATE_SECRET, delivery_id="msg_p5jXN8AQM9LWM0D4loKWxJek")
    secret = WebhookSigningSecret(key=REPLICATE_SECRET)
    Webhooks.validate(headers=dict(request.headers), body=body.decode(), secret=secret, tolerance=None)
    with pytest.raises(InvalidSignatureError):
        Webhooks.validate(headers=dict(request.headers), body=body.decode() + " ", secret=secret, tolerance=None)


def test_replicate_delivery_id_is_the_signed_webhook_id_and_no_event_type_is_read() -> None:
    request = _signed("replicate", PREDICTIONS[1], REPLICATE_SECRET, delivery_id="msg_2Lh9KRb0pzN4LePd3XiA4")
    entry = PROVIDERS["replicate"]
    scheme = get_scheme(entry.scheme)
    assert _verify("replicate", request, REPLICATE_SECRET)
    assert scheme.delivery_id(request, entry.options) == "msg_2Lh9KRb0pzN4LePd3XiA4"
    assert entry.delivery_id_signed()
    # A prediction has a status, not a type: the entry says so rather than guess one.
    assert scheme.event_type(request, entry.options) is None


def test_replicate_signature_with_a_changed_webhook_id_is_rejected() -> None:
    request = _signed("replicate", PREDICTIONS[0], REPLICATE_SECRET, delivery_id="msg_original")
    replayed = Request(headers={**request.headers, "webhook-id": "msg_fresh"}, body=request.body)
    assert not _verify("replicate", replayed, REPLICATE_SECRET)


# --------------------------------------------------------------------------- Postmark

POSTMARK_SECRET = "user:pass"  # the HttpAuth of Postmark's Webhooks API reference
DELIVERY = b'{"RecordType":"Delivery","MessageID":"883953f4-6105-42a2-a16a-77a8eac79483"}'


def _basic(credentials: bytes) -> Request:
    header = "Basic " + base64.b64encode(credentials).decode()
    return Request(headers={"authorization": header, "content-type": "application/json"}, body=DELIVERY)


def test_postmark_credentials_in_the_webhook_url_arrive_as_basic_auth_and_are_accepted() -> None:
    # https://user:pass@host/path: clients send the URL's credentials as RFC 7617 Basic.
    assert _verify("postmark", _basic(b"user:pass"), POSTMARK_SECRET)
    assert _signed("postmark", DELIVERY, POSTMARK_SECRET).headers == {"authorization": "Basic dXNlcjpwYXNz"}


@pytest.mark.parametrize("credentials", [b"user:", b"user", b"user:pas", b"user:pass ", b"User:pass", b":pass"])
def test_postmark_other_credentials_are_refused(credentials: bytes) -> None:
    assert not _verify("postmark", _basic(credentials), POSTMARK_SECRET)


def test_postmark_without_credentials_is_refused() -> None:
    assert not _verify("postmark", Request(headers={}, body=DELIVERY), POSTMARK_SECRET)


def test_postmark_is_marked_weaker_and_reads_its_record_type_as_unsigned() -> None:
    entry = PROVIDERS["postmark"]
    scheme = get_scheme(entry.scheme)
    assert entry.weaker and entry.verification == "shared-token"
    assert "allowed_cidrs" in entry.notes and entry.ip_ranges
    assert scheme.event_type(_basic(b"user:pass"), entry.options) == "Delivery"
    assert not entry.event_type_signed() and not entry.delivery_id_signed()
