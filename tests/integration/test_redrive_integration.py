"""Redrive from the DLQ against moto, with the real processor consuming what it moves."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pytest

from processor.keys import idempotency_record_id
from shared.event import PermanentError, WebhookEvent
from shared.message import ClaimCheck, Provenance, to_send_message_kwargs
from tests.support import message_v1
from tests.support.processor import SOURCE, webhook
from tests.support.processor_pipeline import Pipeline, build_pipeline
from webhook_kit.redrive import (
    EmptyDeadLetterQueueError,
    RedriveError,
    RedriveProgress,
    RedriveResult,
    redrive,
)


@pytest.fixture
def pipeline(reset_moto: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    yield from build_pipeline(monkeypatch)


def _redrive(pipeline: Pipeline, **kwargs: Any) -> RedriveResult:
    return redrive(
        source=SOURCE,
        dlq_url=pipeline.dlq_url,
        queue_url=pipeline.queue_url,
        sqs_client=pipeline.sqs,
        dynamodb_client=pipeline.dynamodb,
        wait_seconds=0,
        **kwargs,
    )


def _dead_letter_after_permanent_failure(pipeline: Pipeline, *delivery_ids: str) -> dict[str, bool]:
    """Route the deliveries to the DLQ through a handler that rejects them until ``fixed['yes']``."""
    fixed = {"yes": False}

    def handle(event: WebhookEvent) -> None:
        if not fixed["yes"]:
            raise PermanentError("bug in handler")

    pipeline.on(action=handle)
    pipeline.send(*(webhook(delivery_id) for delivery_id in delivery_ids))
    pipeline.drain()
    assert pipeline.queue_depth(pipeline.dlq_url) == len(delivery_ids)
    return fixed


def _attribute_names(message: dict[str, Any]) -> set[str]:
    return set(message.get("MessageAttributes") or {})


def test_redrive_after_fix_runs_each_message_once(pipeline: Pipeline) -> None:
    fixed = _dead_letter_after_permanent_failure(pipeline, "evt_a", "evt_b", "evt_c")
    fixed["yes"] = True

    result = _redrive(pipeline)

    assert (result.moved, result.skipped, result.failed) == (3, 0, 0)
    assert pipeline.queue_depth(pipeline.dlq_url) == 0
    moved = pipeline.receive()
    assert all(not _attribute_names(m) & {"failure_reason", "failure_type"} for m in moved)
    assert {m["MessageAttributes"]["delivery_id"]["StringValue"] for m in moved} == {"evt_a", "evt_b", "evt_c"}
    for message in moved:  # back to visible for the processor
        pipeline.sqs.change_message_visibility(
            QueueUrl=pipeline.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    pipeline.drain()
    pipeline.drain()

    for delivery_id in ("evt_a", "evt_b", "evt_c"):
        assert pipeline.calls_for(delivery_id) == 2  # the rejected run, then exactly one after the redrive
        assert pipeline.record(delivery_id)["status"]["S"] == "COMPLETED"
    assert pipeline.queue_depth(pipeline.dlq_url) == 0


def test_redriven_message_keeps_body_and_original_attributes(pipeline: Pipeline) -> None:
    _dead_letter_after_permanent_failure(pipeline, "evt_a")
    original = to_send_message_kwargs(webhook("evt_a"))

    _redrive(pipeline)

    (message,) = pipeline.receive()
    assert message["Body"] == original["MessageBody"]
    assert {name: value["StringValue"] for name, value in message["MessageAttributes"].items()} == {
        name: value["StringValue"] for name, value in original["MessageAttributes"].items()
    }


def test_selective_redrive_moves_only_chosen_deliveries(pipeline: Pipeline) -> None:
    _dead_letter_after_permanent_failure(pipeline, "evt_a", "evt_b", "evt_c")

    result = _redrive(pipeline, delivery_ids=["evt_b", "evt_unknown"])

    assert (result.moved, result.skipped, result.failed) == (1, 2, 0)
    assert result.not_found == frozenset({"evt_unknown"})
    (moved,) = pipeline.receive()
    assert moved["MessageAttributes"]["delivery_id"]["StringValue"] == "evt_b"
    # The others stay, and are visible again at once for the next redrive.
    remaining = pipeline.receive(pipeline.dlq_url)
    assert sorted(m["MessageAttributes"]["delivery_id"]["StringValue"] for m in remaining) == ["evt_a", "evt_c"]


def test_reprocess_deletes_the_record_the_processor_wrote(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_done"))
    pipeline.drain()
    assert pipeline.record_ids() == {idempotency_record_id(SOURCE, "evt_done")}
    # A second copy of the completed delivery lands in the DLQ.
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(webhook("evt_done")))

    result = _redrive(pipeline, reprocess=True, table_name=pipeline.table)

    assert result.moved == 1
    assert pipeline.record_ids() == set()  # the exact key was deleted, nothing else was needed
    pipeline.drain()
    assert pipeline.calls_for("evt_done") == 2


def test_without_reprocess_a_completed_delivery_is_skipped_as_duplicate(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_done"))
    pipeline.drain()
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(webhook("evt_done")))

    result = _redrive(pipeline)
    pipeline.drain()

    assert result.moved == 1
    assert pipeline.calls_for("evt_done") == 1


def test_reprocess_only_touches_selected_records(pipeline: Pipeline) -> None:
    pipeline.on()
    pipeline.send(webhook("evt_keep"), webhook("evt_redo"))
    pipeline.drain()
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(webhook("evt_redo")))
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(webhook("evt_keep")))

    _redrive(pipeline, reprocess=True, table_name=pipeline.table, delivery_ids={"evt_redo"})

    assert pipeline.record_ids() == {idempotency_record_id(SOURCE, "evt_keep")}


def test_empty_dlq_is_a_clear_error(pipeline: Pipeline) -> None:
    with pytest.raises(EmptyDeadLetterQueueError, match="no message to redrive"):
        _redrive(pipeline)


def test_reprocess_needs_the_table(pipeline: Pipeline) -> None:
    with pytest.raises(RedriveError, match="table_name"):
        _redrive(pipeline, reprocess=True)


def test_failed_send_leaves_the_message_in_the_dlq(pipeline: Pipeline) -> None:
    _dead_letter_after_permanent_failure(pipeline, "evt_a")
    events: list[RedriveProgress] = []

    result = redrive(
        source=SOURCE,
        dlq_url=pipeline.dlq_url,
        queue_url=pipeline.queue_url.replace("/stripe", "/no-such-queue"),
        sqs_client=pipeline.sqs,
        wait_seconds=0,
        progress=events.append,
    )

    assert (result.moved, result.failed) == (0, 1)
    assert [(e.action, e.delivery_id) for e in events] == [("failed", "evt_a")]
    assert "could not send" in events[0].detail
    (still_there,) = pipeline.receive(pipeline.dlq_url)
    assert still_there["MessageAttributes"]["failure_type"]["StringValue"] == "PermanentError"


def test_messages_of_another_source_are_left_alone(pipeline: Pipeline) -> None:
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(webhook("gh_1", source="github")))
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(webhook("evt_1")))
    events: list[RedriveProgress] = []

    result = _redrive(pipeline, progress=events.append)

    assert (result.moved, result.skipped) == (1, 1)
    assert sorted((e.action, e.delivery_id) for e in events) == [("moved", "evt_1"), ("skipped", "gh_1")]
    assert pipeline.queue_depth(pipeline.dlq_url) == 1


def test_a_format_1_and_a_format_2_message_are_both_moved_each_in_its_own_format(pipeline: Pipeline) -> None:
    # Format 1: a message the previous release wrote, still in the DLQ after the upgrade.
    old = message_v1.QueuedWebhook(**{**asdict(webhook("evt_old")), "provenance": message_v1.SIGNED})
    other = message_v1.QueuedWebhook(**{**asdict(webhook("gh_old", source="github")), "provenance": message_v1.SIGNED})
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **message_v1.to_send_message_kwargs(old))
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **message_v1.to_send_message_kwargs(other))
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(webhook("evt_new")))
    events: list[RedriveProgress] = []

    result = _redrive(pipeline, progress=events.append)

    assert (result.moved, result.skipped, result.failed) == (2, 1, 0)
    assert sorted((e.action, e.delivery_id) for e in events) == [
        ("moved", "evt_new"),
        ("moved", "evt_old"),
        ("skipped", "gh_old"),
    ]
    moved = pipeline.receive()
    formats = {m["MessageAttributes"]["delivery_id"]["StringValue"]: _attribute_names(m) for m in moved}
    assert {name: names & {"format", "source"} for name, names in formats.items()} == {
        "evt_old": {"source"},
        "evt_new": {"format"},
    }
    for message in moved:  # back to visible for the processor
        pipeline.sqs.change_message_visibility(
            QueueUrl=pipeline.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    pipeline.on()
    pipeline.drain()
    assert (pipeline.calls_for("evt_old"), pipeline.calls_for("evt_new")) == (1, 1)


def test_max_messages_bounds_the_move(pipeline: Pipeline) -> None:
    _dead_letter_after_permanent_failure(pipeline, "evt_a", "evt_b", "evt_c")

    result = _redrive(pipeline, max_messages=2)

    assert result.moved == 2
    assert pipeline.queue_depth(pipeline.dlq_url) == 1


def test_reprocess_deletes_every_record_of_a_delivery_keyed_on_its_signed_digest(pipeline: Pipeline) -> None:
    # An unsigned id with a signed timestamp: two records (the id, and the digest of the signed bytes).
    unsigned = Provenance(
        delivery_id_signed=False, event_type_signed=True, idempotency_keys=("evt_hdr", "sha256:" + "cd" * 32)
    )
    pipeline.on()
    pipeline.send(webhook("evt_hdr", provenance=unsigned))
    pipeline.drain()
    written = {idempotency_record_id(SOURCE, "evt_hdr"), idempotency_record_id(SOURCE, "sha256:" + "cd" * 32)}
    assert pipeline.record_ids() == written
    pipeline.sqs.send_message(
        QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(webhook("evt_hdr", provenance=unsigned))
    )

    result = _redrive(pipeline, reprocess=True, table_name=pipeline.table)

    assert result.moved == 1
    assert pipeline.record_ids() == set()
    pipeline.drain()
    assert pipeline.calls_for("evt_hdr") == 2


def _claim_checked(pipeline: Pipeline, delivery_id: str, body: bytes) -> None:
    """Put a claim-checked message in the DLQ, its body in the bucket as the verifier would."""
    key = f"{SOURCE}/{delivery_id}/{hashlib.sha256(body).hexdigest()}"
    pipeline.s3.put_object(Bucket=pipeline.bucket, Key=key, Body=body, ContentType="application/json")
    pointer = ClaimCheck(bucket=pipeline.bucket, key=key, size=len(body), sha256=hashlib.sha256(body).hexdigest())
    message = webhook(delivery_id, body=None, claim_check=pointer)
    pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(message))


def test_a_claim_checked_message_whose_body_expired_stays_in_the_dlq(pipeline: Pipeline) -> None:
    _claim_checked(pipeline, "evt_gone", b'{"id":"evt_gone"}')
    for item in pipeline.s3.list_objects_v2(Bucket=pipeline.bucket)["Contents"]:
        pipeline.s3.delete_object(Bucket=pipeline.bucket, Key=item["Key"])  # the lifecycle rule got there first
    events: list[RedriveProgress] = []

    result = _redrive(pipeline, s3_client=pipeline.s3, progress=events.append)

    assert (result.moved, result.failed) == (0, 1)
    assert "expired or been deleted" in events[0].detail
    assert pipeline.queue_depth(pipeline.dlq_url) == 1
    assert pipeline.queue_depth(pipeline.queue_url) == 0


def test_a_claim_checked_body_gets_a_fresh_expiry_when_its_message_is_redriven(pipeline: Pipeline) -> None:
    body = b'{"id":"evt_big","type":"invoice.paid"}'
    _claim_checked(pipeline, "evt_big", body)
    [item] = pipeline.s3.list_objects_v2(Bucket=pipeline.bucket)["Contents"]
    time.sleep(1.1)  # S3 timestamps have one-second resolution

    result = _redrive(pipeline, s3_client=pipeline.s3)

    assert result.moved == 1
    head = pipeline.s3.head_object(Bucket=pipeline.bucket, Key=item["Key"])
    assert head["LastModified"] > item["LastModified"]  # lifecycle expiry counts from here again
    pipeline.on()
    pipeline.drain()
    assert [event.body for event in pipeline.calls] == [body]


def test_a_claim_checked_message_is_not_resent_unchecked(pipeline: Pipeline) -> None:
    _claim_checked(pipeline, "evt_big", b"{}")

    result = _redrive(pipeline)  # no S3 client

    assert (result.moved, result.failed) == (0, 1)


def test_messages_older_than_the_idempotency_window_are_moved_with_a_warning(pipeline: Pipeline) -> None:
    old = webhook("evt_old", received_at="2025-01-01T00:00:00.000Z")
    recent = webhook("evt_new", received_at="2025-01-20T00:00:00.000Z")
    for message in (old, recent):
        pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(message))
    now = datetime(2025, 1, 31, tzinfo=UTC).timestamp()
    events: list[RedriveProgress] = []

    result = _redrive(pipeline, idempotency_expiry_seconds=14 * 86400, now=lambda: now, progress=events.append)

    assert (result.moved, result.warned) == (2, 1)
    warnings = {event.delivery_id: event.warning for event in events}
    assert "30.0 days ago" in warnings["evt_old"] and "idempotency window" in warnings["evt_old"]
    assert warnings["evt_new"] == ""
