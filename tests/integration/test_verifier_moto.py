"""The verifier Lambda against the moto server: real SQS, S3 and Secrets Manager over HTTP.

The handler builds its own configuration and boto3/Powertools clients from the
environment, exactly as in Lambda; nothing inside it is replaced.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from shared.message import ENCODING_CLAIM_CHECK, ENCODING_TEXT, from_sqs_record
from tests.support.lambda_context import LambdaContext
from verifier import handler as verifier_handler
from verifier.adapters import AwsAdapters
from verifier.config import ConfigError, load_config
from webhook_verify.schemes import get_scheme

EVENT = json.loads((Path(__file__).parents[1] / "unit" / "vectors" / "apigateway_rest_event.json").read_text())
SOURCE = "github"
SECRET = "moto-github-secret"
BUCKET = "webhook-claim-checks"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def github_event(body: bytes, delivery: str = DELIVERY) -> dict[str, Any]:
    event = copy.deepcopy(EVENT)
    event.pop("_comment")
    headers = {
        **get_scheme("github").sign(body, SECRET, timestamp=0, options={}),
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Event": "push",
    }
    for name, value in headers.items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    event["body"] = base64.b64encode(body).decode()
    return event


@pytest.fixture
def aws(reset_moto: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A queue, a bucket and a secret in an empty moto, and the verifier's environment pointing at them."""
    sqs, s3, secrets = boto3.client("sqs"), boto3.client("s3"), boto3.client("secretsmanager")
    queue_url = sqs.create_queue(QueueName="webhooks-github")["QueueUrl"]
    s3.create_bucket(Bucket=BUCKET)
    secret_arn = secrets.create_secret(Name="webhooks/github", SecretString=json.dumps({"secrets": [SECRET]}))["ARN"]
    sources = {SOURCE: {"scheme": "github", "queue_url": queue_url, "secret_arn": secret_arn, "tolerance_seconds": 300}}
    monkeypatch.setenv("WEBHOOK_SOURCES", json.dumps(sources))
    monkeypatch.setenv("MAX_BODY_BYTES", str(4 * 1024 * 1024))
    monkeypatch.setenv("CLAIM_CHECK_BUCKET", BUCKET)
    monkeypatch.setenv("CLAIM_CHECK_THRESHOLD_BYTES", str(200 * 1024))
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "300")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    verifier_handler.reset()
    yield {"sqs": sqs, "s3": s3, "queue_url": queue_url}
    verifier_handler.reset()


def receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)


def test_valid_webhook_becomes_exactly_one_message_with_its_attributes(aws: dict[str, Any]) -> None:
    body = b'{"ref":"refs/heads/main","commits":[]}'

    response = verifier_handler.handler(github_event(body), LambdaContext())

    assert response["statusCode"] == 202
    assert json.loads(response["body"]) == {"id": DELIVERY}
    messages = receive_all(aws["sqs"], aws["queue_url"])
    assert len(messages) == 1
    attributes = {k: v["StringValue"] for k, v in messages[0]["MessageAttributes"].items()}
    assert attributes["delivery_id"] == DELIVERY
    assert attributes["event_type"] == "push"
    assert attributes["body_encoding"] == ENCODING_TEXT
    queued = from_sqs_record(messages[0])
    assert (queued.source, queued.content_type) == (SOURCE, "application/json")
    assert "x-hub-signature-256" not in queued.headers
    assert queued.body == body


def test_two_megabyte_body_is_claim_checked_in_s3(aws: dict[str, Any]) -> None:
    body = json.dumps({"ref": "refs/heads/main", "blob": "x" * (2 * 1024 * 1024)}).encode()

    response = verifier_handler.handler(github_event(body), LambdaContext())

    assert response["statusCode"] == 202
    [message] = receive_all(aws["sqs"], aws["queue_url"])
    assert message["MessageAttributes"]["body_encoding"]["StringValue"] == ENCODING_CLAIM_CHECK
    pointer = from_sqs_record(message).claim_check
    assert pointer is not None
    assert (pointer.bucket, pointer.size, pointer.sha256) == (BUCKET, len(body), hashlib.sha256(body).hexdigest())
    stored = aws["s3"].get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()
    assert stored == body


