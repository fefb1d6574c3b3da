"""Processor Lambda: one per source, fed by that source's queue.

For each record of the SQS batch: decode the message, find the user's handler,
run it at most once per delivery (Powertools idempotency on DynamoDB, keyed on
``source#delivery_id``, or on the digest of the signed material when the id is
not signed: see ``processor.keys``), and report the outcome so that SQS keeps only what must be retried:

* success, duplicate, acknowledged unhandled event: the record succeeds;
* retryable failure (any exception, a concurrent duplicate still in progress,
  an unhandled event under ``UNHANDLED_EVENTS=fail``): batch item failure, SQS
  redelivers it and its redrive policy moves it to the DLQ after
  ``max_receive_count`` receives;
* permanent failure (PermanentError, an undecodable message, a missing or
  corrupt claim-check object): sent to the DLQ at once with the reason, then
  reported as success. If that send fails, it is a batch item failure instead,
  so nothing is ever dropped.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from processor.keys import EVENT_KEY_JMESPATH, HASH_FUNCTION, idempotency_payload, idempotency_values, key_prefix
from shared.event import PermanentError, WebhookEvent
from shared.message import (
    ATTR_FAILURE_REASON,
    ATTR_FAILURE_TYPE,
    ClaimCheck,
    MessageFormatError,
    QueuedWebhook,
    from_sqs_record,
)
from shared.metrics import NAMESPACE as METRICS_NAMESPACE
from shared.metrics import function_metrics
from shared.router import Handler, Router, router

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

# The user's handlers register themselves on `router` when imported. Importing at
# cold start makes a broken handlers.py fail loudly before any message is taken.
importlib.import_module("handlers")

logger = Logger()
metrics = function_metrics()
tracer = Tracer()

# As long as a copy can wait in the queue and then the DLQ (14 + 14 days, a
# fresh clock for each SendMessage): stacks/config.py enforces the same rule.
DEFAULT_EXPIRY_SECONDS = 30 * 24 * 60 * 60
UNHANDLED_ACKNOWLEDGE = "acknowledge"
UNHANDLED_FAIL = "fail"
# SQS caps an attribute value with the whole message; a reason is for humans, so keep it short.
MAX_REASON_CHARS = 1024


class ClaimCheckError(PermanentError):
    """The claim-checked body is gone or is not the body the verifier stored."""


class UnhandledEventError(Exception):
    """No handler claims this event type and UNHANDLED_EVENTS=fail: retried, then dead-lettered by SQS."""


class SourceMismatchError(PermanentError):
    """A message for another source reached this source's processor."""


@dataclass(frozen=True)
class Settings:
    source: str
    idempotency_table: str
    expiry_seconds: int
    claim_check_bucket: str
    dead_letter_queue_url: str
    unhandled_events: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        missing = [name for name in ("IDEMPOTENCY_TABLE", "DEAD_LETTER_QUEUE_URL") if not env.get(name)]
        if missing:
            raise RuntimeError(f"processor misconfigured: environment variable(s) {', '.join(missing)} not set")
        unhandled = env.get("UNHANDLED_EVENTS", UNHANDLED_ACKNOWLEDGE) or UNHANDLED_ACKNOWLEDGE
        if unhandled not in (UNHANDLED_ACKNOWLEDGE, UNHANDLED_FAIL):
            raise RuntimeError(f"UNHANDLED_EVENTS must be {UNHANDLED_ACKNOWLEDGE!r} or {UNHANDLED_FAIL!r}")
        try:
            expiry = int(env.get("IDEMPOTENCY_EXPIRY_SECONDS") or DEFAULT_EXPIRY_SECONDS)
        except ValueError as error:
            raise RuntimeError("IDEMPOTENCY_EXPIRY_SECONDS must be an integer") from error
        return cls(
            source=env.get("WEBHOOK_SOURCE", ""),
            idempotency_table=env["IDEMPOTENCY_TABLE"],
            expiry_seconds=expiry,
            claim_check_bucket=env.get("CLAIM_CHECK_BUCKET", ""),
            dead_letter_queue_url=env["DEAD_LETTER_QUEUE_URL"],
            unhandled_events=unhandled,
        )


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> dict[str, Any]:
    """Powertools calls this only when it answers from a COMPLETED record, i.e. for a duplicate."""
    return {**(response or {}), "duplicate": True}


