"""Genuine deliveries that reach ``verifier.core.process`` in an unusual shape: an empty
body, Svix's unbranded headers, a header a proxy repeated, a deeply nested Slack body,
a Twilio query API Gateway decoded. Each is accepted by the provider's own library (or
by what the provider documents) and must verify here; their unsigned twins must not.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.schemes import HEADER_SIGNED, OPTIONS, PUBLIC_URL, SIGNATURE_HEADER, secret_for, signed_request
from tests.support.verifier import FakeAws, api_event, attributes, queued
from verifier.config import SourceConfig, VerifierConfig
from verifier.core import process
from verifier.proxy_event import merged_headers, raw_body
from webhook_kit.local.certificates import LocalWeb
from webhook_verify.schemes import SCHEMES, get_scheme

NOW = 1_700_000_000
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-{}"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/{}"


def _run(scheme: str, event: dict[str, Any], secret: str, options: dict[str, Any] | None = None) -> tuple[Any, FakeAws]:
    """``event`` through ``process`` for a source named after ``scheme`` with ``secret``."""
    source = SourceConfig(
        name=scheme,
        scheme=scheme,
        queue_url=QUEUE.format(scheme),
        secret_arn=ARN.format(scheme),
        options=OPTIONS[scheme] if options is None else options,
    )
    aws = FakeAws()
    aws.set_secrets(ARN.format(scheme), secret)
    config = VerifierConfig(sources={scheme: source}, max_body_bytes=1024 * 1024, claim_check_bucket="bucket")
    # LocalWeb serves the test certificates the certificate schemes are signed with here.
    return process(event, config=config, adapters=aws, now=float(NOW), web=LocalWeb()), aws


def _signed_event(scheme: str, body: bytes, secret: str, *, base64_body: bool = True) -> dict[str, Any]:
    request = signed_request(scheme, body, secret, NOW)
    query = {k: [v] for k, v in request.query}
    # request.body: where the signature travels in the body, the provider's envelope of ``body``.
    return api_event(scheme, request.body, dict(request.headers), base64_body=base64_body, query=query)


# --------------------------------------------------------------------------- 1. empty body


def test_standard_webhooks_signed_empty_body_is_accepted() -> None:
    # standardwebhooks 1.1.0, Webhook.sign: signs f"{msg_id}.{timestamp}.{data}", so an
    # empty body is "id.timestamp." with the trailing dot, and its verify accepts it.
    from standardwebhooks import Webhook

    secret = secret_for("standard-webhooks", b"empty-body-key")
    signature = Webhook(secret).sign("msg_empty", datetime.fromtimestamp(NOW, UTC), "")
    headers = {"webhook-id": "msg_empty", "webhook-timestamp": str(NOW), "webhook-signature": signature}
    outcome, aws = _run("standard-webhooks", api_event("standard-webhooks", b"", headers), secret)
    assert (outcome.status, outcome.delivery_id) == (202, "msg_empty")
    assert len(aws.sent) == 1


@pytest.mark.parametrize("body_field", ["", None], ids=["empty-string", "null"])
def test_svix_signed_empty_body_is_accepted_whether_api_gateway_sends_empty_or_null(body_field: str | None) -> None:
    # API Gateway's proxy event carries "body": null for a request without a body.
    from svix.webhooks import Webhook

    secret = secret_for("svix", b"svix-empty-key")
    signature = Webhook(secret).sign("msg_e", datetime.fromtimestamp(NOW, UTC), "")
    headers = {"svix-id": "msg_e", "svix-timestamp": str(NOW), "svix-signature": signature}
    event = api_event("svix", b"", headers)
    event["body"] = body_field
    event["isBase64Encoded"] = body_field is not None
    outcome, _aws = _run("svix", event, secret)
    assert (outcome.status, outcome.delivery_id) == (202, "msg_e")


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_scheme_accepts_a_signed_empty_body(scheme: str) -> None:
    secret = secret_for(scheme, b"empty")
    outcome, aws = _run(scheme, _signed_event(scheme, b"", secret), secret)
    assert outcome.status == 202, outcome
    [(_queue, message)] = aws.sent
    # Empty, or the provider's envelope of nothing where the signature travels in the body.
    assert message["MessageBody"] == signed_request(scheme, b"", secret, NOW).body.decode()


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("body_field", ["", None], ids=["empty-string", "null"])
def test_an_unsigned_empty_body_is_401(scheme: str, body_field: str | None) -> None:
    event = api_event(scheme, b"", {})
    event["body"] = body_field
    outcome, aws = _run(scheme, event, secret_for(scheme, b"empty"))
    assert outcome.status == 401
    assert aws.sent == []


def test_an_empty_body_signed_for_another_body_is_401() -> None:
    secret = secret_for("stripe", b"k")
    event = _signed_event("stripe", b'{"id":"evt_1"}', secret)
    event["body"] = ""
    outcome, _aws = _run("stripe", event, secret)
    assert outcome.status == 401


@pytest.mark.parametrize(
    "event",
    [{"body": None}, {"body": ""}, {"body": "", "isBase64Encoded": True}, {}],
    ids=["null", "empty", "b64", "absent"],
)
def test_raw_body_of_a_request_without_a_body_is_empty_bytes(event: dict[str, Any]) -> None:
    assert raw_body(event, 10) == b""


# --------------------------------------------------------------------------- 2. svix unbranded headers


def test_svix_delivery_with_unbranded_webhook_headers_is_accepted_with_its_id() -> None:
    # svix 2.9.1, svix/webhooks.py Webhook.verify: reads svix-id/-signature/-timestamp and
    # falls back to webhook-id/-signature/-timestamp, so Svix may send either set.
    from svix.webhooks import Webhook

    secret = secret_for("svix", b"svix-unbranded")
    body = b'{"type":"invoice.paid"}'
    signature = Webhook(secret).sign("msg_unbranded", datetime.fromtimestamp(NOW, UTC), body.decode())
    headers = {"webhook-id": "msg_unbranded", "webhook-timestamp": str(NOW), "webhook-signature": signature}
    outcome, aws = _run("svix", api_event("svix", body, headers), secret)
    assert (outcome.status, outcome.delivery_id, outcome.event_type) == (202, "msg_unbranded", "invoice.paid")
    forwarded = dict(queued(aws.sent[0][1]).headers)
    assert "webhook-signature" not in forwarded


# --------------------------------------------------------------------------- 5. repeated headers


def _repeat(event: dict[str, Any], name: str, values: list[str]) -> dict[str, Any]:
    """``name`` sent once per value: API Gateway lists them all and keeps the last in ``headers``."""
    for key in [k for k in event["headers"] if k.lower() == name]:
        del event["headers"][key]
        del event["multiValueHeaders"][key]
    event["multiValueHeaders"][name] = values
    event["headers"][name] = values[-1]
    return event


@pytest.mark.parametrize("scheme", HEADER_SIGNED)
def test_signature_header_repeated_with_the_same_value_is_accepted(scheme: str) -> None:
    secret = secret_for(scheme, b"repeat")
    event = _signed_event(scheme, b'{"id":"evt_r","event_id":"e1"}', secret)
    name = SIGNATURE_HEADER[scheme]
    valid = event["headers"][name]
    outcome, aws = _run(scheme, _repeat(event, name, [valid, valid]), secret)
    assert outcome.status == 202, outcome
    forwarded = dict(queued(aws.sent[0][1]).headers)
    assert name not in forwarded


@pytest.mark.parametrize("scheme", HEADER_SIGNED)
@pytest.mark.parametrize("valid_first", [True, False])
def test_signature_header_repeated_with_one_valid_and_one_invalid_value_is_accepted(
    scheme: str, valid_first: bool
) -> None:
    secret = secret_for(scheme, b"repeat")
    event = _signed_event(scheme, b'{"id":"evt_r"}', secret)
    name = SIGNATURE_HEADER[scheme]
    valid = event["headers"][name]
    forged = get_scheme(scheme).sign(b"{}", secret, timestamp=NOW, options=OPTIONS[scheme])[name]
    values = [valid, forged] if valid_first else [forged, valid]
    outcome, _aws = _run(scheme, _repeat(event, name, values), secret)
    assert outcome.status == 202, outcome


# Forged by signing other bodies: only a scheme that signs the body makes them invalid.
@pytest.mark.parametrize("scheme", [name for name in HEADER_SIGNED if SCHEMES[name].signs_body])
def test_signature_header_repeated_with_two_invalid_values_is_401(scheme: str) -> None:
    secret = secret_for(scheme, b"repeat")
    event = _signed_event(scheme, b'{"id":"evt_r"}', secret)
    name = SIGNATURE_HEADER[scheme]
    forged = [
        get_scheme(scheme).sign(body, secret, timestamp=NOW, options=OPTIONS[scheme])[name] for body in (b"1", b"2")
    ]
    outcome, _aws = _run(scheme, _repeat(event, name, forged), secret)
    assert outcome.status == 401


def test_repeated_standard_webhooks_id_takes_the_delivery_id_from_the_signed_value_only() -> None:
    # webhook-id "msg_signed" is covered by the signature; "msg_other" is not. The
    # request verifies (as if msg_signed had been sent alone) but never under msg_other.
    secret = secret_for("standard-webhooks", b"k")
    headers = get_scheme("standard-webhooks").sign(b"{}", secret, timestamp=NOW, options={}, delivery_id="msg_signed")
    event = api_event("standard-webhooks", b"{}", headers)
    for values in (["msg_signed", "msg_other"], ["msg_other", "msg_signed"]):
        outcome, aws = _run("standard-webhooks", _repeat(event, "webhook-id", values), secret)
        assert outcome.status == 202
        assert outcome.delivery_id != "msg_other"
        assert attributes(aws.sent[0][1])["delivery_id"] != "msg_other"


def test_merged_headers_collapse_identical_repeats_and_keep_distinct_values() -> None:
    event = {
        "headers": {"X-A": "1", "X-B": "2", "X-Only-Single": "s"},
        "multiValueHeaders": {"X-A": ["1", "1"], "x-a": ["1"], "X-B": ["1", "2"]},
    }
    headers = merged_headers(event)
    assert dict(headers) == {"x-a": "1", "x-b": "1,2", "x-only-single": "s"}


# --------------------------------------------------------------------------- 6. deeply nested Slack body


def test_slack_signed_body_nested_20000_deep_is_answered_not_raised() -> None:
    secret = "slack-signing-secret"
    body = b"[" * 20_000 + b"]" * 20_000
    outcome, aws = _run("slack", _signed_event("slack", body, secret), secret)
    assert outcome.status == 202
    assert len(aws.sent) == 1


def test_slack_signed_interactive_form_with_a_deeply_nested_payload_is_answered() -> None:
    secret = "slack-signing-secret"
    body = b"payload=" + b"%5B" * 20_000 + b"%5D" * 20_000
    outcome, _aws = _run("slack", _signed_event("slack", body, secret), secret)
    assert outcome.status == 202


# --------------------------------------------------------------------------- 3. Twilio query


@pytest.mark.parametrize(
    "query",
    [
        "To=%2B14155550100&Msg=hello%20world",  # %20 (quote), not urlencode's "+"
        "To=%2B14155550100&Msg=hello+world",  # urlencode's own spelling
        "callback=https://example.com/a/b?c&d=e:f@g",  # typed by hand: / : @ ? left as they are
        "token=abc%3D%3D",  # = escaped ...
        "token=abc==",  # ... or not
        "name=Zo%C3%AB&note=a*b(c)!'",  # encodeURIComponent leaves * ( ) ! ' alone
    ],
)
def test_twilio_query_spelled_as_configured_verifies_after_api_gateway_decodes_it(query: str) -> None:
    # twilio 9.13.0, RequestValidator.compute_signature: HMAC of the URL exactly as given
    # (query included) followed by the sorted form parameters.
    from urllib.parse import parse_qsl, urlencode

    from twilio.request_validator import RequestValidator

    token = "twilio-auth-token"
    params = {"CallSid": "CA1", "From": "+14155550100"}
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + "?" + query, params)
    # API Gateway hands the query over decoded ("+" as a space, %XX as the character),
    # grouped by name (aws/aws-cdk#19827 shows "-+createdAt" arriving as "- createdAt").
    grouped: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        grouped.setdefault(name, []).append(value)
    body = urlencode(params).encode()
    event = api_event("twilio", body, {"X-Twilio-Signature": signature}, query=grouped)
    outcome, _aws = _run("twilio", event, token)
    assert outcome.status == 202, query


def test_twilio_json_post_with_empty_body_is_accepted() -> None:
    from twilio.request_validator import RequestValidator

    token = "twilio-auth-token"
    digest = RequestValidator(token).compute_hash("")
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + "?bodySHA256=" + digest, {})
    event = api_event("twilio", b"", {"X-Twilio-Signature": signature}, query={"bodySHA256": [digest]})
    outcome, _aws = _run("twilio", event, token)
    assert outcome.status == 202


# --------------------------------------------------------------------------- 7. a timestamp in the body


@pytest.mark.parametrize(("offset_seconds", "status"), [(-299, 202), (299, 202), (-301, 401), (301, 401)])
def test_a_linear_style_body_timestamp_is_held_to_the_sources_window(offset_seconds: int, status: int) -> None:
    # Linear: HMAC-SHA256 hex of the body in Linear-Signature, webhookTimestamp (ms) in the body.
    options = {"signature_header": "Linear-Signature", "timestamp_field": "webhookTimestamp"}
    options |= {"timestamp_unit": "milliseconds", "delivery_id_header": "Linear-Delivery"}
    body = json.dumps({"type": "Issue", "webhookTimestamp": (NOW + offset_seconds) * 1000}).encode()
    headers = get_scheme("generic-hmac").sign(body, "lin_secret", timestamp=NOW, options=options)
    event = api_event("generic-hmac", body, {**headers, "Linear-Delivery": "d-7"})
    outcome, aws = _run("generic-hmac", event, "lin_secret", options)
    assert outcome.status == status
    assert len(aws.sent) == (status == 202)
