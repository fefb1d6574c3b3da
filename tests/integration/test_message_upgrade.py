"""Messages written by the previous release (format 1) meet this release's processor on real queues.

The records in tests/fixtures/queue_messages/v1 were captured from release 09451b1's verifier
(capture_v1.py says how). They are sent to SQS exactly as that verifier sent them; the current
processor handler reads them. A message of a format this release does not know is dead-lettered
at once, saying what to do.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from processor.keys import idempotency_record_id
from shared.event import WebhookEvent
from shared.message import ATTR_FORMAT, ClaimCheck, Provenance, QueuedWebhook, to_send_message_kwargs
from tests.support import message_v1
from tests.support.processor_pipeline import Pipeline, build_pipeline

GOLDEN = Path(__file__).parents[1] / "fixtures" / "queue_messages" / "v1"
CASES = sorted(path.stem for path in GOLDEN.glob("*.json"))


def _golden(case: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{case}.json").read_text())


def _raw(record: dict[str, Any], name: str) -> str | None:
    entry = record["send_message_kwargs"]["MessageAttributes"].get(name)
    return entry["StringValue"] if entry else None


@pytest.fixture
def pipeline(reset_moto: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    yield from build_pipeline(monkeypatch)


def _serve(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, record: dict[str, Any]) -> list[WebhookEvent]:
    """Make the pipeline's processor the one of the record's source, its object stored; the handler's calls."""
    source = record["request"]["source"]
    monkeypatch.setenv("WEBHOOK_SOURCE", source)
    obj = GOLDEN / f"{record['case']}.object"
    if obj.exists():
        pointer = json.loads(record["send_message_kwargs"]["MessageBody"])
        pipeline.s3.create_bucket(Bucket=pointer["bucket"])
        pipeline.s3.put_object(Bucket=pointer["bucket"], Key=pointer["key"], Body=obj.read_bytes())
        monkeypatch.setenv("CLAIM_CHECK_BUCKET", pointer["bucket"])
    pipeline.restart()
    calls: list[WebhookEvent] = []
    pipeline.router.on(source, "*")(calls.append)
    return calls


def _send_as_written(pipeline: Pipeline, kwargs: dict[str, Any]) -> None:
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, **kwargs)


def _format_2_copy(record: dict[str, Any]) -> dict[str, Any]:
    """The same delivery as this release's verifier writes it (decoded by the previous release's reader)."""
    kwargs = record["send_message_kwargs"]
    old = message_v1.from_sqs_record({"Body": kwargs["MessageBody"], "MessageAttributes": kwargs["MessageAttributes"]})
    fields = {name: getattr(old, name) for name in asdict(old) if name not in ("provenance", "claim_check")}
    claim = ClaimCheck(**asdict(old.claim_check)) if old.claim_check is not None else None
    copy = QueuedWebhook(**fields, claim_check=claim, provenance=Provenance(**asdict(old.provenance)))
    return to_send_message_kwargs(copy)


@pytest.mark.parametrize("case", CASES)
def test_a_message_the_previous_release_wrote_reaches_the_handler_intact(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    record = _golden(case)
    expect = record["expect"]
    calls = _serve(pipeline, monkeypatch, record)
    assert _raw(record, ATTR_FORMAT) is None  # format 1 has no version

    _send_as_written(pipeline, record["send_message_kwargs"])
    _records, response = pipeline.deliver()

    assert response == {"batchItemFailures": []}
    assert pipeline.queue_depth(pipeline.queue_url) == pipeline.queue_depth(pipeline.dlq_url) == 0
    (event,) = calls
    request = record["request"]
    assert event.source == request["source"]
    assert event.delivery_id == expect["delivery_id"] == record["answered"]["delivery_id"]
    assert event.event_type == expect["event_type"]
    assert event.body == base64.b64decode(request["body_base64"])
    assert event.received_at == _raw(record, "received_at")
    assert event.content_type == request["headers"]["Content-Type"]
    # The headers the old verifier kept, and the provider's own among them; no signature.
    assert dict(event.headers) == json.loads(_raw(record, "headers") or "{}")
    for name, value in request["headers"].items():
        if name.lower().startswith("x-github-") or name == "User-Agent":
            assert event.header(name) == value
    assert not {"stripe-signature", "x-hub-signature-256"} & set(event.headers)
    assert (event.delivery_id_signed, event.event_type_signed) == (expect["signed"], expect["signed"])
    assert event.verified is expect.get("verified", True)
    if expect["signed"]:
        assert event.idempotency_keys == (expect["delivery_id"],)
    else:
        written = json.loads(_raw(record, "provenance") or "{}")["idempotency_keys"]
        assert event.idempotency_keys == tuple(written) and written[0].startswith("sha256:")
    for key in event.idempotency_keys:
        record_id = idempotency_record_id(request["source"], key)
        item = pipeline.dynamodb.get_item(TableName=pipeline.table, Key={"id": {"S": record_id}}, ConsistentRead=True)
        assert item["Item"]["status"]["S"] == "COMPLETED"


@pytest.mark.parametrize("case", ["stripe_text", "github_unsigned_id", "stripe_claim_check"])
def test_an_in_flight_format_1_copy_and_a_format_2_retry_of_one_delivery_run_the_handler_once(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    record = _golden(case)
    calls = _serve(pipeline, monkeypatch, record)
    retry = _format_2_copy(record)
    assert retry["MessageAttributes"][ATTR_FORMAT]["StringValue"] == "2"

    _send_as_written(pipeline, record["send_message_kwargs"])
    pipeline.deliver()
    _send_as_written(pipeline, retry)
    records, response = pipeline.deliver()

    assert len(records) == 1 and response == {"batchItemFailures": []}
    assert len(calls) == 1
    assert pipeline.queue_depth(pipeline.queue_url) == pipeline.queue_depth(pipeline.dlq_url) == 0


def test_a_message_of_an_unknown_format_is_dead_lettered_at_once_saying_what_to_do(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _golden("stripe_text")
    calls = _serve(pipeline, monkeypatch, record)
    kwargs = to_send_message_kwargs(
        QueuedWebhook(
            source="stripe",
            delivery_id="evt_from_the_future",
            event_type="invoice.paid",
            received_at="2026-12-02T00:00:00.000Z",
            content_type="application/json",
            body=b"{}",
        )
    )
    kwargs["MessageAttributes"][ATTR_FORMAT] = {"DataType": "String", "StringValue": "3"}

    _send_as_written(pipeline, kwargs)
    records, response = pipeline.deliver()

    assert response == {"batchItemFailures": []}  # not retried: no later attempt could read it
    assert records[0]["attributes"]["ApproximateReceiveCount"] == "1"
    assert pipeline.queue_depth(pipeline.queue_url) == 0
    assert calls == []
    (dead,) = pipeline.dead_letters()
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes["failure_type"] == "MessageFormatError"
    assert "message format '3'" in attributes["failure_reason"]
    assert "deploy it, then redrive" in attributes["failure_reason"]
    assert attributes[ATTR_FORMAT] == "3" and dead["Body"] == "{}"