class Runtime:
    """Everything built from the environment at the first invocation (clients, idempotency)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sqs = boto3.client("sqs")
        self.idempotency_config = IdempotencyConfig(
            event_key_jmespath=EVENT_KEY_JMESPATH,
            hash_function=HASH_FUNCTION,
            expires_after_seconds=settings.expiry_seconds,
            raise_on_no_idempotency_key=True,
            response_hook=_mark_duplicate,
        )
        self._persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
        self._run_once: dict[str, Any] = {}
        self.processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def run_once(self, source: str) -> Any:
        """``_run_keyed`` made idempotent under ``source``'s key prefix (processor.keys)."""
        if source not in self._run_once:
            self._run_once[source] = idempotent_function(
                _run_keyed,
                data_keyword_argument="delivery",
                config=self.idempotency_config,
                persistence_store=self._persistence,
                key_prefix=key_prefix(source),
            )
        return self._run_once[source]

    @functools.cached_property
    def s3(self) -> Any:
        # Most sources never see a body above the claim-check threshold.
        return boto3.client("s3")

    def fetch_claim_check(self, pointer: ClaimCheck) -> bytes:
        expected_bucket = self.settings.claim_check_bucket
        if expected_bucket and pointer.bucket != expected_bucket:
            raise ClaimCheckError(f"claim check points at bucket {pointer.bucket!r}, not {expected_bucket!r}")
        try:
            body: bytes = self.s3.get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()
        except ClientError as error:
            # A 403 may be a permission being fixed (or a missing key without s3:ListBucket): retry it.
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                raise ClaimCheckError(f"claim-check object s3://{pointer.bucket}/{pointer.key} is missing") from error
            raise
        if len(body) != pointer.size or hashlib.sha256(body).hexdigest() != pointer.sha256:
            raise ClaimCheckError(f"claim-check object s3://{pointer.bucket}/{pointer.key} fails its sha256 check")
        return body

    def dead_letter(self, raw: Mapping[str, Any], error: Exception) -> None:
        """Send the original message with the reason to the DLQ; raises if SQS did not take it."""
        attributes = _send_attributes(raw.get("messageAttributes") or {})
        attributes[ATTR_FAILURE_TYPE] = {"DataType": "String", "StringValue": type(error).__name__}
        attributes[ATTR_FAILURE_REASON] = {
            "DataType": "String",
            "StringValue": (str(error) or type(error).__name__)[:MAX_REASON_CHARS],
        }
        self.sqs.send_message(
            QueueUrl=self.settings.dead_letter_queue_url,
            MessageBody=raw["body"],
            MessageAttributes=attributes,
        )


def _send_attributes(lambda_attributes: Mapping[str, Any]) -> dict[str, MessageAttributeValueTypeDef]:
    """Lambda's camelCase message attributes in the shape SendMessage takes."""
    converted: dict[str, MessageAttributeValueTypeDef] = {}
    for name, entry in lambda_attributes.items():
        if name in (ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE):
            continue
        data_type = entry.get("dataType", "String")
        if entry.get("stringValue") is not None:
            converted[name] = {"DataType": data_type, "StringValue": entry["stringValue"]}
        elif entry.get("binaryValue") is not None:
            converted[name] = {"DataType": data_type, "BinaryValue": base64.b64decode(entry["binaryValue"])}
    return converted


def _run_keyed(
    *,
    delivery: dict[str, str],
    inner: tuple[dict[str, str], ...],
    message: QueuedWebhook,
    handler: Handler,
    runtime: Runtime,
) -> dict:
    """Called under the idempotency record of ``delivery``; the handler runs only if every key is new.

    With two keys (an unsigned id and the digest of a signed timestamp and
    body) the records nest: a genuine retry is stopped by the first, a replay
    under a fresh id by the second, which answers with its stored result.
    Any exception deletes the in-progress records (Powertools does this before
    re-raising), so a dead-lettered delivery can be redriven and run again.
    """
    if inner:
        return runtime.run_once(message.source)(
            delivery=inner[0], inner=inner[1:], message=message, handler=handler, runtime=runtime
        )
    return _run_handler(message=message, handler=handler, runtime=runtime)


