"""Move webhooks from a source's dead-letter queue back to its queue (all, or chosen delivery ids).

SQS's own ``StartMessageMoveTask`` moves everything and cannot select by
delivery id (and moto does not implement it), so this receives, re-sends and
deletes itself. The order makes it safe to interrupt at any point:

1. with ``reprocess``: delete the delivery's idempotency record first, so the
   processor cannot answer the redriven copy with "already done";
2. send the message to the source queue without the ``failure_*`` attributes
   the processor added;
3. delete it from the DLQ only after SQS accepted the send.

A crash between 2 and 3 leaves a copy in the DLQ; redriving it again sends a
duplicate that the processor skips by its idempotency record (unless
``reprocess`` removes that record on purpose).

Needs ``lambdas/`` on ``sys.path`` (as the tests and mypy have it): the record
key comes from ``processor.keys``, the same module the processor uses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from processor.keys import idempotency_record_id
from shared.message import ATTR_DELIVERY_ID, ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE, ATTR_SOURCE

_STRIPPED_ATTRIBUTES = frozenset({ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE})


class RedriveError(RuntimeError):
    """The redrive cannot start (bad arguments, nothing to move)."""


class EmptyDeadLetterQueueError(RedriveError):
    pass


@dataclass(frozen=True)
class RedriveProgress:
    """One message handled: ``action`` is ``moved``, ``skipped`` or ``failed``."""

    action: str
    message_id: str
    delivery_id: str | None
    detail: str = ""


@dataclass(frozen=True)
class RedriveResult:
    moved: int
    skipped: int
    failed: int
    # Requested delivery ids that were not in the DLQ (empty when redriving everything).
    not_found: frozenset[str] = field(default_factory=frozenset)


ProgressCallback = Callable[[RedriveProgress], None]


def _string_attribute(attributes: Mapping[str, Any], name: str) -> str | None:
    value = (attributes.get(name) or {}).get("StringValue")
    return value if isinstance(value, str) else None


def _resend_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """ReceiveMessage attributes in SendMessage shape, without the processor's failure notes."""
    resend: dict[str, dict[str, Any]] = {}
    for name, entry in attributes.items():
        if name in _STRIPPED_ATTRIBUTES:
            continue
        value = {key: entry[key] for key in ("DataType", "StringValue", "BinaryValue") if key in entry}
        resend[name] = value
    return resend


def redrive(
    *,
    source: str,
    dlq_url: str,
    queue_url: str,
    sqs_client: Any,
    delivery_ids: Collection[str] | None = None,
    reprocess: bool = False,
    table_name: str | None = None,
    dynamodb_client: Any = None,
    progress: ProgressCallback | None = None,
    max_messages: int | None = None,
    wait_seconds: int = 2,
    visibility_timeout: int = 300,
) -> RedriveResult:
    """Move the DLQ's messages of ``source`` (all, or those of ``delivery_ids``) back to ``queue_url``.

    ``reprocess=True`` also deletes their idempotency records from ``table_name``
    so the handler runs again even for a delivery that completed before (a
    redriven delivery that never completed runs again without it).

    Messages not selected stay in the DLQ and are made visible again at the end.
    Raises EmptyDeadLetterQueueError when the DLQ has nothing to receive.
    """
    if reprocess and (not table_name or dynamodb_client is None):
        raise RedriveError("reprocess needs table_name and dynamodb_client (the idempotency table)")
    wanted = frozenset(delivery_ids) if delivery_ids is not None else None
    if wanted is not None and not wanted:
        raise RedriveError("delivery_ids is empty: pass None to redrive every message")
    report = progress or (lambda _event: None)

    moved = skipped = failed = 0
    found: set[str] = set()
    seen: set[str] = set()
    hold: list[str] = []  # receipt handles of messages left in the DLQ, released at the end
    received_any = False
    try:
        while max_messages is None or moved + failed < max_messages:
            batch = sqs_client.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=visibility_timeout,
                WaitTimeSeconds=wait_seconds,
            ).get("Messages", [])
            fresh = [message for message in batch if message["MessageId"] not in seen]
            if not fresh:
                break
            received_any = True
            for message in fresh:
                seen.add(message["MessageId"])
                attributes = message.get("MessageAttributes") or {}
                delivery_id = _string_attribute(attributes, ATTR_DELIVERY_ID)
                message_source = _string_attribute(attributes, ATTR_SOURCE)
                reason = _skip_reason(source, message_source, delivery_id, wanted)
                if reason is None and max_messages is not None and moved + failed >= max_messages:
                    reason = "max_messages reached"
                if reason is not None:
                    skipped += 1
                    hold.append(message["ReceiptHandle"])
                    report(RedriveProgress("skipped", message["MessageId"], delivery_id, reason))
                    continue
                error = _move(
                    message,
                    source=source,
                    delivery_id=delivery_id,
                    dlq_url=dlq_url,
                    queue_url=queue_url,
                    sqs_client=sqs_client,
                    reprocess=reprocess,
                    table_name=table_name,
                    dynamodb_client=dynamodb_client,
                )
                if delivery_id is not None:
                    found.add(delivery_id)
                if error is None:
                    moved += 1
                    report(RedriveProgress("moved", message["MessageId"], delivery_id))
                else:
                    failed += 1
                    hold.append(message["ReceiptHandle"])
                    report(RedriveProgress("failed", message["MessageId"], delivery_id, error))
    finally:
        _release(sqs_client, dlq_url, hold)
    if not received_any:
        raise EmptyDeadLetterQueueError(f"the dead-letter queue {dlq_url} has no message to redrive")
    return RedriveResult(
        moved=moved,
        skipped=skipped,
        failed=failed,
        not_found=frozenset(wanted - found) if wanted is not None else frozenset(),
    )


def _skip_reason(
    source: str, message_source: str | None, delivery_id: str | None, wanted: frozenset[str] | None
) -> str | None:
    if message_source is not None and message_source != source:
        return f"belongs to source {message_source!r}"
    if wanted is not None and delivery_id not in wanted:
        return "not selected"
    return None


def _move(
    message: Mapping[str, Any],
    *,
    source: str,
    delivery_id: str | None,
    dlq_url: str,
    queue_url: str,
    sqs_client: Any,
    reprocess: bool,
    table_name: str | None,
    dynamodb_client: Any,
) -> str | None:
    """Move one message; the reason it failed, or None."""
    if reprocess and delivery_id is not None:
        try:
            dynamodb_client.delete_item(
                TableName=table_name, Key={"id": {"S": idempotency_record_id(source, delivery_id)}}
            )
        except Exception as error:  # the operator sees it per message; the rest of the DLQ still moves
            return f"could not delete the idempotency record: {error}"
    try:
        sqs_client.send_message(
            QueueUrl=queue_url,
            MessageBody=message["Body"],
            MessageAttributes=_resend_attributes(message.get("MessageAttributes") or {}),
        )
    except Exception as error:
        return f"could not send to the source queue: {error}"
    try:
        sqs_client.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    except Exception as error:
        return f"sent, but not deleted from the DLQ (a later redrive would send a duplicate): {error}"
    return None


def _release(sqs_client: Any, dlq_url: str, receipt_handles: list[str]) -> None:
    """Make held messages visible again now rather than after the visibility timeout."""
    for start in range(0, len(receipt_handles), 10):
        chunk = receipt_handles[start : start + 10]
        # On failure they reappear by themselves after the visibility timeout.
        with contextlib.suppress(Exception):
            sqs_client.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for index, handle in enumerate(chunk)
                ],
            )
