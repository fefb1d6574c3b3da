"""generic-hmac with the signed timestamp in the JSON body (``timestamp_field``), as Linear sends it.

Linear signs the raw body with HMAC-SHA256, hex, in ``Linear-Signature``, and
puts the send time in the body as ``webhookTimestamp``, Unix milliseconds
(linear.app/docs/api/sdk-webhooks: ``LinearWebhooks.verify(body, signature,
body[LINEAR_WEBHOOK_TS_FIELD])``; linear.app/developers/webhooks). The digest
here is the standard library's HMAC of the body, as Linear documents it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from webhook_verify.check import idempotency_keys
from webhook_verify.schemes import GenericHmac, Request, SchemeConfigError, get_scheme

NOW = 1_700_000_000
TOLERANCE = 300
SECRET = "lin_wh_secret"
LINEAR = {
    "signature_header": "Linear-Signature",
    "timestamp_field": "webhookTimestamp",
    "timestamp_unit": "milliseconds",
    "delivery_id_header": "Linear-Delivery",
    "event_type_field": "type",
}


def linear_body(timestamp: Any) -> bytes:
    document = {"action": "create", "type": "Issue", "data": {"id": "i-1"}, "webhookTimestamp": timestamp}
    return json.dumps(document).encode()


def linear_request(body: bytes, secret: str = SECRET) -> Request:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Request(headers={"linear-signature": signature, "linear-delivery": "d-1"}, body=body)


def verifies(request: Request, options: dict[str, Any] = LINEAR) -> bool:
    return get_scheme("generic-hmac").verify(request, [SECRET], now=NOW, tolerance_seconds=TOLERANCE, options=options)


def test_a_linear_delivery_within_the_window_verifies() -> None:
    assert verifies(linear_request(linear_body(NOW * 1000 - 1234)))


@pytest.mark.parametrize("offset_ms", [-TOLERANCE * 1000, TOLERANCE * 1000])
def test_the_window_is_closed_to_the_millisecond(offset_ms: int) -> None:
    assert verifies(linear_request(linear_body(NOW * 1000 + offset_ms)))
    assert not verifies(linear_request(linear_body(NOW * 1000 + offset_ms + (1 if offset_ms > 0 else -1))))


@pytest.mark.parametrize("timestamp", [(NOW - TOLERANCE - 60) * 1000, (NOW + TOLERANCE + 60) * 1000, NOW])
def test_a_linear_delivery_outside_the_window_is_refused(timestamp: int) -> None:
    # NOW in seconds read as milliseconds is 1970: a unit mix-up fails closed.
    assert not verifies(linear_request(linear_body(timestamp)))


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"type": "Issue"}).encode(),
        linear_body(None),
        linear_body(True),
        linear_body(NOW * 1000 + 0.5),
        linear_body(-NOW * 1000),
        linear_body(f"{NOW * 1000}.0"),
        linear_body(f" {NOW * 1000}"),
        linear_body({"ms": NOW * 1000}),
        json.dumps([NOW * 1000]).encode(),
        b"webhookTimestamp=1700000000000",
    ],
    ids=[
        "missing",
        "null",
        "boolean",
        "fraction",
        "negative",
        "decimal-text",
        "spaced-text",
        "object",
        "array",
        "not-json",
    ],
)
def test_a_signed_body_without_a_whole_timestamp_is_refused(body: bytes) -> None:
    assert not verifies(linear_request(body))


def test_a_timestamp_written_as_digits_in_a_string_is_read() -> None:
    assert verifies(linear_request(linear_body(str(NOW * 1000))))


def test_a_fresh_timestamp_does_not_rescue_a_wrong_signature() -> None:
    assert not verifies(linear_request(linear_body(NOW * 1000), secret="another"))


def test_seconds_are_the_default_unit_and_the_field_is_a_dotted_path() -> None:
    options = {"signature_header": "X-Sig", "timestamp_field": "meta.sent_at"}
    body = json.dumps({"meta": {"sent_at": NOW - 10}}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert verifies(Request(headers={"x-sig": signature}, body=body), options)
    stale = json.dumps({"meta": {"sent_at": NOW - TOLERANCE - 1}}).encode()
    signature = hmac.new(SECRET.encode(), stale, hashlib.sha256).hexdigest()
    assert not verifies(Request(headers={"x-sig": signature}, body=stale), options)


def test_our_signer_signs_the_body_as_linear_does() -> None:
    body = linear_body(NOW * 1000)
    headers = get_scheme("generic-hmac").sign(body, SECRET, timestamp=NOW, options=LINEAR)
    assert headers == {"linear-signature": linear_request(body).headers["linear-signature"]}


def test_a_body_timestamp_counts_as_signed_so_an_unsigned_id_is_kept_beside_the_digest() -> None:
    # The body is signed, so its timestamp is: a retry Linear signs anew has a
    # new digest, and the Linear-Delivery id (a header, unsigned) recognises it.
    scheme, request = get_scheme("generic-hmac"), linear_request(linear_body(NOW * 1000))
    assert scheme.signs_timestamp(LINEAR) and not scheme.delivery_id_signed(LINEAR)
    digest = hashlib.sha256(request.body).hexdigest()
    assert scheme.replay_digest(request, LINEAR) == digest
    assert idempotency_keys(scheme, request, LINEAR, "d-1") == ("d-1", "sha256:" + digest)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"timestamp_header": "X-T", "timestamp_field": "ts"}, "keep timestamp_header if it is a header"),
        ({"timestamp_unit": "milliseconds"}, "set timestamp_field, or remove timestamp_unit"),
        ({"timestamp_header": "X-T", "timestamp_unit": "seconds"}, "set timestamp_field, or remove timestamp_unit"),
        ({"timestamp_field": "ts", "timestamp_unit": "ms"}, "timestamp_unit must be one of"),
        ({"timestamp_field": "ts", "signed_template": "{timestamp}.{body}"}, "no timestamp_header is set"),
    ],
)
def test_unworkable_body_timestamp_options_are_refused_naming_the_fix(options: dict[str, Any], expected: str) -> None:
    options = {"signature_header": "X-Sig", **options}
    with pytest.raises(SchemeConfigError, match=expected):
        GenericHmac.validate_options(options)
    assert not verifies(linear_request(linear_body(NOW * 1000)), options)
