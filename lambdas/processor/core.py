"""From one SQS record to what became of it: decode, route, run at most once, dead-letter.

No module state, no logging and no metrics here: AWS sits behind
``Adapters``, idempotency records behind the persistence layer handed to
``Idempotency``, and the caller turns the returned ``Outcome`` into logs,
metrics and the batch response (``processor.handler``). The decision table:

==========================================  ===============  ==========================
what happened                               ``Result``       the record
==========================================  ===============  ==========================
message cannot be decoded                   DEAD_LETTERED    succeeds (DLQ, reason)
message of another source                   DEAD_LETTERED    succeeds (DLQ, reason)
no handler, UNHANDLED_EVENTS=acknowledge    UNHANDLED        succeeds
no handler, UNHANDLED_EVENTS=fail           RETRIED          batch item failure
handler returned                            PROCESSED        succeeds
every key already COMPLETED                 DUPLICATE        succeeds, handler not run
payload fails the route's model or schema   DEAD_LETTERED    succeeds (DLQ, reason)
PermanentError (also ClaimCheckError)       DEAD_LETTERED    succeeds (DLQ, reason)
a key INPROGRESS elsewhere                  RETRIED          batch item failure
any other exception                         RETRIED          batch item failure
the DLQ send of a permanent failure failed  RETRIED          batch item failure
==========================================  ===============  ==========================

"No handler" includes an event whose API version no route claims: routing is
by (source, event type, API version), most specific first (``shared.router``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from processor.adapters import Adapters
from processor.keys import EVENT_KEY_JMESPATH, HASH_FUNCTION, idempotency_payload, idempotency_values, key_prefix
from processor.settings import Settings
from shared.contract import UNHANDLED_FAIL
from shared.event import PermanentError, WebhookEvent
from shared.message import MessageFormatError, QueuedWebhook, from_sqs_record
from shared.router import Router


class UnhandledEventError(Exception):
    """No handler claims this event type and UNHANDLED_EVENTS=fail: retried, then dead-lettered by SQS."""


class SourceMismatchError(PermanentError):
    """A message for another source reached this source's processor."""


class Result(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    UNHANDLED = "unhandled"
    RETRIED = "retried"


@dataclass(frozen=True)
class Outcome:
    """What became of one record, for logs, metrics and the batch response (never the body)."""

    result: Result
    # Set once the record decoded; None for an undecodable one.
    message: QueuedWebhook | None = None
    # No handler claims the event type (counted as unhandled whether acknowledged or retried).
    unhandled: bool = False
    # Why the record was (or, if the send failed, was to be) dead-lettered.
    permanent: Exception | None = None
    # RETRIED only: the exception that makes it a batch item failure.
    error: Exception | None = None
    # The API version routing read (only when a route of the source names one): shaped like a version, safe to log.
    api_version: str | None = None


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> dict[str, Any]:
    """Powertools calls this only when it answers from a COMPLETED record, i.e. for a duplicate."""
    return {**(response or {}), "duplicate": True}


class Idempotency:
    """Powertools idempotency on ``persistence``, one idempotent runner per source's key prefix."""

    def __init__(self, persistence: BasePersistenceLayer, *, expiry_seconds: int) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath=EVENT_KEY_JMESPATH,
            hash_function=HASH_FUNCTION,
            expires_after_seconds=expiry_seconds,
            raise_on_no_idempotency_key=True,
            response_hook=_mark_duplicate,
        )
        self.persistence = persistence
        self._runners: dict[str, Any] = {}

    def _runner(self, source: str) -> Any:
        """``_run_keyed`` made idempotent under ``source``'s key prefix (processor.keys)."""
        if source not in self._runners:
            self._runners[source] = idempotent_function(
                _run_keyed,
                data_keyword_argument="delivery",
                config=self.config,
                persistence_store=self.persistence,
                key_prefix=key_prefix(source),
            )
        return self._runners[source]

    def run(self, message: QueuedWebhook, work: Callable[[], object]) -> dict:
        """Run ``work`` once per delivery: under a record per key of the message, outermost first."""
        payloads = tuple(idempotency_payload(message.source, value) for value in idempotency_values(message))
        return self.run_nested(payloads, message, work)

    def run_nested(
        self, payloads: tuple[dict[str, str], ...], message: QueuedWebhook, work: Callable[[], object]
    ) -> dict:
        """Under the record of ``payloads[0]``, the rest nested inside it (``_run_keyed``)."""
        result: dict = self._runner(message.source)(
            delivery=payloads[0], inner=payloads[1:], message=message, work=work, idempotency=self
        )
        return result


