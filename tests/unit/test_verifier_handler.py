"""The verifier's HTTP contract, status code by status code, with in-memory AWS fakes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from shared.message import ENCODING_BASE64, ENCODING_CLAIM_CHECK, ENCODING_TEXT, from_sqs_record
from tests.support.verifier import FakeAws, LambdaContext, api_event, attributes, queued
from verifier import handler as verifier_handler
from webhook_verify.schemes import get_scheme, twilio_json_query

NOW = 1_700_000_000
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-{}"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/{}"
BUCKET = "claim-checks"
MAX_BODY = 64 * 1024
THRESHOLD = 8 * 1024
TWILIO_URL = "https://hooks.example.com/webhooks/twilio"
GENERIC_OPTIONS = {"signature_header": "X-Sig", "delivery_id_field": "ref", "event_type_header": "X-Kind"}

SOURCES = {
    "github": {"scheme": "github", "options": {}},
    "slack": {"scheme": "slack", "options": {}},
    "stripe": {"scheme": "stripe", "options": {}},
    "shopify": {"scheme": "shopify", "options": {}},
    "twilio": {"scheme": "twilio", "options": {"public_url": TWILIO_URL}},
    "generic": {"scheme": "generic-hmac", "options": GENERIC_OPTIONS},
}
SECRETS = {name: f"{name}-secret-value" for name in SOURCES}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAws]:
    """The handler configured from the environment, with AWS replaced by an in-memory fake."""
    sources = {
        name: {**spec, "queue_url": QUEUE.format(name), "secret_arn": SECRET_ARN.format(name), "tolerance_seconds": 300}
        for name, spec in SOURCES.items()
    }
    monkeypatch.setenv("WEBHOOK_SOURCES", json.dumps(sources))
    monkeypatch.setenv("MAX_BODY_BYTES", str(MAX_BODY))
    monkeypatch.setenv("CLAIM_CHECK_BUCKET", BUCKET)
    monkeypatch.setenv("CLAIM_CHECK_THRESHOLD_BYTES", str(THRESHOLD))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    fake = FakeAws()
    for name, secret in SECRETS.items():
        fake.set_secrets(SECRET_ARN.format(name), secret)
    verifier_handler.install(adapters=fake, clock=lambda: float(NOW))
    yield fake
    verifier_handler.reset()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """What the Powertools logger writes (its handler keeps the stdout it was created with)."""
    stream = io.StringIO()
    previous = verifier_handler.logger.registered_handler.setStream(stream)
    yield stream
    verifier_handler.logger.registered_handler.setStream(previous)


def call(event: dict[str, Any]) -> dict[str, Any]:
    return verifier_handler.handler(event, LambdaContext())


def signed(source: str, body: bytes, *, timestamp: int = NOW, extra: dict[str, str] | None = None) -> dict[str, Any]:
    scheme = SOURCES[source]["scheme"]
    headers = get_scheme(scheme).sign(body, SECRETS[source], timestamp=timestamp, options=SOURCES[source]["options"])
    return api_event(source, body, {**headers, **(extra or {})})


GITHUB_BODY = b'{"zen":"Keep it logically awesome.","hook_id":1}'
GITHUB_HEADERS = {"X-GitHub-Delivery": "0b9a7c1e-8c3d", "X-GitHub-Event": "ping"}


# --------------------------------------------------------------------------- 202


def test_valid_webhook_is_enqueued_once_and_answered_202_with_the_delivery_id(aws: FakeAws) -> None:
    response = call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))

    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"id": "0b9a7c1e-8c3d"}
    assert len(aws.sent) == 1
    queue_url, message = aws.sent[0]
    assert queue_url == QUEUE.format("github")
    attrs = attributes(message)
    assert attrs["delivery_id"] == "0b9a7c1e-8c3d"
    assert attrs["event_type"] == "ping"
    assert attrs["body_encoding"] == ENCODING_TEXT
    webhook = queued(message)
    assert webhook.source == "github"
    assert webhook.content_type == "application/json"
    assert webhook.received_at == "2023-11-14T22:13:20.000Z"
    assert message["MessageBody"] == GITHUB_BODY.decode()


def test_202_is_sent_only_after_the_message_was_handed_to_sqs(aws: FakeAws) -> None:
    call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))
    assert aws.calls == ["get_secrets", "send_message"]


def test_queued_message_reads_back_byte_exact_in_the_processor_format(aws: FakeAws) -> None:
    body = b'{"id":"evt_1","type":"charge.succeeded","note":"caf\xc3\xa9"}'
    call(signed("stripe", body))
    _, message = aws.sent[0]
    record = {"body": message["MessageBody"], "messageAttributes": message["MessageAttributes"]}
    webhook = from_sqs_record(record)
    assert (webhook.body, webhook.delivery_id, webhook.event_type) == (body, "evt_1", "charge.succeeded")


def test_binary_body_is_queued_base64_and_round_trips(aws: FakeAws) -> None:
    body = bytes(range(256))
    call(signed("generic", body))
    _, message = aws.sent[0]
    assert attributes(message)["body_encoding"] == ENCODING_BASE64
    assert from_sqs_record(
        {"body": message["MessageBody"], "messageAttributes": message["MessageAttributes"]}
    ).body == (body)


def test_headers_attribute_drops_signature_and_credentials_but_keeps_the_rest(aws: FakeAws) -> None:
    extra = {**GITHUB_HEADERS, "Authorization": "Bearer abc", "Cookie": "s=1", "X-Hub-Signature": "sha1=00"}
    call(signed("github", GITHUB_BODY, extra=extra))
    headers = dict(queued(aws.sent[0][1]).headers)
    assert not {"x-hub-signature-256", "x-hub-signature", "authorization", "cookie"} & set(headers)
    assert headers["x-github-event"] == "ping"
    assert headers["user-agent"] == "GitHub-Hookshot/abc1234"


def test_source_is_taken_from_the_path_when_there_is_no_path_parameter(aws: FakeAws) -> None:
    event = signed("github", GITHUB_BODY, extra=GITHUB_HEADERS)
    event["pathParameters"] = None
    event["path"] = "/webhooks/github/"
    assert call(event)["statusCode"] == 202


def test_plain_text_body_without_base64_is_accepted(aws: FakeAws) -> None:
    headers = get_scheme("github").sign(GITHUB_BODY, SECRETS["github"], timestamp=NOW, options={})
    event = api_event("github", GITHUB_BODY, {**headers, **GITHUB_HEADERS}, base64_body=False)
    assert call(event)["statusCode"] == 202


def test_repeated_headers_in_multi_value_form_are_joined(aws: FakeAws) -> None:
    event = signed("github", GITHUB_BODY, extra=GITHUB_HEADERS)
    event["multiValueHeaders"]["X-Custom"] = ["a", "b"]
    event["headers"]["X-Custom"] = "b"
    call(event)
    assert dict(queued(aws.sent[0][1]).headers)["x-custom"] == "a,b"


def test_delivery_id_falls_back_to_the_body_hash(aws: FakeAws) -> None:
    body = b'{"order":1}'
    response = call(signed("shopify", body))
    assert json.loads(response["body"]) == {"id": hashlib.sha256(body).hexdigest()}


def test_generic_source_uses_configured_id_field_and_event_header(aws: FakeAws) -> None:
    body = b'{"ref":"ord-9"}'
    response = call(signed("generic", body, extra={"X-Kind": "order.paid"}))
    assert json.loads(response["body"]) == {"id": "ord-9"}
    assert attributes(aws.sent[0][1])["event_type"] == "order.paid"


def test_twilio_json_post_verifies_against_public_url_and_query(aws: FakeAws) -> None:
    body = b'{"CallSid":"CA1"}'
    query = twilio_json_query(body)
    headers = get_scheme("twilio").sign(
        body, SECRETS["twilio"], timestamp=NOW, options={"public_url": TWILIO_URL}, query=query
    )
    headers["I-Twilio-Idempotency-Token"] = "idem-1"
    event = api_event("twilio", body, headers, query={k: [v] for k, v in query})
    response = call(event)
    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"id": "idem-1"}


# --------------------------------------------------------------------------- claim check


def test_a_request_reusing_a_pending_unsigned_delivery_id_cannot_overwrite_its_claim_checked_body(
    aws: FakeAws,
) -> None:
    # Given a large GitHub delivery waiting in the queue (X-GitHub-Delivery is not signed)
    genuine = json.dumps({"ref": "refs/heads/main", "blob": "x" * (THRESHOLD + 1)}).encode()
    call(signed("github", genuine, extra=GITHUB_HEADERS))
    # When another validly signed body arrives under the same delivery id
    other = json.dumps({"ref": "refs/heads/other", "blob": "y" * (THRESHOLD + 1)}).encode()
    call(signed("github", other, extra=GITHUB_HEADERS))

    # Then each message points at its own, intact body
    pointers = [json.loads(message["MessageBody"]) for _, message in aws.sent]
    assert pointers[0]["key"] != pointers[1]["key"]
    assert aws.objects[(BUCKET, pointers[0]["key"])][0] == genuine
    assert aws.objects[(BUCKET, pointers[1]["key"])][0] == other


def test_body_above_threshold_goes_to_s3_and_the_message_carries_a_pointer(aws: FakeAws) -> None:
    body = json.dumps({"id": "evt_big", "type": "big", "blob": "x" * (THRESHOLD + 1)}).encode()
    response = call(signed("stripe", body))

    assert response["statusCode"] == 202
    key = "stripe/" + hashlib.sha256(b"evt_big").hexdigest() + "/" + hashlib.sha256(body).hexdigest()
    assert aws.objects[(BUCKET, key)] == (body, "application/json")
    _, message = aws.sent[0]
    assert attributes(message)["body_encoding"] == ENCODING_CLAIM_CHECK
    pointer = json.loads(message["MessageBody"])
    assert pointer == {"bucket": BUCKET, "key": key, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert aws.calls == ["get_secrets", "put_object", "send_message"]


def test_body_at_threshold_stays_inline(aws: FakeAws) -> None:
    body = b'{"id":"e","pad":"' + b"x" * (THRESHOLD - 2000) + b'"}'
    call(signed("stripe", body))
    assert not aws.objects
    assert attributes(aws.sent[0][1])["body_encoding"] == ENCODING_TEXT


def test_binary_body_whose_base64_exceeds_threshold_is_claim_checked(aws: FakeAws) -> None:
    body = bytes(range(256)) * (THRESHOLD // 256)  # exactly the threshold, 4/3 bigger once base64
    assert len(body) == THRESHOLD
    call(signed("generic", body))
    assert attributes(aws.sent[0][1])["body_encoding"] == ENCODING_CLAIM_CHECK


# --------------------------------------------------------------------------- 503


def test_send_failure_answers_503_with_retry_after(aws: FakeAws) -> None:
    aws.fail_send = True
    response = call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))
    assert response["statusCode"] == 503
    assert int(response["headers"]["Retry-After"]) > 0
    assert aws.sent == []


def test_put_object_failure_answers_503_and_sends_nothing(aws: FakeAws) -> None:
    aws.fail_put = True
    body = json.dumps({"id": "evt_big", "blob": "x" * (THRESHOLD + 1)}).encode()
    response = call(signed("stripe", body))
    assert response["statusCode"] == 503
    assert "Retry-After" in response["headers"]
    assert "send_message" not in aws.calls


def test_secret_fetch_failure_answers_503(aws: FakeAws) -> None:
    aws.fail_secrets = True
    response = call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))
    assert response["statusCode"] == 503
    assert "Retry-After" in response["headers"]


@pytest.mark.parametrize("secret_string", ["not json", '{"secret": "x"}', '{"secrets": [1]}', "[]"])
def test_malformed_secret_answers_503_so_the_provider_retries_once_it_is_fixed(
    aws: FakeAws, secret_string: str
) -> None:
    aws.secret_strings[SECRET_ARN.format("github")] = secret_string
    assert call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))["statusCode"] == 503


# --------------------------------------------------------------------------- 401


def _unauthorized_cases() -> dict[str, dict[str, Any]]:
    good = get_scheme("stripe").sign(b'{"id":"e"}', SECRETS["stripe"], timestamp=NOW, options={})
    stale = get_scheme("stripe").sign(b'{"id":"e"}', SECRETS["stripe"], timestamp=NOW - 301, options={})
    future = get_scheme("stripe").sign(b'{"id":"e"}', SECRETS["stripe"], timestamp=NOW + 301, options={})
    wrong = get_scheme("stripe").sign(b'{"id":"e"}', "another-secret", timestamp=NOW, options={})
    return {
        "no signature": api_event("stripe", b'{"id":"e"}', {}),
        "wrong secret": api_event("stripe", b'{"id":"e"}', wrong),
        "stale timestamp": api_event("stripe", b'{"id":"e"}', stale),
        "future timestamp": api_event("stripe", b'{"id":"e"}', future),
        "tampered body": api_event("stripe", b'{"id":"f"}', good),
        "garbage header": api_event("stripe", b'{"id":"e"}', {"Stripe-Signature": "t=abc,v1=;;;"}),
    }


@pytest.mark.parametrize("case", list(_unauthorized_cases()))
def test_every_signature_or_timestamp_failure_gets_the_same_401(aws: FakeAws, case: str) -> None:
    response = call(_unauthorized_cases()[case])
    assert response["statusCode"] == 401
    assert response["body"] == '{"message":"Unauthorized"}'
    assert aws.sent == []


def test_source_with_no_active_secret_fails_closed(aws: FakeAws) -> None:
    aws.set_secrets(SECRET_ARN.format("github"))
    assert call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))["statusCode"] == 401


def test_rotated_secret_list_accepts_either_secret(aws: FakeAws) -> None:
    aws.set_secrets(SECRET_ARN.format("github"), "brand-new-secret", SECRETS["github"])
    assert call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))["statusCode"] == 202


# --------------------------------------------------------------------------- 400, 404, 413


def test_unknown_source_is_404_without_touching_aws(aws: FakeAws) -> None:
    response = call(signed("github", GITHUB_BODY) | {"pathParameters": {"source": "gitlab"}, "path": "/webhooks/x"})
    assert response["statusCode"] == 404
    assert aws.calls == []


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda e: e.update(body="not base64!!"), id="bad-base64"),
        pytest.param(lambda e: e.update(body="\ud800", isBase64Encoded=False), id="lone-surrogate"),
    ],
)
def test_unparseable_request_is_400(aws: FakeAws, mutate: Any) -> None:
    event = signed("github", GITHUB_BODY, extra=GITHUB_HEADERS)
    mutate(event)
    assert call(event)["statusCode"] == 400
    assert aws.sent == []


@pytest.mark.parametrize("base64_body", [True, False])
def test_body_over_the_cap_is_413_and_at_the_cap_is_accepted(aws: FakeAws, base64_body: bool) -> None:
    for size, expected in ((MAX_BODY + 1, 413), (MAX_BODY, 202)):
        body = b'{"p":"' + b"x" * (size - 8) + b'"}'
        assert len(body) == size
        headers = get_scheme("github").sign(body, SECRETS["github"], timestamp=NOW, options={})
        event = api_event("github", body, {**headers, **GITHUB_HEADERS}, base64_body=base64_body)
        assert call(event)["statusCode"] == expected


# --------------------------------------------------------------------------- Slack handshake


def test_slack_url_verification_is_answered_after_the_signature_check_and_not_enqueued(aws: FakeAws) -> None:
    body = b'{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'
    response = call(signed("slack", body))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert aws.sent == []


def test_unsigned_slack_url_verification_is_401(aws: FakeAws) -> None:
    body = b'{"challenge":"c","type":"url_verification"}'
    response = call(api_event("slack", body, {"X-Slack-Request-Timestamp": str(NOW), "X-Slack-Signature": "v0=00"}))
    assert response["statusCode"] == 401
    assert "c" not in json.loads(response["body"]).values()


def test_slack_event_callback_is_enqueued_with_event_id(aws: FakeAws) -> None:
    body = b'{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention"}}'
    response = call(signed("slack", body))
    assert json.loads(response["body"]) == {"id": "Ev08MFMKH6"}
    assert attributes(aws.sent[0][1])["event_type"] == "app_mention"


# --------------------------------------------------------------------------- observability


def test_logs_and_metrics_never_contain_secret_signature_or_body(
    aws: FakeAws, capsys: pytest.CaptureFixture[str], logs: io.StringIO
) -> None:
    body = b'{"zen":"a-very-recognisable-body-marker"}'
    event = signed("github", body, extra=GITHUB_HEADERS)
    signature = event["headers"]["x-hub-signature-256"]
    call(event)
    aws.fail_send = True
    call(event)
    call(api_event("github", body, {"X-Hub-Signature-256": signature[:-1] + "0"}))
    output = capsys.readouterr().out + logs.getvalue()
    assert output.count("webhook ") == 3, "all three outcomes were logged"
    assert "a-very-recognisable-body-marker" not in output
    assert signature.split("=", 1)[1] not in output
    assert SECRETS["github"] not in output
    assert base64.b64encode(body).decode() not in output


def test_metrics_count_outcomes_per_source_and_rejections_per_reason(
    aws: FakeAws, capsys: pytest.CaptureFixture[str]
) -> None:
    call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))
    call(api_event("github", GITHUB_BODY, {}))
    aws.fail_send = True
    call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    seen = {
        (name["Name"], blob.get("source"), blob.get("reason"))
        for blob in metrics
        for name in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        if name["Name"] != "ColdStart"
    }
    assert seen == {
        ("Accepted", "github", None),
        ("Rejected", "github", "unauthorized"),
        ("EnqueueFailures", "github", None),
    }
    assert all(blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "WebhookKit" for blob in metrics)


def test_correlation_id_is_the_delivery_id(aws: FakeAws, logs: io.StringIO) -> None:
    call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))
    entries = [json.loads(line) for line in logs.getvalue().splitlines()]
    accepted = next(entry for entry in entries if entry["message"] == "webhook accepted")
    assert accepted["correlation_id"] == "0b9a7c1e-8c3d"


def test_real_clock_is_used_when_none_is_installed(aws: FakeAws) -> None:
    verifier_handler.install(adapters=aws)
    headers = get_scheme("stripe").sign(b'{"id":"e"}', SECRETS["stripe"], timestamp=int(time.time()), options={})
    assert call(api_event("stripe", b'{"id":"e"}', headers))["statusCode"] == 202


def test_a_source_with_enforcement_off_counts_every_request_and_each_unverified_one_it_accepted(
    aws: FakeAws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], logs: io.StringIO
) -> None:
    sources = {"github": {**SOURCES["github"], "queue_url": QUEUE.format("github")}}
    sources["github"].update(secret_arn=SECRET_ARN.format("github"), enforce=False)
    monkeypatch.setenv("WEBHOOK_SOURCES", json.dumps(sources))
    verifier_handler.install(adapters=aws, clock=lambda: float(NOW))
    genuine = call(signed("github", GITHUB_BODY, extra=GITHUB_HEADERS))
    forged = call(api_event("github", GITHUB_BODY, {"X-Hub-Signature-256": "sha256=" + "0" * 64}))
    assert (genuine["statusCode"], forged["statusCode"]) == (202, 202)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counted = Counter(
        name["Name"]
        for blob in metrics
        for name in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        if blob.get("source") == "github"
    )
    assert (counted["EnforcementOff"], counted["UnverifiedAccepted"], counted["Accepted"]) == (2, 1, 2)
    assert "enforce = false" in logs.getvalue()
