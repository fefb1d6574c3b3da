"""Redrive from the DLQ against moto, with the real processor consuming what it moves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_processor_harness import SOURCE, Pipeline, build_pipeline, webhook

from processor.keys import idempotency_record_id
from shared.event import PermanentError, WebhookEvent
from shared.message import to_send_message_kwargs
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


def test_max_messages_bounds_the_move(pipeline: Pipeline) -> None:
    _dead_letter_after_permanent_failure(pipeline, "evt_a", "evt_b", "evt_c")

    result = _redrive(pipeline, max_messages=2)

    assert result.moved == 2
    assert pipeline.queue_depth(pipeline.dlq_url) == 1
