"""Builders for the processor tests, unit and integration alike (no tests here): queued webhooks,
Lambda SQS records and context, a recording handler, an in-memory fake of the processor's AWS seam,
and an in-memory idempotency store that keeps Powertools' DynamoDB rules.

Imported one way: ``from tests.support.processor import ...``.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord

from processor.adapters import ClaimCheckError, check_claim_check, dead_letter_attributes
from processor.keys import idempotency_record_id
from processor.settings import Settings
from shared.event import WebhookEvent
from shared.message import ClaimCheck, QueuedWebhook, to_send_message_kwargs
from shared.router import Router
from tests.support.lambda_context import LambdaContext

SOURCE = "stripe"
BUCKET = "claim-checks"
SETTINGS = Settings(
    source=SOURCE,
    idempotency_table="idempotency",
    expiry_seconds=3600,
    claim_check_bucket=BUCKET,
    dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/stripe-dlq",
    unhandled_events="acknowledge",
)


def webhook(
    delivery_id: str, event_type: str = "invoice.paid", body: bytes | None = None, **extra: Any
) -> QueuedWebhook:
    """A queued webhook of SOURCE; its body is a small JSON document unless given or claim-checked."""
    if body is None and "claim_check" not in extra:
        body = json.dumps({"id": delivery_id, "type": event_type}).encode()
    fields: dict[str, Any] = {
        "source": SOURCE,
        "delivery_id": delivery_id,
        "event_type": event_type,
        "received_at": "2025-01-01T00:00:00Z",
        "content_type": "application/json",
        "headers": {"Stripe-Signature": "t=1,v1=x"},
        "body": body,
    }
    fields.update(extra)
    return QueuedWebhook(**fields)


def record_calls(
    router: Router,
    calls: list[WebhookEvent],
    event_type: str = "*",
    action: Callable[[WebhookEvent], None] | None = None,
) -> None:
    """Register a handler of SOURCE's ``event_type`` that appends each event to ``calls``, then runs ``action``."""

    def handle(event: WebhookEvent) -> None:
        calls.append(event)
        if action is not None:
            action(event)

    router.on(SOURCE, event_type)(handle)


def sqs_record(message: QueuedWebhook | None = None, *, body: str | None = None) -> dict[str, Any]:
    """A record of Lambda's SQS event carrying ``message`` (or a bare ``body`` without attributes)."""
    kwargs: dict[str, Any] = to_send_message_kwargs(message) if message is not None else {"MessageBody": body}
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "receipt-" + str(uuid.uuid4()),
        "body": kwargs["MessageBody"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1735689600000"},
        "messageAttributes": {
            name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
            for name, value in (kwargs.get("MessageAttributes") or {}).items()
        },
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{SOURCE}",
        "awsRegion": "us-east-1",
    }


def lambda_context() -> LambdaContext:
    """A context as the processor function gets it (its name; Powertools' in-progress window of 30 s)."""
    return LambdaContext(function_name=f"webhook-kit-processor-{SOURCE}")


def claim_check(body: bytes, key: str = "stripe/big", bucket: str = BUCKET) -> ClaimCheck:
    return ClaimCheck(bucket, key, len(body), hashlib.sha256(body).hexdigest())


@dataclass
class FakeAdapters:
    """In-memory S3 objects and dead-letter queue with switchable failures."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    fail_fetch: Exception | None = None
    fail_dead_letter: bool = False

    def fetch_claim_check(self, pointer: ClaimCheck) -> bytes:
        if self.fail_fetch is not None:
            raise self.fail_fetch
        body = self.objects.get((pointer.bucket, pointer.key))
        if body is None:
            raise ClaimCheckError(f"claim-check object s3://{pointer.bucket}/{pointer.key} is missing")
        return check_claim_check(pointer, body)

    def dead_letter(self, raw: Mapping[str, Any], error: Exception) -> None:
        if self.fail_dead_letter:
            raise ConnectionError("SendMessage failed")
        attributes = dead_letter_attributes(raw.get("messageAttributes") or {}, error)
        self.dead_letters.append(
            {"body": raw["body"], "attributes": {name: value.get("StringValue") for name, value in attributes.items()}}
        )


class MemoryPersistence(BasePersistenceLayer):
    """Idempotency records in a dict, taken over on the same conditions as DynamoDBPersistenceLayer's PutItem."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}

    def record_status(self, source: str, value: str) -> str | None:
        record = self.records.get(idempotency_record_id(source, value))
        return None if record is None else record.status

    def hold(self, source: str, value: str, *, for_seconds: int = 60) -> None:
        """Another invocation holds ``value`` for ``for_seconds`` (a negative value: it died that long ago)."""
        now = int(time.time())
        key = idempotency_record_id(source, value)
        self.records[key] = DataRecord(
            idempotency_key=key,
            status=STATUS_CONSTANTS["INPROGRESS"],
            expiry_timestamp=now + 3600,
            in_progress_expiry_timestamp=(now + for_seconds) * 1000,
        )

    def _get_record(self, idempotency_key: str) -> DataRecord:
        try:
            return self.records[idempotency_key]
        except KeyError:
            raise IdempotencyItemNotFoundError from None

    def _put_record(self, data_record: DataRecord) -> None:
        old = self.records.get(data_record.idempotency_key)
        if old is not None and not self._replaceable(old):
            raise IdempotencyItemAlreadyExistsError(old_data_record=old)
        self.records[data_record.idempotency_key] = data_record

    @staticmethod
    def _replaceable(record: DataRecord) -> bool:
        now = time.time()
        expired_in_progress = (
            record.status == STATUS_CONSTANTS["INPROGRESS"]
            and record.in_progress_expiry_timestamp is not None
            and record.in_progress_expiry_timestamp < now * 1000
        )
        return record.is_expired or expired_in_progress

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)