def _run_handler(*, message: QueuedWebhook, handler: Handler, runtime: Runtime) -> dict:
    """The user's handler, with the body fetched from S3 first if it was claim-checked."""
    if message.body is not None:
        body = message.body
    else:
        assert message.claim_check is not None  # from_sqs_record sets exactly one of the two
        body = runtime.fetch_claim_check(message.claim_check)
    handler(
        WebhookEvent(
            source=message.source,
            delivery_id=message.delivery_id,
            event_type=message.event_type,
            received_at=message.received_at,
            body=body,
            headers=message.headers,
            content_type=message.content_type,
            delivery_id_signed=message.provenance.delivery_id_signed,
            event_type_signed=message.provenance.event_type_signed,
            idempotency_keys=idempotency_values(message),
        )
    )
    return {"outcome": "processed"}


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _dead_letter(runtime: Runtime, raw: Mapping[str, Any], error: Exception) -> str:
    logger.warning(
        "permanent failure: sending to the dead-letter queue",
        extra={"failure_type": type(error).__name__, "failure_reason": str(error)},
    )
    try:
        runtime.dead_letter(raw, error)
    except Exception:
        # A batch item failure instead: SQS keeps the message, so it is never dropped.
        logger.exception("could not send to the dead-letter queue: retrying")
        _count("retried")
        raise
    _count("dead_lettered")
    return "dead_lettered"


def _process_message(runtime: Runtime, routes: Router, raw: Mapping[str, Any]) -> str:
    try:
        message = from_sqs_record(raw)
    except MessageFormatError as error:
        return _dead_letter(runtime, raw, error)
    logger.set_correlation_id(message.delivery_id)
    logger.append_keys(source=message.source, event_type=message.event_type)

    if runtime.settings.source and message.source != runtime.settings.source:
        mismatch = SourceMismatchError(f"message for source {message.source!r} reached {runtime.settings.source!r}")
        return _dead_letter(runtime, raw, mismatch)

    handler = routes.resolve(message.source, message.event_type)
    if handler is None:
        _count("unhandled")
        # Also as its own metric so the event type can be a dimension without multiplying every other metric.
        # An unsigned event type is whatever a replayer wrote: never a dimension (each would be a new series).
        with single_metric(
            name="unhandled",
            unit=MetricUnit.Count,
            value=1,
            namespace=METRICS_NAMESPACE,
            default_dimensions={"source": message.source},
        ) as metric:
            dimension = message.event_type or "(none)"
            if not message.provenance.event_type_signed:
                dimension = "(unsigned)"
            metric.add_dimension(name="event_type", value=dimension)
        if runtime.settings.unhandled_events == UNHANDLED_FAIL:
            _count("retried")
            raise UnhandledEventError(f"no handler for {message.source!r} event type {message.event_type!r}")
        logger.info("no handler for this event type: acknowledged")
        return "unhandled"

    payloads = tuple(idempotency_payload(message.source, value) for value in idempotency_values(message))
    try:
        result = runtime.run_once(message.source)(
            delivery=payloads[0], inner=payloads[1:], message=message, handler=handler, runtime=runtime
        )
    except PermanentError as error:
        return _dead_letter(runtime, raw, error)
    except IdempotencyAlreadyInProgressError:
        # Another invocation holds this delivery right now; running it here too would run it twice.
        logger.info("delivery already in progress elsewhere: retrying later")
        _count("retried")
        raise
    except Exception:
        logger.exception("handler failed: retrying")
        _count("retried")
        raise
    if isinstance(result, dict) and result.get("duplicate"):
        logger.info("duplicate delivery: skipped")
        _count("duplicate")
        return "duplicate"
    _count("processed")
    return "processed"


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    try:
        return _process_message(_runtime(), router, record.raw_event)
    finally:
        logger.remove_keys(["correlation_id", "source", "event_type"])


@functools.cache
def _runtime() -> Runtime:
    return Runtime(Settings.from_env())


def reset_runtime() -> None:
    """Forget the clients and settings built from the environment (tests change it between cases)."""
    _runtime.cache_clear()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    runtime = _runtime()
    if runtime.settings.source:
        # Per invocation rather than as a default dimension: defaults outlive the
        # runtime, and `make local` plays every source's processor in one process.
        metrics.add_dimension("source", runtime.settings.source)
    runtime.idempotency_config.register_lambda_context(context)
    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=runtime.processor,
        context=context,
    )
