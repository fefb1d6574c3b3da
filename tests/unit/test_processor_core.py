"""The processor's decision table, row by row, with the in-memory fake and idempotency store (no AWS)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from processor.adapters import ClaimCheckError
from processor.core import Idempotency, Outcome, Result, SourceMismatchError, UnhandledEventError, process
from processor.settings import Settings
from shared.event import InvalidJsonError, PermanentError, WebhookEvent
from shared.message import MessageFormatError, Provenance, QueuedWebhook
from shared.router import Router
from tests.support.processor import (
    SETTINGS,
    SOURCE,
    FakeAdapters,
    MemoryPersistence,
    claim_check,
    lambda_context,
    record_calls,
    sqs_record,
    webhook,
)


@dataclasses.dataclass
class Core:
    """One processor's state: a router recording each call, the fake seam, in-memory idempotency records."""

    settings: Settings = SETTINGS
    adapters: FakeAdapters = dataclasses.field(default_factory=FakeAdapters)
    persistence: MemoryPersistence = dataclasses.field(default_factory=MemoryPersistence)
    router: Router = dataclasses.field(default_factory=Router)
    calls: list[WebhookEvent] = dataclasses.field(default_factory=list)
    seen: list[QueuedWebhook] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.idempotency = Idempotency(self.persistence, expiry_seconds=self.settings.expiry_seconds)
        self.idempotency.config.register_lambda_context(lambda_context())

    def on(self, event_type: str = "*", action: Callable[[WebhookEvent], None] | None = None) -> None:
        record_calls(self.router, self.calls, event_type, action)

    def process(self, record: dict) -> Outcome:
        return process(
            record,
            settings=self.settings,
            adapters=self.adapters,
            router=self.router,
            idempotency=self.idempotency,
            on_message=self.seen.append,
        )


def _raise(error: Exception) -> Callable[[WebhookEvent], None]:
    def handle(event: WebhookEvent) -> None:
        raise error

    return handle


@pytest.fixture
def core() -> Core:
    return Core()


def test_a_new_delivery_runs_its_handler_and_is_processed(core: Core) -> None:
    core.on()
    message = webhook("evt_1")

    outcome = core.process(sqs_record(message))

    assert outcome == Outcome(Result.PROCESSED, message)
    (event,) = core.calls
    assert (event.source, event.delivery_id, event.event_type, event.body) == (
        SOURCE,
        "evt_1",
        "invoice.paid",
        message.body,
    )
    assert event.idempotency_keys == ("evt_1",)
    assert core.persistence.record_status(SOURCE, "evt_1") == "COMPLETED"
    assert core.seen == [message]


def test_a_completed_delivery_is_a_duplicate_and_its_handler_does_not_run(core: Core) -> None:
    core.on()
    core.process(sqs_record(webhook("evt_dup")))

    outcome = core.process(sqs_record(webhook("evt_dup")))

    assert outcome.result is Result.DUPLICATE
    assert len(core.calls) == 1


def test_a_delivery_in_progress_elsewhere_is_retried_without_running(core: Core) -> None:
    core.on()
    core.persistence.hold(SOURCE, "evt_busy")

    outcome = core.process(sqs_record(webhook("evt_busy")))

    assert outcome.result is Result.RETRIED
    assert isinstance(outcome.error, IdempotencyAlreadyInProgressError)
    assert core.calls == []
    assert core.persistence.record_status(SOURCE, "evt_busy") == "INPROGRESS"


def test_a_delivery_whose_holder_died_is_taken_over(core: Core) -> None:
    core.on()
    core.persistence.hold(SOURCE, "evt_dead", for_seconds=-1)

    outcome = core.process(sqs_record(webhook("evt_dead")))

    assert outcome.result is Result.PROCESSED
    assert len(core.calls) == 1


def test_a_handler_exception_is_retried_and_leaves_no_record(core: Core) -> None:
    down = ConnectionError("downstream unavailable")
    core.on(action=_raise(down))

    outcome = core.process(sqs_record(webhook("evt_down")))

    assert outcome.result is Result.RETRIED
    assert outcome.error is down
    assert outcome.permanent is None
    assert core.persistence.record_status(SOURCE, "evt_down") is None
    assert core.adapters.dead_letters == []


def test_a_permanent_error_is_dead_lettered_with_the_reason_and_leaves_no_record(core: Core) -> None:
    core.on(action=_raise(PermanentError("customer cus_42 does not exist")))
    record = sqs_record(webhook("evt_perm"))

    outcome = core.process(record)

    assert outcome.result is Result.DEAD_LETTERED
    assert isinstance(outcome.permanent, PermanentError)
    (dead,) = core.adapters.dead_letters
    assert dead["body"] == record["body"]
    assert dead["attributes"]["failure_type"] == "PermanentError"
    assert dead["attributes"]["failure_reason"] == "customer cus_42 does not exist"
    assert dead["attributes"]["delivery_id"] == "evt_perm"
    assert core.persistence.record_status(SOURCE, "evt_perm") is None


def test_a_body_that_is_not_json_is_a_permanent_failure(core: Core) -> None:
    core.on(action=lambda event: event.json())

    outcome = core.process(sqs_record(webhook("evt_xml", body=b"<xml/>")))

    assert outcome.result is Result.DEAD_LETTERED
    assert isinstance(outcome.permanent, InvalidJsonError)


