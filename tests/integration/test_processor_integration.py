"""The processor against real SQS, DynamoDB and S3 endpoints (moto server)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from processor.keys import idempotency_record_id
from shared.event import PermanentError, WebhookEvent
from shared.message import ClaimCheck, Provenance
from tests.support.processor import SOURCE, webhook
from tests.support.processor_pipeline import (
    MAX_RECEIVE_COUNT,
    Pipeline,
    build_pipeline,
    lambda_record,
    now_seconds,
)


@pytest.fixture
def pipeline(reset_moto: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    yield from build_pipeline(monkeypatch)


def _metric(blob: dict, name: str) -> float:
    """A metric's total in one EMF blob (Powertools writes a list when a metric was added twice)."""
    value = blob[name]
    return sum(value) if isinstance(value, list) else value


def _emf_blobs(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def _attribute(message: dict, name: str) -> str | None:
    return (message.get("MessageAttributes") or {}).get(name, {}).get("StringValue")


def test_each_delivery_runs_once_and_leaves_the_queue(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_1"), webhook("evt_2", "invoice.created"))

    records, response = pipeline.deliver()

    assert len(records) == 2
    assert response == {"batchItemFailures": []}
    assert sorted((e.delivery_id, e.event_type) for e in pipeline.calls) == [
        ("evt_1", "invoice.paid"),
        ("evt_2", "invoice.created"),
    ]
    assert pipeline.queue_depth(pipeline.queue_url) == 0


def test_handler_gets_byte_exact_body_and_metadata(pipeline: Pipeline) -> None:
    pipeline.on()
    raw = b'{"z": 1,  "a": "caf\xc3\xa9"}'
    pipeline.send(webhook("evt_1", body=raw))

    pipeline.deliver()

    (event,) = pipeline.calls
    assert event.body == raw
    assert event.json() == {"z": 1, "a": "café"}
    assert event.source == SOURCE
    assert event.header("stripe-signature") == "t=1,v1=x"
    assert event.content_type == "application/json"


def test_binary_body_arrives_unchanged(pipeline: Pipeline) -> None:
    pipeline.on()
    raw = bytes(range(256))
    pipeline.send(webhook("evt_bin", body=raw))

    pipeline.deliver()

    assert pipeline.calls[0].body == raw


def test_same_delivery_twice_in_one_batch_runs_once(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_dup"), webhook("evt_dup"))

    records, response = pipeline.deliver()

    assert len(records) == 2  # two SQS messages, different message ids
    assert response == {"batchItemFailures": []}
    assert pipeline.calls_for("evt_dup") == 1
    assert pipeline.queue_depth(pipeline.queue_url) == 0


def test_same_delivery_in_a_later_batch_runs_once(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_dup"))
    pipeline.deliver()
    pipeline.send(webhook("evt_dup"))

    records, response = pipeline.deliver()

    assert len(records) == 1
    assert response == {"batchItemFailures": []}
    assert pipeline.calls_for("evt_dup") == 1


def test_duplicate_is_counted_in_metrics(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_dup"), webhook("evt_dup"))
    capsys.readouterr()

    pipeline.deliver()

    batch_blob = next(blob for blob in _emf_blobs(capsys.readouterr().out) if "processed" in blob)
    assert _metric(batch_blob, "processed") == 1
    assert _metric(batch_blob, "duplicate") == 1
    assert batch_blob["source"] == SOURCE


def test_idempotency_record_is_keyed_on_source_and_delivery_id(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_key"))

    records, _ = pipeline.deliver()

    assert pipeline.record_ids() == {idempotency_record_id(SOURCE, "evt_key")}
    assert records[0]["messageId"] not in next(iter(pipeline.record_ids()))
    assert pipeline.record("evt_key")["status"]["S"] == "COMPLETED"


def test_key_does_not_depend_on_the_function_name(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline.on()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "renamed-processor")
    pipeline.send(webhook("evt_renamed"))

    pipeline.deliver()

    assert pipeline.record_ids() == {idempotency_record_id(SOURCE, "evt_renamed")}


def test_partial_failure_reports_exactly_the_failed_items(pipeline: Pipeline) -> None:
    def flaky(event: WebhookEvent) -> None:
        if event.delivery_id in ("evt_bad1", "evt_bad2"):
            raise ConnectionError("downstream unavailable")

    pipeline.on(action=flaky)
    pipeline.send(webhook("evt_ok1"), webhook("evt_bad1"), webhook("evt_ok2"), webhook("evt_bad2"))

    records, response = pipeline.deliver()

    by_delivery = {record["messageAttributes"]["delivery_id"]["stringValue"]: record["messageId"] for record in records}
    assert sorted(failure["itemIdentifier"] for failure in response["batchItemFailures"]) == sorted(
        [by_delivery["evt_bad1"], by_delivery["evt_bad2"]]
    )
    # The failed deliveries hold no record, so their retry runs the handler again.
    assert pipeline.record("evt_bad1") is None
    assert pipeline.record("evt_ok1")["status"]["S"] == "COMPLETED"
    assert pipeline.queue_depth(pipeline.queue_url) == 2


def test_retryable_failure_is_retried_then_moved_to_dlq_by_the_redrive_policy(pipeline: Pipeline) -> None:
    def always_down(event: WebhookEvent) -> None:
        raise ConnectionError("downstream unavailable")

    pipeline.on(action=always_down)
    pipeline.send(webhook("evt_down"))

    pipeline.drain()

    assert pipeline.calls_for("evt_down") == MAX_RECEIVE_COUNT
    (dead,) = pipeline.dead_letters()
    assert _attribute(dead, "delivery_id") == "evt_down"
    assert _attribute(dead, "failure_reason") is None  # moved by SQS, not by the processor


def test_retry_after_transient_failure_runs_again_and_succeeds(pipeline: Pipeline) -> None:
    attempts: list[str] = []

    def fails_first(event: WebhookEvent) -> None:
        attempts.append(event.delivery_id)
        if len(attempts) == 1:
            raise TimeoutError("slow downstream")

    pipeline.on(action=fails_first)
    pipeline.send(webhook("evt_transient"))

    pipeline.drain()

    assert attempts == ["evt_transient", "evt_transient"]
    assert pipeline.record("evt_transient")["status"]["S"] == "COMPLETED"
    assert pipeline.dead_letters() == []


def test_concurrent_duplicate_in_progress_is_retried_not_run(pipeline: Pipeline) -> None:
    pipeline.on()
    # Given another invocation holds the delivery right now
    pipeline.dynamodb.put_item(
        TableName=pipeline.table,
        Item={
            "id": {"S": idempotency_record_id(SOURCE, "evt_busy")},
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(now_seconds() + 3600)},
            "in_progress_expiration": {"N": str((now_seconds() + 60) * 1000)},
        },
    )
    pipeline.send(webhook("evt_busy"))

    records, response = pipeline.deliver()

    assert response["batchItemFailures"] == [{"itemIdentifier": records[0]["messageId"]}]
    assert pipeline.calls_for("evt_busy") == 0
    assert pipeline.record("evt_busy")["status"]["S"] == "INPROGRESS"

    # When that invocation died (its in-progress window has passed), the retry takes over once
    pipeline.set_record("evt_busy", in_progress_expiration=(now_seconds() - 1) * 1000)
    pipeline.drain()

    assert pipeline.calls_for("evt_busy") == 1
    assert pipeline.record("evt_busy")["status"]["S"] == "COMPLETED"


def test_expired_record_runs_again(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_old"))
    pipeline.deliver()
    pipeline.send(webhook("evt_old"))
    pipeline.deliver()
    assert pipeline.calls_for("evt_old") == 1

    pipeline.set_record("evt_old", expiration=now_seconds() - 1)
    pipeline.send(webhook("evt_old"))
    pipeline.deliver()

    assert pipeline.calls_for("evt_old") == 2
    assert int(pipeline.record("evt_old")["expiration"]["N"]) > now_seconds()


def test_expiry_comes_from_the_environment(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_ttl"))
    pipeline.deliver()

    expiration = int(pipeline.record("evt_ttl")["expiration"]["N"])

    assert 3600 - 60 <= expiration - now_seconds() <= 3600


def test_permanent_error_goes_to_dlq_with_reason_and_is_not_retried(pipeline: Pipeline) -> None:
    def reject(event: WebhookEvent) -> None:
        raise PermanentError("customer cus_42 does not exist")

    pipeline.on(action=reject)
    original = webhook("evt_perm")
    pipeline.send(original)

    records, response = pipeline.deliver()

    assert response == {"batchItemFailures": []}
    assert pipeline.queue_depth(pipeline.queue_url) == 0
    assert pipeline.calls_for("evt_perm") == 1
    (dead,) = pipeline.dead_letters()
    assert _attribute(dead, "failure_type") == "PermanentError"
    assert _attribute(dead, "failure_reason") == "customer cus_42 does not exist"
    assert dead["Body"] == records[0]["body"]
    original = records[0]["messageAttributes"]
    assert set(dead["MessageAttributes"]) == set(original) | {"failure_type", "failure_reason"}
    for name, entry in original.items():
        assert _attribute(dead, name) == entry["stringValue"], name
    # No idempotency record survives, so a redrive after a fix can run it.
    assert pipeline.record("evt_perm") is None


def test_invalid_json_body_is_a_permanent_failure(pipeline: Pipeline) -> None:
    pipeline.on(action=lambda event: event.json())
    pipeline.send(webhook("evt_notjson", body=b"<xml/>"))

    _, response = pipeline.deliver()

    assert response == {"batchItemFailures": []}
    (dead,) = pipeline.dead_letters()
    assert _attribute(dead, "failure_type") == "InvalidJsonError"


def test_undecodable_message_goes_to_dlq(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody="{}")  # no source / delivery id

    _, response = pipeline.deliver()

    assert response == {"batchItemFailures": []}
    assert pipeline.calls == []
    (dead,) = pipeline.dead_letters()
    assert _attribute(dead, "failure_type") == "MessageFormatError"
    assert dead["Body"] == "{}"


def test_message_for_another_source_goes_to_dlq(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.router.on("github", "*")(pipeline.calls.append)
    pipeline.send(webhook("evt_wrong", source="github"))

    pipeline.deliver()

    assert pipeline.calls == []
    (dead,) = pipeline.dead_letters()
    assert _attribute(dead, "failure_type") == "SourceMismatchError"


def test_dead_letter_send_failure_becomes_a_batch_item_failure(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reject(event: WebhookEvent) -> None:
        raise PermanentError("bad payload")

    pipeline.on(action=reject)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", pipeline.queue_url.replace("/stripe", "/no-such-queue"))
    pipeline.restart()
    pipeline.send(webhook("evt_nodlq"))

    records, response = pipeline.deliver()

    assert response["batchItemFailures"] == [{"itemIdentifier": records[0]["messageId"]}]
    assert pipeline.queue_depth(pipeline.queue_url) == 1  # kept for a retry, never dropped
    assert pipeline.record("evt_nodlq") is None


def test_claim_checked_body_is_fetched_before_the_handler(pipeline: Pipeline) -> None:
    pipeline.on()
    big = b'{"data": "' + b"x" * 300_000 + b'"}'
    pipeline.s3.put_object(Bucket=pipeline.bucket, Key="stripe/evt_big", Body=big)
    pointer = ClaimCheck(pipeline.bucket, "stripe/evt_big", len(big), hashlib.sha256(big).hexdigest())
    pipeline.send(webhook("evt_big", body=None, claim_check=pointer))

    _, response = pipeline.deliver()

    assert response == {"batchItemFailures": []}
    assert pipeline.calls[0].body == big


@pytest.mark.parametrize("problem", ["missing", "corrupt", "foreign-bucket"])
def test_bad_claim_check_is_a_permanent_failure(pipeline: Pipeline, problem: str) -> None:
    pipeline.on()
    body = b'{"id": "evt_cc"}'
    bucket = pipeline.bucket
    if problem == "foreign-bucket":
        bucket = "someone-elses-bucket"
        pipeline.s3.create_bucket(Bucket=bucket)
    if problem != "missing":
        pipeline.s3.put_object(Bucket=bucket, Key="k", Body=body if problem != "corrupt" else b'{"id": "evil"}')
    pointer = ClaimCheck(bucket, "k", len(body), hashlib.sha256(body).hexdigest())
    pipeline.send(webhook("evt_cc", body=None, claim_check=pointer))

    _, response = pipeline.deliver()

    assert response == {"batchItemFailures": []}
    assert pipeline.calls == []
    (dead,) = pipeline.dead_letters()
    assert _attribute(dead, "failure_type") == "ClaimCheckError"
    assert pipeline.record("evt_cc") is None


def test_unhandled_event_is_acknowledged_by_default(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline.on("invoice.*")
    pipeline.send(webhook("evt_x", "customer.created"))
    capsys.readouterr()

    _, response = pipeline.deliver()

    assert response == {"batchItemFailures": []}
    assert pipeline.calls == []
    assert pipeline.queue_depth(pipeline.queue_url) == 0
    assert pipeline.record_ids() == set()
    unhandled = [blob for blob in _emf_blobs(capsys.readouterr().out) if "unhandled" in blob]
    assert [blob.get("event_type") for blob in unhandled] == ["customer.created", None]
    assert all(blob["source"] == SOURCE and _metric(blob, "unhandled") == 1 for blob in unhandled)


def test_an_unsigned_event_type_is_never_a_metric_dimension(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    # A replayer writes any type it likes into an unsigned header (X-GitHub-Event, X-Shopify-Topic).
    unsigned = Provenance(delivery_id_signed=False, event_type_signed=False, idempotency_keys=("sha256:" + "0" * 64,))
    pipeline.on("invoice.*")
    pipeline.send(webhook("evt_u", "attacker-chosen-1", provenance=unsigned))
    capsys.readouterr()

    pipeline.deliver()

    unhandled = [blob for blob in _emf_blobs(capsys.readouterr().out) if "unhandled" in blob]
    assert [blob.get("event_type") for blob in unhandled] == ["(unsigned)", None]
    assert "attacker-chosen-1" not in json.dumps(unhandled)


def test_unhandled_event_fails_when_configured(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNHANDLED_EVENTS", "fail")
    pipeline.restart()
    pipeline.on("invoice.*")
    pipeline.send(webhook("evt_x", "customer.created"))

    records, response = pipeline.deliver()

    assert response["batchItemFailures"] == [{"itemIdentifier": records[0]["messageId"]}]
    assert pipeline.dead_letters() == []  # retried first; the redrive policy moves it later


def test_missing_configuration_names_the_variable(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    from processor import handler as processor_handler

    monkeypatch.delenv("IDEMPOTENCY_TABLE")
    processor_handler.reset()
    pipeline.send(webhook("evt_cfg"))
    messages = pipeline.receive()

    with pytest.raises(RuntimeError, match="IDEMPOTENCY_TABLE"):
        pipeline.invoke([lambda_record(messages[0], pipeline.queue_arn)])
