"""Processor Lambda: one per source, fed by that source's queue.

For each record of the SQS batch: decode the message, find the user's handler,
run it at most once per delivery (Powertools idempotency on DynamoDB, keyed on
``source#delivery_id``, or on the digest of the signed material when the id is
not signed: see ``processor.keys``), and report the outcome so that SQS keeps
only what must be retried:

* success, duplicate, acknowledged unhandled event: the record succeeds;
* retryable failure (any exception, a concurrent duplicate still in progress,
  an unhandled event under ``UNHANDLED_EVENTS=fail``): batch item failure, SQS
  redelivers it and its redrive policy moves it to the DLQ after
  ``max_receive_count`` receives;
* permanent failure (PermanentError, an undecodable message, a missing or
  corrupt claim-check object): sent to the DLQ at once with the reason, then
  reported as success. If that send fails, it is a batch item failure instead,
  so nothing is ever dropped.

The decisions live in ``processor.core`` (the table is there); this module
adds Powertools logging, metrics and tracing, the batch response, and builds
settings, AWS adapters and idempotency once per cold start (lazily, so tests
can set the environment first, or ``install`` fakes). ``observe`` lets a
caller see each record's outcome, which the batch response does not carry.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from processor.adapters import Adapters, AwsAdapters
from processor.core import Idempotency, Outcome, Result, process
from processor.settings import Settings
from shared.message import QueuedWebhook
from shared.metrics import NAMESPACE as METRICS_NAMESPACE
from shared.metrics import function_metrics
from shared.router import Router
from shared.router import router as registered_routes

# The user's handlers register themselves on `shared.router.router` when imported. Importing
# at cold start makes a broken handlers.py fail loudly before any message is taken.
importlib.import_module("handlers")

logger = Logger()
metrics = function_metrics()
tracer = Tracer()

# Called with the Lambda record and its Result, or with the exception that made it a
# batch item failure. It runs inside the invocation and must not raise.
OutcomeHook = Callable[[Mapping[str, Any], Result | Exception], None]
# The same, given also the exception a record was (or was to be) dead-lettered for, else None.
FailureHook = Callable[[Mapping[str, Any], Result | Exception, Exception | None], None]
_LOG_KEYS = ["correlation_id", "source", "event_type"]


@dataclass
class Runtime:
    """Everything built at the first invocation: settings, AWS adapters, routes, idempotency."""

    settings: Settings
    adapters: Adapters
    router: Router
    idempotency: Idempotency
    processor: BatchProcessor = field(
        default_factory=lambda: BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    )


_runtime: Runtime | None = None
_observers: list[tuple[Callable[..., None], bool]] = []


def runtime() -> Runtime:
    """The cold-start state: settings from the environment, AWS adapters, DynamoDB idempotency."""
    global _runtime
    if _runtime is None:
        _runtime = install()
    return _runtime


def install(
    *,
    settings: Settings | None = None,
    adapters: Adapters | None = None,
    router: Router | None = None,
    persistence: BasePersistenceLayer | None = None,
) -> Runtime:
    """Replace the runtime (tests, local runs); what is not given comes from the environment.

    ``router`` defaults to the one ``handlers`` registered on; ``persistence``
    to the DynamoDB table ``IDEMPOTENCY_TABLE``. Passing a previous runtime's
    parts keeps their clients warm.
    """
    global _runtime
    settings = settings or Settings.from_env()
    _runtime = Runtime(
        settings=settings,
        adapters=adapters
        or AwsAdapters(
            claim_check_bucket=settings.claim_check_bucket, dead_letter_queue_url=settings.dead_letter_queue_url
        ),
        router=registered_routes if router is None else router,
        idempotency=Idempotency(
            persistence or DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
            expiry_seconds=settings.expiry_seconds,
        ),
    )
    return _runtime


def reset() -> None:
    """Forget the cold-start state; the next invocation reads the environment again."""
    global _runtime
    _runtime = None


@contextlib.contextmanager
def observe(hook: OutcomeHook | FailureHook, *, failures: bool = False) -> Iterator[None]:
    """Call ``hook`` with each record's outcome while the block runs (``reset`` does not end it).

    With ``failures=True`` it is a ``FailureHook``: a third argument carries the permanent
    failure a record was dead-lettered for (its type and reason are the DLQ's), else None.
    """
    entry = (hook, failures)
    _observers.append(entry)
    try:
        yield
    finally:
        _observers.remove(entry)


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _count_unhandled(message: QueuedWebhook) -> None:
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


def _record(outcome: Outcome) -> None:
    """Logs and metrics of one record's outcome."""
    if outcome.unhandled and outcome.message is not None:
        _count_unhandled(outcome.message)
    if outcome.permanent is not None:
        logger.warning(
            "permanent failure: sending to the dead-letter queue",
            extra={"failure_type": type(outcome.permanent).__name__, "failure_reason": str(outcome.permanent)},
        )
    if outcome.result is Result.RETRIED:
        if outcome.permanent is not None:
            logger.exception("could not send to the dead-letter queue: retrying", exc_info=outcome.error)
        elif isinstance(outcome.error, IdempotencyAlreadyInProgressError):
            logger.info("delivery already in progress elsewhere: retrying later")
        elif not outcome.unhandled:
            logger.exception("handler failed: retrying", exc_info=outcome.error)
        _count("retried")
    elif outcome.result is Result.UNHANDLED:
        if outcome.api_version is not None:
            logger.info(
                "no handler for this event type at this API version: acknowledged",
                extra={"api_version": outcome.api_version},
            )
        else:
            logger.info("no handler for this event type: acknowledged")
    else:
        if outcome.result is Result.DUPLICATE:
            logger.info("duplicate delivery: skipped")
        _count(outcome.result.value)


def _with_log_keys(message: QueuedWebhook) -> None:
    logger.set_correlation_id(message.delivery_id)
    logger.append_keys(source=message.source, event_type=message.event_type)


def _decide(raw: Mapping[str, Any]) -> Outcome:
    state = runtime()
    try:
        outcome = process(
            raw,
            settings=state.settings,
            adapters=state.adapters,
            router=state.router,
            idempotency=state.idempotency,
            on_message=_with_log_keys,
        )
        _record(outcome)
        return outcome
    finally:
        logger.remove_keys(_LOG_KEYS)


def _notify(raw: Mapping[str, Any], outcome: Result | Exception, permanent: Exception | None = None) -> None:
    for hook, failures in list(_observers):
        if failures:
            hook(raw, outcome, permanent)
        else:
            hook(raw, outcome)


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    """One record: its outcome as a string, or the exception that makes it a batch item failure."""
    raw = record.raw_event
    try:
        outcome = _decide(raw)
    except Exception as error:
        _notify(raw, error)
        raise
    if outcome.error is not None:
        _notify(raw, outcome.error, outcome.permanent)
        raise outcome.error
    _notify(raw, outcome.result, outcome.permanent)
    return outcome.result.value


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    state = runtime()
    if state.settings.source:
        # Per invocation rather than as a default dimension: defaults outlive the
        # runtime, which install() may replace with another source's (tests do).
        metrics.add_dimension("source", state.settings.source)
    state.idempotency.config.register_lambda_context(context)
    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=state.processor,
        context=context,
    )