def test_an_undecodable_message_is_dead_lettered_before_anything_else(core: Core) -> None:
    core.on()

    outcome = core.process(sqs_record(body="{}"))

    assert outcome.result is Result.DEAD_LETTERED
    assert outcome.message is None
    assert isinstance(outcome.permanent, MessageFormatError)
    assert core.seen == []
    assert core.calls == []
    assert core.adapters.dead_letters[0]["body"] == "{}"


def test_a_message_of_another_source_is_dead_lettered(core: Core) -> None:
    core.router.on("github", "*")(core.calls.append)

    outcome = core.process(sqs_record(webhook("evt_wrong", source="github")))

    assert outcome.result is Result.DEAD_LETTERED
    assert isinstance(outcome.permanent, SourceMismatchError)
    assert core.calls == []


def test_a_processor_without_a_source_takes_every_source(core: Core) -> None:
    core.settings = dataclasses.replace(SETTINGS, source="")
    core.router.on("github", "*")(core.calls.append)

    assert core.process(sqs_record(webhook("evt_any", source="github"))).result is Result.PROCESSED


def test_a_failed_dead_letter_send_is_retried_so_nothing_is_dropped(core: Core) -> None:
    core.on(action=_raise(PermanentError("bad payload")))
    core.adapters.fail_dead_letter = True

    outcome = core.process(sqs_record(webhook("evt_nodlq")))

    assert outcome.result is Result.RETRIED
    assert isinstance(outcome.permanent, PermanentError)
    assert isinstance(outcome.error, ConnectionError)
    assert core.persistence.record_status(SOURCE, "evt_nodlq") is None


def test_an_unhandled_event_is_acknowledged_by_default(core: Core) -> None:
    core.on("invoice.*")

    outcome = core.process(sqs_record(webhook("evt_x", "customer.created")))

    assert outcome.result is Result.UNHANDLED
    assert outcome.unhandled
    assert core.calls == []
    assert core.persistence.records == {}


def test_an_unhandled_event_is_retried_when_configured_to_fail(core: Core) -> None:
    core.settings = dataclasses.replace(SETTINGS, unhandled_events="fail")
    core.on("invoice.*")

    outcome = core.process(sqs_record(webhook("evt_x", "customer.created")))

    assert outcome.result is Result.RETRIED
    assert outcome.unhandled
    assert isinstance(outcome.error, UnhandledEventError)
    assert core.adapters.dead_letters == []
    assert core.persistence.records == {}


def test_a_claim_checked_body_is_fetched_before_the_handler(core: Core) -> None:
    core.on()
    big = b'{"data": "' + b"x" * 1000 + b'"}'
    pointer = claim_check(big)
    core.adapters.objects[(pointer.bucket, pointer.key)] = big

    outcome = core.process(sqs_record(webhook("evt_big", claim_check=pointer)))

    assert outcome.result is Result.PROCESSED
    assert core.calls[0].body == big


@pytest.mark.parametrize("stored", [None, b'{"id": "evil"}'], ids=["missing", "corrupt"])
def test_a_bad_claim_check_is_dead_lettered(core: Core, stored: bytes | None) -> None:
    core.on()
    pointer = claim_check(b'{"id": "evt_cc"}')
    if stored is not None:
        core.adapters.objects[(pointer.bucket, pointer.key)] = stored

    outcome = core.process(sqs_record(webhook("evt_cc", claim_check=pointer)))

    assert outcome.result is Result.DEAD_LETTERED
    assert isinstance(outcome.permanent, ClaimCheckError)
    assert core.calls == []
    assert core.persistence.record_status(SOURCE, "evt_cc") is None


def test_a_claim_check_read_refused_for_another_reason_is_retried(core: Core) -> None:
    core.on()
    core.adapters.fail_fetch = PermissionError("AccessDenied")

    outcome = core.process(sqs_record(webhook("evt_403", claim_check=claim_check(b"{}"))))

    assert outcome.result is Result.RETRIED
    assert outcome.error is core.adapters.fail_fetch
    assert core.persistence.record_status(SOURCE, "evt_403") is None


def test_nested_keys_stop_a_replay_under_a_fresh_unsigned_id(core: Core) -> None:
    core.on()
    digest = "sha256:" + "ab" * 32

    def replay(delivery_id: str) -> QueuedWebhook:
        keys = Provenance(delivery_id_signed=False, idempotency_keys=(delivery_id, digest))
        return webhook(delivery_id, provenance=keys)

    first = core.process(sqs_record(replay("evt_1")))
    again = core.process(sqs_record(replay("evt_2")))

    assert (first.result, again.result) == (Result.PROCESSED, Result.DUPLICATE)
    assert [event.idempotency_keys for event in core.calls] == [("evt_1", digest)]
    assert core.persistence.record_status(SOURCE, "evt_1") == "COMPLETED"
    assert core.persistence.record_status(SOURCE, digest) == "COMPLETED"


def test_an_error_outside_the_table_propagates(core: Core) -> None:
    def broken_route(source: str, event_type: str, api_version: str | None = None) -> None:
        raise LookupError("router bug")

    core.router.route = broken_route  # type: ignore[method-assign]

    with pytest.raises(LookupError, match="router bug"):
        core.process(sqs_record(webhook("evt_bug")))