def test_deleted_queue_gives_503_with_retry_after_and_nothing_enqueued(aws: dict[str, Any]) -> None:
    aws["sqs"].delete_queue(QueueUrl=aws["queue_url"])

    response = verifier_handler.handler(github_event(b'{"ref":"x"}'), LambdaContext())

    assert response["statusCode"] == 503
    assert int(response["headers"]["Retry-After"]) > 0
    assert aws["sqs"].list_queues().get("QueueUrls", []) == []


def test_missing_claim_check_bucket_gives_503_and_nothing_enqueued(aws: dict[str, Any]) -> None:
    aws["s3"].delete_bucket(Bucket=BUCKET)
    body = json.dumps({"blob": "x" * (300 * 1024)}).encode()

    response = verifier_handler.handler(github_event(body), LambdaContext())

    assert response["statusCode"] == 503
    assert receive_all(aws["sqs"], aws["queue_url"]) == []


def test_unreadable_secret_gives_503(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    sources = json.loads(os.environ["WEBHOOK_SOURCES"])
    sources[SOURCE]["secret_arn"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:absent-AbCdEf"
    monkeypatch.setenv("WEBHOOK_SOURCES", json.dumps(sources))
    verifier_handler.reset()

    response = verifier_handler.handler(github_event(b'{"ref":"x"}'), LambdaContext())

    assert response["statusCode"] == 503
    assert receive_all(aws["sqs"], aws["queue_url"]) == []


def test_bad_signature_is_401_and_nothing_enqueued(aws: dict[str, Any]) -> None:
    event = github_event(b'{"ref":"x"}')
    event["body"] = base64.b64encode(b'{"ref":"y"}').decode()

    assert verifier_handler.handler(event, LambdaContext())["statusCode"] == 401
    assert receive_all(aws["sqs"], aws["queue_url"]) == []


def test_a_failed_secret_refresh_serves_the_last_good_secret_for_the_grace_period_only(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # max_age 0: every request goes to Secrets Manager, so the refresh after the outage is the one that fails.
    clock = {"now": 1000.0}
    adapters = AwsAdapters(secrets_max_age_seconds=0, secrets_grace_seconds=600, clock=lambda: clock["now"])
    verifier_handler.install(adapters=adapters)
    assert verifier_handler.handler(github_event(b'{"ref":"a"}', "d-a"), LambdaContext())["statusCode"] == 202
    # Secrets Manager stops answering for this secret (an outage, a throttle, a bad policy change).
    boto3.client("secretsmanager").delete_secret(SecretId="webhooks/github", ForceDeleteWithoutRecovery=True)
    capsys.readouterr()

    clock["now"] += 600
    within = verifier_handler.handler(github_event(b'{"ref":"b"}', "d-b"), LambdaContext())
    said = capsys.readouterr().out
    clock["now"] += 1
    after = verifier_handler.handler(github_event(b'{"ref":"c"}', "d-c"), LambdaContext())

    assert within["statusCode"] == 202
    [stale] = [json.loads(line) for line in said.splitlines() if '"SecretsServedStale"' in line]
    # The dimensions the stack's one secrets-served-stale alarm watches (stacks/monitoring.py).
    assert stale["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert stale["service"] == "webhook-verifier" and stale["SecretsServedStale"] == [1.0]
    assert "verified with the last good secrets" in caplog.text
    assert after["statusCode"] == 503
    delivered = [
        m["MessageAttributes"]["delivery_id"]["StringValue"] for m in receive_all(aws["sqs"], aws["queue_url"])
    ]
    assert sorted(delivered) == ["d-a", "d-b"]


def test_secrets_max_age_below_a_minute_is_refused(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "0")
    with pytest.raises(ConfigError, match="SECRETS_MAX_AGE_SECONDS must be at least 60"):
        load_config()
