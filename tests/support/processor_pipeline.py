"""Shared set-up for the processor and redrive tests: real queues, table and bucket on moto.

``Pipeline.deliver`` plays the Lambda SQS event source
mapping: it receives a batch, builds the Lambda event from the real messages,
calls the processor and then does what the mapping does with the partial
batch response (deletes the successes, lets the failures become visible again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from processor import handler as processor_handler
from processor.keys import idempotency_record_id
from shared.event import WebhookEvent
from shared.message import QueuedWebhook, to_send_message_kwargs
from shared.router import Router
from tests.support.processor import SOURCE, lambda_context, record_calls
from tests.support.queues import queue_depth

MAX_RECEIVE_COUNT = 3


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage message in the shape Lambda's SQS event gives it (the local pipeline's builder)."""
    from webhook_kit.local import lambda_sqs_record

    return lambda_sqs_record(message, queue_arn)


@dataclass
class Pipeline:
    sqs: Any
    dynamodb: Any
    s3: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    table: str
    bucket: str
    router: Router
    calls: list[WebhookEvent] = field(default_factory=list)

    def send(self, *messages: QueuedWebhook) -> None:
        for message in messages:
            self.sqs.send_message(QueueUrl=self.queue_url, **to_send_message_kwargs(message))

    def on(self, event_type: str = "*", action: Callable[[WebhookEvent], None] | None = None) -> None:
        """Register a handler that records each call, then runs ``action``."""

        record_calls(self.router, self.calls, event_type, action)

    def calls_for(self, delivery_id: str) -> int:
        return sum(1 for event in self.calls if event.delivery_id == delivery_id)

    def receive(self, queue_url: str | None = None, max_messages: int = 10) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=queue_url or self.queue_url,
            MaxNumberOfMessages=max_messages,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
            VisibilityTimeout=30,
        ).get("Messages", [])

    def restart(self) -> None:
        """A fresh cold start that reads the environment again, still with this pipeline's router."""
        processor_handler.install(router=self.router)

    def invoke(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return processor_handler.handler({"Records": records}, lambda_context())

    def deliver(self, max_messages: int = 10) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One event-source-mapping poll: (records handed to Lambda, Lambda's response)."""
        messages = self.receive(max_messages=max_messages)
        if not messages:
            return [], {"batchItemFailures": []}
        records = [lambda_record(message, self.queue_arn) for message in messages]
        response = self.invoke(records)
        failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        for record in records:
            if record["messageId"] in failed:
                # Stands in for the visibility timeout running out.
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])
        return records, response

    def drain(self, max_polls: int = 20) -> None:
        for _ in range(max_polls):
            records, _response = self.deliver()
            if not records:
                return
        raise AssertionError("queue did not drain")

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message in the DLQ (left invisible so a test sees each once)."""
        found: list[dict[str, Any]] = []
        while batch := self.receive(self.dlq_url):
            found.extend(batch)
        return found

    def queue_depth(self, queue_url: str) -> int:
        return sum(queue_depth(self.sqs, queue_url))

    def record(self, delivery_id: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"id": {"S": idempotency_record_id(SOURCE, delivery_id)}}, ConsistentRead=True
        )
        return item.get("Item")

    def record_ids(self) -> set[str]:
        return {item["id"]["S"] for item in self.dynamodb.scan(TableName=self.table)["Items"]}

    def set_record(self, delivery_id: str, **numbers: int) -> None:
        """Overwrite number attributes (expiration, in_progress_expiration) of a stored record."""
        names = {f"#{key}": key for key in numbers}
        values = {f":{key}": {"N": str(value)} for key, value in numbers.items()}
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"id": {"S": idempotency_record_id(SOURCE, delivery_id)}},
            UpdateExpression="SET " + ", ".join(f"#{key} = :{key}" for key in numbers),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


def now_seconds() -> int:
    return int(time.time())


def build_pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """Body of each test module's ``pipeline`` fixture (after ``reset_moto`` emptied moto)."""
    sqs = boto3.client("sqs")
    dynamodb = boto3.client("dynamodb")
    s3 = boto3.client("s3")
    dlq_url = sqs.create_queue(QueueName=f"{SOURCE}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=SOURCE,
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    table = "idempotency"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    bucket = "claim-checks"
    s3.create_bucket(Bucket=bucket)

    monkeypatch.setenv("WEBHOOK_SOURCE", SOURCE)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", table)
    monkeypatch.setenv("IDEMPOTENCY_EXPIRY_SECONDS", "3600")
    monkeypatch.setenv("CLAIM_CHECK_BUCKET", bucket)
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq_url)
    monkeypatch.setenv("UNHANDLED_EVENTS", "acknowledge")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "WebhookKit")
    pipeline = Pipeline(sqs, dynamodb, s3, queue_url, queue_arn, dlq_url, table, bucket, Router())
    pipeline.restart()
    try:
        yield pipeline
    finally:
        processor_handler.reset()