def _run_keyed(
    *,
    delivery: dict[str, str],
    inner: tuple[dict[str, str], ...],
    message: QueuedWebhook,
    work: Callable[[], object],
    idempotency: Idempotency,
) -> dict:
    """Called under the idempotency record of ``delivery``; the handler runs only if every key is new.

    With two keys (an unsigned id and the digest of a signed timestamp and
    body) the records nest: a genuine retry is stopped by the first, a replay
    under a fresh id by the second, which answers with its stored result.
    Any exception deletes the in-progress records (Powertools does this before
    re-raising), so a dead-lettered delivery can be redriven and run again.
    """
    if inner:
        return idempotency.run_nested(inner, message, work)
    work()
    return {"outcome": "processed"}


class Delivery:
    """One message's event for its handler, built once, its body fetched from S3 only when first needed.

    A claim-checked body is fetched inside the idempotency record (a duplicate
    never fetches it), unless routing needs the API version from the body first.
    """

    def __init__(self, message: QueuedWebhook, adapters: Adapters, settings: Settings) -> None:
        self.message, self.adapters, self.settings = message, adapters, settings
        self._event: WebhookEvent | None = None

    @property
    def event(self) -> WebhookEvent:
        if self._event is None:
            message = self.message
            if message.body is not None:
                body = message.body
            else:
                assert message.claim_check is not None  # from_sqs_record sets exactly one of the two
                body = self.adapters.fetch_claim_check(message.claim_check)
            self._event = WebhookEvent(
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
                verified=message.provenance.verified,
                api_version_from=self.settings.api_version_from,
            )
        return self._event

    def api_version(self, router: Router) -> str | None:
        """The API version to route on: read only when a route of this source names one (else None)."""
        where = self.settings.api_version_from
        if where is None or not router.versioned(self.message.source):
            return None
        # A header is read off the message: no body fetched for it.
        return where.read(self.message.headers) if where.place == "header" else self.event.api_version


def _dead_letter(
    adapters: Adapters, raw: Mapping[str, Any], error: Exception, message: QueuedWebhook | None = None
) -> Outcome:
    try:
        adapters.dead_letter(raw, error)
    except Exception as send_error:
        # A batch item failure instead: SQS keeps the message, so it is never dropped.
        return Outcome(Result.RETRIED, message, permanent=error, error=send_error)
    return Outcome(Result.DEAD_LETTERED, message, permanent=error)


def process(
    raw: Mapping[str, Any],
    *,
    settings: Settings,
    adapters: Adapters,
    router: Router,
    idempotency: Idempotency,
    on_message: Callable[[QueuedWebhook], None] | None = None,
) -> Outcome:
    """Decide and do what the record needs; ``on_message`` sees the message once it decoded.

    Exceptions outside the table above (a bug, say) propagate unchanged.
    """
    try:
        message = from_sqs_record(raw)
    except MessageFormatError as error:
        return _dead_letter(adapters, raw, error)
    if on_message is not None:
        on_message(message)

    if settings.source and message.source != settings.source:
        mismatch = SourceMismatchError(f"message for source {message.source!r} reached {settings.source!r}")
        return _dead_letter(adapters, raw, mismatch, message)

    delivery = Delivery(message, adapters, settings)
    try:
        version = delivery.api_version(router)
    except PermanentError as error:  # ClaimCheckError: the body routing needed is gone or altered
        return _dead_letter(adapters, raw, error, message)
    except Exception as error:  # S3 refused or failed: retried, as inside the idempotency record
        return Outcome(Result.RETRIED, message, error=error)
    route = router.route(message.source, message.event_type, version)
    if route is None:
        if settings.unhandled_events == UNHANDLED_FAIL:
            at_version = f" at API version {version!r}" if version else ""
            unhandled = UnhandledEventError(
                f"no handler for {message.source!r} event type {message.event_type!r}{at_version}"
            )
            return Outcome(Result.RETRIED, message, unhandled=True, error=unhandled, api_version=version)
        return Outcome(Result.UNHANDLED, message, unhandled=True, api_version=version)

    try:
        chosen = route
        result = idempotency.run(message, lambda: chosen.invoke(delivery.event))
    except PermanentError as error:
        return _dead_letter(adapters, raw, error, message)
    except Exception as error:
        # Including IdempotencyAlreadyInProgressError: another invocation holds this
        # delivery right now, and running it here too would run it twice.
        return Outcome(Result.RETRIED, message, error=error)
    if isinstance(result, dict) and result.get("duplicate"):
        return Outcome(Result.DUPLICATE, message)
    return Outcome(Result.PROCESSED, message)
