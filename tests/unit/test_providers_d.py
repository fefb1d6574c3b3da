"""Catalogue entries Replicate, Postmark, Adyen and Mailgun, checked against what their providers publish.

Replicate's own Python client (``replicate``) and Mailgun's (``mailgun``)
verify webhooks but cannot sign them: what the catalogue's scheme signs must
pass their check, and a change must not. Adyen's (``Adyen``) also signs: its
signatures must verify here and ours there. Postmark publishes no library that
checks a webhook (it signs nothing): its entry is checked against the basic
authentication its docs describe. Their published vectors verify through
tests/unit/test_providers.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import Request, get_scheme

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


# --------------------------------------------------------------------------- Adyen

ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"  # Adyen's UtilTest key
ADYEN_ITEMS: list[dict[str, Any]] = [
    {
        "pspReference": "7914073381342284",
        "merchantReference": "TestPayment-1407325143704",
        "merchantAccountCode": "TestMerchant",
        "amount": {"currency": "EUR", "value": 1130},
        "eventCode": "AUTHORISATION",
        "success": "true",
        "eventDate": "2019-05-06T17:15:34.121+02:00",
        "paymentMethod": "visa",
    },
    {
        "pspReference": "QFQTPCQ8HXSKGK82",
        "originalReference": "7914073381342284",
        "merchantReference": "order:42 caf\u00e9 \u2713 \\ /",
        "merchantAccountCode": "TestMerchant",
        "amount": {"currency": "USD", "value": 0},
        "eventCode": "CAPTURE",
        "success": "false",
        "reason": "insufficient balance",
    },
    {
        "pspReference": "ZVWN7D3WSMK2WN82",
        "amount": {"currency": "EUR", "value": 0},
        "eventCode": "REPORT_AVAILABLE",
        "success": "true",
    },
]


def _notification(body: bytes) -> dict[str, Any]:
    document = json.loads(body)
    assert isinstance(document, dict)
    return document


def _adyen_item(body: bytes) -> dict[str, Any]:
    item = _notification(body)["notificationItems"][0]["NotificationRequestItem"]
    assert isinstance(item, dict)
    return item


def _adyen_signed(item: dict[str, Any], key: str = ADYEN_KEY) -> Request:
    scheme = get_scheme("adyen")
    body = scheme.envelope(json.dumps(item).encode(), key, timestamp=NOW, options={})
    return Request(headers=scheme.sign(body, key, timestamp=NOW, options={}), body=body)


@pytest.mark.parametrize("item", ADYEN_ITEMS)
def test_adyen_library_accepts_what_the_catalogue_entry_signs(item: dict[str, Any]) -> None:
    pytest.importorskip("Adyen")
    from Adyen.util import is_valid_hmac_notification

    request = _adyen_signed(item)
    assert request.headers == {}  # Adyen sends its signature in the body only
    assert is_valid_hmac_notification(_notification(request.body), ADYEN_KEY)
    tampered = _notification(request.body)
    tampered["notificationItems"][0]["NotificationRequestItem"]["pspReference"] += "0"
    assert not is_valid_hmac_notification(tampered, ADYEN_KEY)


@pytest.mark.parametrize("item", ADYEN_ITEMS)
def test_adyen_library_signature_is_accepted_by_the_catalogue_entry(item: dict[str, Any]) -> None:
    pytest.importorskip("Adyen")
    from Adyen.util import generate_notification_sig

    signed = dict(item)
    signature = generate_notification_sig(signed, ADYEN_KEY).decode()
    document = {"live": "false", "notificationItems": [{"NotificationRequestItem": signed}]}
    document["notificationItems"][0]["NotificationRequestItem"]["additionalData"] = {"hmacSignature": signature}
    request = Request(headers={"content-type": "application/json"}, body=json.dumps(document).encode())
    assert _verify("adyen", request, ADYEN_KEY)
    assert not _verify("adyen", request, ADYEN_KEY[:-1] + "7")


def test_adyen_reads_a_signed_delivery_id_and_event_type_and_answers_accepted() -> None:
    entry = PROVIDERS["adyen"]
    scheme = get_scheme(entry.scheme)
    request = _adyen_signed(ADYEN_ITEMS[0])
    assert scheme.delivery_id(request, entry.options) == "7914073381342284:AUTHORISATION:true"
    assert scheme.event_type(request, entry.options) == "AUTHORISATION"
    assert entry.delivery_id_signed() and entry.event_type_signed()
    assert dict(entry.answer or {}) == {"status": 200, "body": "[accepted]", "content_type": "text/plain"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("pspReference",), "7914073381342285"),
        (("originalReference",), "x"),
        (("merchantAccountCode",), "OtherMerchant"),
        (("merchantReference",), "TestPayment-1"),
        (("amount", "value"), 1131),
        (("amount", "currency"), "USD"),
        (("eventCode",), "REFUND"),
        (("success",), "false"),
    ],
)
def test_adyen_any_change_to_a_signed_field_is_rejected(path: tuple[str, ...], value: Any) -> None:
    document = _notification(_adyen_signed(ADYEN_ITEMS[0]).body)
    target = document["notificationItems"][0]["NotificationRequestItem"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert not _verify("adyen", Request(headers={}, body=json.dumps(document).encode()), ADYEN_KEY)


def test_adyen_unsigned_fields_are_not_covered_and_the_id_stays_the_same() -> None:
    # What Adyen does not sign can change without notice; the entry says so, and the
    # delivery id (signed fields only) makes such a copy a duplicate.
    original = _adyen_signed(ADYEN_ITEMS[0])
    document = _notification(original.body)
    document["notificationItems"][0]["NotificationRequestItem"]["reason"] = "changed"
    changed = Request(headers={}, body=json.dumps(document).encode())
    scheme, options = get_scheme("adyen"), PROVIDERS["adyen"].options
    assert _verify("adyen", changed, ADYEN_KEY)
    assert scheme.delivery_id(changed, options) == scheme.delivery_id(original, options)
    assert scheme.replay_digest(changed, options) == scheme.replay_digest(original, options)
    assert "reason" in PROVIDERS["adyen"].notes


# --------------------------------------------------------------------------- Mailgun

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"  # mailgun-php's WebhookTest key
MAILGUN_EVENTS = [
    b'{"event":"delivered","id":"CPgfbmQMTCKtHW6uIWtuVe","timestamp":1521472262.908181}',
    b'{"event":"failed","severity":"permanent","recipient":"caf\\u00e9@example.com"}',
]


def _mailgun_signed(event: bytes, token: str | None = None, timestamp: int = NOW) -> Request:
    scheme = get_scheme("mailgun")
    body = scheme.envelope(event, MAILGUN_KEY, timestamp=timestamp, options={}, delivery_id=token)
    return Request(headers=scheme.sign(body, MAILGUN_KEY, timestamp=timestamp, options={}), body=body)


def _mailgun_signature(request: Request) -> dict[str, Any]:
    signature = _notification(request.body)["signature"]
    assert isinstance(signature, dict)
    return signature


@pytest.mark.parametrize("event", MAILGUN_EVENTS)
def test_mailgun_library_accepts_what_the_catalogue_entry_signs(event: bytes) -> None:
    pytest.importorskip("mailgun")
    from mailgun.security import SecurityGuard

    request = _mailgun_signed(event)
    assert request.headers == {}  # Mailgun sends its signature in the body only
    signature = _mailgun_signature(request)
    fields = (signature["token"], signature["timestamp"], signature["signature"])
    assert SecurityGuard.verify_webhook(MAILGUN_KEY, *fields, max_age_seconds=0)
    assert not SecurityGuard.verify_webhook(MAILGUN_KEY, fields[0] + "x", *fields[1:], max_age_seconds=0)
    assert not SecurityGuard.verify_webhook(MAILGUN_KEY + "x", *fields, max_age_seconds=0)


def test_mailgun_php_bad_vector_is_rejected() -> None:
    # mailgun-php tests/Api/WebhookTest.php testVerifyWebhookBad: the good signature with another token.
    body = json.dumps(
        {
            "signature": {
                "timestamp": "1403645220",
                "token": "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr",
                "signature": "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33",
            },
            "event-data": {"event": "delivered"},
        }
    ).encode()
    assert not get_scheme("mailgun").verify(
        Request(headers={}, body=body), [MAILGUN_KEY], now=1403645220, tolerance_seconds=300, options={}
    )


def test_mailgun_token_is_the_signed_delivery_id_and_the_event_type_is_unsigned() -> None:
    entry = PROVIDERS["mailgun"]
    scheme = get_scheme(entry.scheme)
    request = _mailgun_signed(MAILGUN_EVENTS[0], token="5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6")
    assert _verify("mailgun", request, MAILGUN_KEY)
    assert scheme.delivery_id(request, entry.options) == "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6"
    assert scheme.event_type(request, entry.options) == "delivered"
    assert entry.delivery_id_signed() and not entry.event_type_signed()
    assert dict(entry.answer or {}) == {"status": 200, "body": "", "content_type": "text/plain"}


def test_mailgun_another_event_beside_a_used_signature_is_a_duplicate_not_a_new_delivery() -> None:
    scheme, options = get_scheme("mailgun"), PROVIDERS["mailgun"].options
    original = _mailgun_signed(MAILGUN_EVENTS[0])
    document = _notification(original.body)
    document["event-data"] = json.loads(MAILGUN_EVENTS[1])
    forged = Request(headers={}, body=json.dumps(document).encode())
    # The signature still verifies (event-data is not signed), but the processor's key is the same.
    assert _verify("mailgun", forged, MAILGUN_KEY)
    assert scheme.delivery_id(forged, options) == scheme.delivery_id(original, options)
    assert scheme.replay_digest(forged, options) == scheme.replay_digest(original, options)


@pytest.mark.parametrize("offset", [-301, 301, -10_000])
def test_mailgun_signature_outside_the_window_is_rejected(offset: int) -> None:
    assert _verify("mailgun", _mailgun_signed(MAILGUN_EVENTS[0]), MAILGUN_KEY)
    assert not _verify("mailgun", _mailgun_signed(MAILGUN_EVENTS[0], timestamp=NOW + offset), MAILGUN_KEY)


@pytest.mark.parametrize("field", ["timestamp", "token", "signature"])
def test_mailgun_any_change_to_the_signature_object_is_rejected(field: str) -> None:
    document = _notification(_mailgun_signed(MAILGUN_EVENTS[0]).body)
    value = document["signature"][field]
    document["signature"][field] = str(int(value) + 1) if field == "timestamp" else value[:-1] + "0"
    if document["signature"][field] == value:
        document["signature"][field] = value[:-1] + "1"
    assert not _verify("mailgun", Request(headers={}, body=json.dumps(document).encode()), MAILGUN_KEY)


def test_mailgun_subaccount_parent_signature_verifies_with_the_parent_key() -> None:
    parent_key = "parent-signing-key"
    request = _mailgun_signed(MAILGUN_EVENTS[0])
    document = _notification(request.body)
    by_parent = get_scheme("mailgun").envelope(
        request.body, parent_key, timestamp=NOW, options={}, delivery_id=document["signature"]["token"]
    )
    document["signature"]["parent-signature"] = _notification(by_parent)["signature"]["signature"]
    both = Request(headers={}, body=json.dumps(document).encode())
    assert _verify("mailgun", both, MAILGUN_KEY)
    assert _verify("mailgun", both, parent_key)
    assert not _verify("mailgun", both, "another-key")
