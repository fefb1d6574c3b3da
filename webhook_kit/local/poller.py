"""The SQS event source mapping: one poller per source, feeding that source's processor workers.

As Lambda's: it receives up to ``batch_size`` messages, invokes the processor
with Lambda's SQS event, deletes the records not reported in
``batchItemFailures`` and leaves the others to the (scaled) visibility timeout
and the queue's redrive policy. Batches run side by side, up to the source's
``max_concurrency`` workers; the poller receives only when a worker is free or
may be started. An invocation that raises or whose worker dies deletes
nothing: every record of the batch comes back.

Idle, a poller costs nothing but a held request: it long-polls for
``LONG_POLL_SECONDS``, as Lambda's pollers do, and moto answers as soon as a
message is sent (or, within a second, when one becomes visible again). Short
polls, one per second per source, kept moto and boto3 busy at about 5 ms of CPU
per source per second: half a core for 100 sources doing nothing. Stopping does
not wait for the held requests: the pipeline waits for the batches in hand, then
stops moto, which ends them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from shared.contract import SQS_MAX_BATCH
from webhook_kit.local.events import PipelineEvent, processor_event
from webhook_kit.local.resources import ACCOUNT_ID, REGION, LocalSource, local_client
from webhook_kit.local.runtime import WorkerDied, WorkerPool

# ReceiveMessage's longest wait, and what Lambda's event source mapping uses.
LONG_POLL_SECONDS = 20


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage message in the shape of a record of Lambda's SQS event."""
    attributes = dict(message.get("Attributes") or {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", ACCOUNT_ID),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class Poller:
    """One source's event source mapping: a receiving thread and a thread per batch in hand."""

    def __init__(
        self,
        source: LocalSource,
        pool: WorkerPool,
        *,
        endpoint: str,
        wait_seconds: int,
        stop: threading.Event,
        report: Callable[[PipelineEvent], None],
    ) -> None:
        self.source = source
        self.pool = pool
        self._endpoint = endpoint
        self._wait_seconds = wait_seconds
        self._stop = stop
        self._report = report
        self._batches: list[threading.Thread] = []
        # Held while a received batch is handed to a thread, so none starts once ``finish`` has looked.
        self._handing = threading.Lock()
        self._thread = threading.Thread(target=self._poll, name=f"webhook-kit-poller-{source.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout: float) -> None:
        """Wait for the batches in hand (call after setting ``stop``: no batch starts after it)."""
        deadline = time.monotonic() + timeout
        with self._handing:
            batches = list(self._batches)
        for batch in batches:
            batch.join(max(0.0, deadline - time.monotonic()))

    def join(self, timeout: float) -> None:
        """Wait for the receiving thread: its request returns when moto stops, or after a long poll."""
        self._thread.join(timeout)

    def _poll(self) -> None:
        source = self.source
        sqs = local_client("sqs", self._endpoint)
        while not self._stop.is_set():
            if not self.pool.wait_for_room(timeout=1):
                continue
            try:
                messages = sqs.receive_message(
                    QueueUrl=source.queue_url,
                    MaxNumberOfMessages=source.batch_size,
                    WaitTimeSeconds=self._wait_seconds,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as error:
                if self._stop.is_set():
                    return
                self._report(PipelineEvent(source.name, "error", detail=f"ReceiveMessage failed: {error}"))
                self._stop.wait(1)
                continue
            if messages:
                self._hand_over(sqs, messages)

    def _hand_over(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        if self._stop.is_set():
            return  # the records come back after the visibility timeout, as when a mapping is disabled
        try:
            worker, started = self.pool.acquire()
        except Exception as error:
            # The records come back after the visibility timeout, as when Lambda cannot start the function.
            self._report(PipelineEvent(self.source.name, "error", detail=str(error)))
            self._stop.wait(1)
            return
        if started:
            # A worker's start (a second or so) is not scaled like the visibility timeout:
            # restart the batch's clock so the start does not count against the records.
            self._change_visibility(sqs, messages)
        batch = threading.Thread(
            target=self._deliver,
            args=(sqs, worker, messages),
            name=f"webhook-kit-batch-{self.source.name}",
            daemon=True,
        )
        with self._handing:
            if not self._stop.is_set():
                self._batches = [thread for thread in self._batches if thread.is_alive()] + [batch]
                batch.start()
                return
        self.pool.release(worker)

    def _change_visibility(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        visibility = self.source.visibility_timeout
        with contextlib.suppress(Exception):  # at worst the records come back sooner
            sqs.change_message_visibility_batch(
                QueueUrl=self.source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": visibility}
                    for i, message in enumerate(messages)
                ],
            )

    def _deliver(self, sqs: Any, worker: Any, messages: list[dict[str, Any]]) -> None:
        source = self.source
        records = [lambda_sqs_record(message, source.queue_arn) for message in messages]
        outcomes: dict[str, str] = {}
        reasons: dict[str, str] = {}

        def note(message_id: str, outcome: str, reason: str) -> None:
            outcomes[message_id] = outcome
            reasons[message_id] = reason

        try:
            response = worker.invoke({"Records": records}, note)
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures") or []}
        except WorkerDied as died:
            # A crashed Lambda answers nothing: the whole batch comes back.
            outcomes = {record["messageId"]: str(died) for record in records}
            failed = set(outcomes)
        except Exception as error:
            # The invocation failed as a whole: Lambda's event source mapping retries the whole batch.
            outcomes = {record["messageId"]: f"invocation failed: {error}" for record in records}
            failed = set(outcomes)
        finally:
            self.pool.release(worker)
        done = [record for record in records if record["messageId"] not in failed]
        for start in range(0, len(done), SQS_MAX_BATCH):
            chunk = done[start : start + SQS_MAX_BATCH]
            with contextlib.suppress(Exception):  # undeleted records come back: the processor skips them
                sqs.delete_message_batch(
                    QueueUrl=source.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
                )
        for record in records:
            message_id = record["messageId"]
            self._report(
                processor_event(
                    source, record, outcomes.get(message_id), message_id in failed, reason=reasons.get(message_id, "")
                )
            )
