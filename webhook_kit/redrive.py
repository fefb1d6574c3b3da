"""Move webhooks from a source's dead-letter queue back to its queue (all, or chosen delivery ids).

SQS's own ``StartMessageMoveTask`` moves everything and cannot select by
delivery id (and moto does not implement it), so this receives, re-sends and
deletes itself. The order makes it safe to interrupt at any point:

1. a claim-checked message: check that its body is still in S3 and copy the
   object onto itself, which restarts its lifecycle clock (the re-sent message
   starts a fresh retention clock too, so the body must live as long again).
   A message whose body is gone stays in the DLQ, reported as failed: its
   webhook cannot be recovered from this kit, only from the provider;
2. with ``reprocess``: delete the delivery's idempotency records first, so the
   processor cannot answer the redriven copy with "already done";
3. send the message to the source queue without the ``failure_*`` attributes
   the processor added, otherwise unchanged (a format-1 message stays format 1);
4. delete it from the DLQ only after SQS accepted the send.

A crash between 3 and 4 leaves a copy in the DLQ; redriving it again sends a
duplicate that the processor skips by its idempotency record (unless
``reprocess`` removes that record on purpose: then the handler runs again).

Every message received and not deleted is held (invisible) until the scan
ends, and is made visible again then, or at once when the run is interrupted
(any exception, KeyboardInterrupt included). SQS cannot be browsed without
hiding what was read: a message made visible again comes back ahead of the
unread ones (moto returns the same ten forever), so a selective run must hide
what it skips while it reads on. The per-receive visibility timeout is short
instead, so a run that dies without releasing (kill -9, a lost connection)
leaves messages hidden for that long only, and a long run re-receives what it
holds, recognises it by MessageId, and reads on. Messages hidden by someone
else when the scan ends are reported as in flight, not as absent.

A message received longer ago than the idempotency window is moved with a
warning: if another copy of it was processed, that record has expired, and
this copy runs the handler again.

Needs ``lambdas/`` on ``sys.path`` (as the tests and mypy have it): the record
key comes from ``processor.keys``, the same module the processor uses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ConnectionError as _ConnectionError
from botocore.exceptions import HTTPClientError

from processor.keys import idempotency_record_id, record_ids
from shared.contract import SQS_MAX_BATCH
from shared.message import (
    ATTR_FAILURE_REASON,
    ATTR_FAILURE_TYPE,
    MessageFormatError,
    QueuedWebhook,
    from_sqs_record,
    source_and_delivery_id,
)

_STRIPPED_ATTRIBUTES = frozenset({ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE})

# No answer from the endpoint (refused, timed out, cut off): every further call would wait as long,
# so the run stops instead of marking each remaining message failed.
UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (_ConnectionError, HTTPClientError)


class RedriveError(RuntimeError):
    """The redrive cannot start (bad arguments, nothing to move)."""


class EmptyDeadLetterQueueError(RedriveError):
    """Nothing in the DLQ, visible or in flight."""


class MessagesInFlightError(RedriveError):
    """Nothing visible in the DLQ, but messages are hidden by another consumer or an interrupted run."""

    def __init__(self, dlq_url: str, in_flight: int, retry_seconds: int) -> None:
        self.in_flight = in_flight
        self.retry_seconds = retry_seconds
        super().__init__(
            f"the dead-letter queue {dlq_url} has no visible message, but {in_flight_note(in_flight, retry_seconds)}"
        )


def in_flight_note(in_flight: int, retry_seconds: int) -> str:
    return (
        f"{in_flight} message(s) are in flight (held by another consumer or an interrupted run); "
        f"retry in up to {retry_seconds} seconds"
    )


@dataclass(frozen=True)
class RedriveProgress:
    """One message handled: ``action`` is ``moved``, ``skipped`` or ``failed``.

    ``warning`` is set on a moved message the operator should know about.
    """

    action: str
    message_id: str
    delivery_id: str | None
    detail: str = ""
    warning: str = ""


@dataclass(frozen=True)
class RedriveResult:
    moved: int
    skipped: int
    failed: int
    warned: int = 0
    # Requested delivery ids this run did not see (empty when redriving everything); with
    # ``in_flight`` above 0 they may be among the hidden messages rather than absent.
    not_found: frozenset[str] = field(default_factory=frozenset)
    # Messages hidden in the DLQ when the run ended (not by this run), None if the count could not be read.
    in_flight: int | None = 0
    # How long those may stay hidden: the longer of the DLQ's visibility timeout and this run's.
    retry_seconds: int = 0


ProgressCallback = Callable[[RedriveProgress], None]


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
    visibility_timeout: int = 30,
    s3_client: Any = None,
    idempotency_expiry_seconds: int | None = None,
    now: Callable[[], float] = time.time,
) -> RedriveResult:
    """Move the DLQ's messages of ``source`` (all, or those of ``delivery_ids``) back to ``queue_url``.

    ``reprocess=True`` also deletes their idempotency records from ``table_name``
    so the handler runs again even for a delivery that completed before (a
    redriven delivery that never completed runs again without it).

    Each receive hides its messages for ``visibility_timeout`` seconds: long
    enough to move a batch of ten, short so that a run killed without cleaning
    up does not hide them for long. Messages not moved (skipped, failed) stay in
    the DLQ and are made visible again when the scan ends or the run is
    interrupted. The scan ends on an empty receive, or when every message it
    holds came back without a new one among them.
    Claim-checked messages need ``s3_client``. With ``idempotency_expiry_seconds``,
    messages received longer ago than that are moved with a warning.
    Raises EmptyDeadLetterQueueError when the DLQ has nothing to receive, and
    MessagesInFlightError when nothing is visible but messages are in flight.
    An unreachable endpoint (UNREACHABLE_ERRORS) stops the run with that error.
    """
    if reprocess and (not table_name or dynamodb_client is None):
        raise RedriveError("reprocess needs table_name and dynamodb_client (the idempotency table)")
    wanted = frozenset(delivery_ids) if delivery_ids is not None else None
    if wanted is not None and not wanted:
        raise RedriveError("delivery_ids is empty: pass None to redrive every message")
    report = progress or (lambda _event: None)

    moved = skipped = failed = warned = 0
    found: set[str] = set()
    handled: set[str] = set()  # MessageIds moved, skipped or failed by this run: each is dealt with once
    # MessageId -> latest receipt handle of every message received and not deleted: released when the scan
    # ends or the run is interrupted. Seeded per batch before any work, so an interrupt releases the rest too.
    held: dict[str, str] = {}
    # Held messages received again since the last new one: all back, then one more receive with nothing new ends it.
    back: set[str] = set()
    try:
        while max_messages is None or moved + failed < max_messages:
            batch = sqs_client.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=SQS_MAX_BATCH,
                MessageAttributeNames=["All"],
                VisibilityTimeout=visibility_timeout,
                WaitTimeSeconds=wait_seconds,
            ).get("Messages", [])
            if not batch:
                break  # everything left is hidden: held by this run, or in flight elsewhere
            for message in batch:
                held[message["MessageId"]] = message["ReceiptHandle"]
            fresh = [message for message in batch if message["MessageId"] not in handled]
            if not fresh:
                # This run's own messages, visible again after a long batch, now hidden again by this receive.
                # Unread ones may wait behind them (SQS returns the oldest first), so stop only once a receive
                # brings nothing new after all of them were back: the timeout must outlast that cycle.
                if back >= held.keys():
                    break
                back.update(message["MessageId"] for message in batch)
                continue
            back.clear()
            for message in fresh:
                message_id = message["MessageId"]
                handled.add(message_id)
                # Either message format; a message naming no source (unreadable) is taken as this DLQ's own.
                message_source, delivery_id = source_and_delivery_id(message)
                reason = _skip_reason(source, message_source, delivery_id, wanted)
                if reason is None and max_messages is not None and moved + failed >= max_messages:
                    reason = "max_messages reached"
                if reason is not None:
                    skipped += 1
                    report(RedriveProgress("skipped", message_id, delivery_id, reason))
                    continue
                webhook = _parse(message)
                try:
                    error = _move(
                        message,
                        webhook,
                        source=source,
                        delivery_id=delivery_id,
                        dlq_url=dlq_url,
                        queue_url=queue_url,
                        sqs_client=sqs_client,
                        s3_client=s3_client,
                        reprocess=reprocess,
                        table_name=table_name,
                        dynamodb_client=dynamodb_client,
                    )
                except BaseException as stop:  # the one message whose state the operator cannot see
                    stop.add_note(_interrupted_move_note(delivery_id, message_id, reprocess=reprocess))
                    raise
                if delivery_id is not None:
                    found.add(delivery_id)
                if error is None:
                    del held[message_id]
                    moved += 1
                    warning = _age_warning(webhook, idempotency_expiry_seconds, now())
                    warned += bool(warning)
                    report(RedriveProgress("moved", message_id, delivery_id, warning=warning))
                else:
                    failed += 1
                    report(RedriveProgress("failed", message_id, delivery_id, error))
    finally:
        release(sqs_client, dlq_url, list(held.values()))
    in_flight, retry_seconds = _in_flight(sqs_client, dlq_url, visibility_timeout)
    if not handled:
        if in_flight:
            raise MessagesInFlightError(dlq_url, in_flight, retry_seconds)
        unknown = " visible (the number in flight could not be read)" if in_flight is None else ""
        raise EmptyDeadLetterQueueError(f"the dead-letter queue {dlq_url} has no message{unknown} to redrive")
    return RedriveResult(
        moved=moved,
        skipped=skipped,
        failed=failed,
        warned=warned,
        not_found=frozenset(wanted - found) if wanted is not None else frozenset(),
        in_flight=in_flight,
        retry_seconds=retry_seconds,
    )


def _interrupted_move_note(delivery_id: str | None, message_id: str, *, reprocess: bool) -> str:
    note = (
        f"stopped while moving delivery {delivery_id} (message {message_id}): if its send went through, "
        "it is in the queue and still in the DLQ"
    )
    if reprocess:
        note += "; redrive that copy without reprocess, or its handler runs twice"
    return note


def _in_flight(sqs_client: Any, dlq_url: str, visibility_timeout: int) -> tuple[int | None, int]:
    """Messages hidden in the DLQ now (this run has released its own), and how long they may stay so."""
    try:
        attributes = sqs_client.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible", "VisibilityTimeout"]
        )["Attributes"]
    except Exception:  # the moves are done: report them rather than fail on a count
        return None, visibility_timeout
    queue_timeout = int(attributes.get("VisibilityTimeout", 0))
    return int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)), max(queue_timeout, visibility_timeout)


def _skip_reason(
    source: str, message_source: str | None, delivery_id: str | None, wanted: frozenset[str] | None
) -> str | None:
    if message_source is not None and message_source != source:
        return f"belongs to source {message_source!r}"
    if wanted is not None and delivery_id not in wanted:
        return "not selected"
    return None


def _parse(message: Mapping[str, Any]) -> QueuedWebhook | None:
    """The webhook in a DLQ message, or None for one the processor could not read either (moved as it is)."""
    try:
        return from_sqs_record(message)
    except MessageFormatError:
        return None


def _record_ids(webhook: QueuedWebhook | None, source: str, delivery_id: str | None) -> list[str]:
    if webhook is not None:
        return record_ids(webhook)
    return [idempotency_record_id(source, delivery_id)] if delivery_id is not None else []


def _age_warning(webhook: QueuedWebhook | None, expiry_seconds: int | None, now: float) -> str:
    if webhook is None or expiry_seconds is None or not webhook.received_at:
        return ""
    try:
        received = datetime.fromisoformat(webhook.received_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return ""
    age = now - received
    if age <= expiry_seconds:
        return ""
    return (
        f"received {age / 86400:.1f} days ago, beyond the {expiry_seconds / 86400:.1f}-day idempotency window: "
        "if another copy of this delivery was processed, its handler runs again"
    )


def _refresh_claim_check(webhook: QueuedWebhook | None, s3_client: Any) -> str | None:
    """Check a claim-checked body is still there and restart its expiry clock; the problem, or None."""
    if webhook is None or webhook.claim_check is None:
        return None
    pointer = webhook.claim_check
    where = f"s3://{pointer.bucket}/{pointer.key}"
    if s3_client is None:
        return f"claim-checked body at {where}: pass an S3 client to check it before re-sending"
    try:
        head = s3_client.head_object(Bucket=pointer.bucket, Key=pointer.key)
    except UNREACHABLE_ERRORS:
        raise
    except Exception as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey"):
            return f"claim-checked body {where} has expired or been deleted: the webhook cannot be redriven"
        return f"could not check the claim-checked body {where}: {error}"
    if head.get("ContentLength") != pointer.size:
        return f"claim-checked body {where} is {head.get('ContentLength')} bytes, not {pointer.size}"
    try:
        # A copy onto itself is a new object to S3's lifecycle rules: its expiry starts again.
        s3_client.copy_object(
            Bucket=pointer.bucket,
            Key=pointer.key,
            CopySource={"Bucket": pointer.bucket, "Key": pointer.key},
            MetadataDirective="REPLACE",
            ContentType=head.get("ContentType") or "application/octet-stream",
        )
    except UNREACHABLE_ERRORS:
        raise
    except Exception as error:
        return f"could not restart the expiry of the claim-checked body {where}: {error}"
    return None


def _move(
    message: Mapping[str, Any],
    webhook: QueuedWebhook | None,
    *,
    source: str,
    delivery_id: str | None,
    dlq_url: str,
    queue_url: str,
    sqs_client: Any,
    s3_client: Any,
    reprocess: bool,
    table_name: str | None,
    dynamodb_client: Any,
) -> str | None:
    """Move one message; the reason it failed, or None."""
    problem = _refresh_claim_check(webhook, s3_client)
    if problem is not None:
        return problem
    if reprocess:
        try:
            for record_id in _record_ids(webhook, source, delivery_id):
                dynamodb_client.delete_item(TableName=table_name, Key={"id": {"S": record_id}})
        except UNREACHABLE_ERRORS:
            raise
        except Exception as error:  # the operator sees it per message; the rest of the DLQ still moves
            return f"could not delete the idempotency record: {error}"
    try:
        sqs_client.send_message(
            QueueUrl=queue_url,
            MessageBody=message["Body"],
            MessageAttributes=_resend_attributes(message.get("MessageAttributes") or {}),
        )
    except UNREACHABLE_ERRORS:
        raise
    except Exception as error:
        return f"could not send to the source queue: {error}"
    try:
        sqs_client.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    except UNREACHABLE_ERRORS:
        raise
    except Exception as error:
        return f"sent, but not deleted from the DLQ (a later redrive would send a duplicate): {error}"
    return None


def release(sqs_client: Any, dlq_url: str, receipt_handles: list[str]) -> None:
    """Make held messages visible again now rather than after the visibility timeout."""
    for start in range(0, len(receipt_handles), SQS_MAX_BATCH):
        chunk = receipt_handles[start : start + SQS_MAX_BATCH]
        # On failure they reappear by themselves after the visibility timeout.
        with contextlib.suppress(Exception):
            sqs_client.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for index, handle in enumerate(chunk)
                ],
            )
