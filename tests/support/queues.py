"""Reading SQS queues in tests: how many messages a queue holds, and what sits in a DLQ (left there)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.contract import SQS_MAX_BATCH
from webhook_kit.redrive import release

Key = tuple[str, str]  # (source, delivery id)


def queue_depth(sqs: Any, queue_url: str) -> tuple[int, int]:
    """The messages a queue holds: (visible, in flight)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


@dataclass(frozen=True)
class DeadLetter:
    key: Key
    failure_type: str | None
    failure_reason: str | None


def dead_letters(sqs: Any, dlq_url: str) -> list[DeadLetter]:
    """Every message in a DLQ (left there: they are made visible again before returning)."""
    from shared.message import ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE, source_and_delivery_id

    found: list[DeadLetter] = []
    handles: list[str] = []
    seen: set[str] = set()
    try:
        while True:
            batch = sqs.receive_message(
                QueueUrl=dlq_url, MaxNumberOfMessages=SQS_MAX_BATCH, MessageAttributeNames=["All"], VisibilityTimeout=60
            ).get("Messages", [])
            fresh = [message for message in batch if message["MessageId"] not in seen]
            if not fresh:
                return found
            for message in fresh:
                seen.add(message["MessageId"])
                handles.append(message["ReceiptHandle"])
                attributes = message.get("MessageAttributes") or {}

                def text(name: str, attributes: Mapping[str, Any] = attributes) -> str | None:
                    value = attributes.get(name, {}).get("StringValue")
                    return str(value) if value is not None else None

                source, delivery_id = source_and_delivery_id(message)  # either message format
                found.append(
                    DeadLetter(
                        (source or "?", delivery_id or "?"),
                        text(ATTR_FAILURE_TYPE),
                        text(ATTR_FAILURE_REASON),
                    )
                )
    finally:
        release(sqs, dlq_url, handles)
