"""The processor's Lambda entry point on installed fakes: the batch response, the outcome hook, logs and metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from processor import handler as processor_handler
from processor.core import Result
from shared.event import PermanentError, WebhookEvent
from shared.router import Router
from shared.router import router as registered_routes
from tests.support.processor import (
    SETTINGS,
    SOURCE,
    FakeAdapters,
    MemoryPersistence,
    lambda_context,
    sqs_record,
    webhook,
)


@pytest.fixture
def router() -> Iterator[Router]:
    router = Router()
    processor_handler.install(
        settings=SETTINGS, adapters=FakeAdapters(), router=router, persistence=MemoryPersistence()
    )
    yield router
    processor_handler.reset()


def _invoke(*records: dict[str, Any]) -> set[str]:
    """The message ids the handler reports as batch item failures."""
    response = processor_handler.handler({"Records": list(records)}, lambda_context())
    return {failure["itemIdentifier"] for failure in response["batchItemFailures"]}


def _handle(event: WebhookEvent) -> None:
    if event.delivery_id == "evt_down":
        raise ConnectionError("downstream unavailable")
    if event.delivery_id == "evt_perm":
        raise PermanentError("bad payload")


def test_only_retried_records_are_batch_item_failures_and_the_hook_sees_every_outcome(router: Router) -> None:
    router.on(SOURCE, "invoice.*")(_handle)
    records = {
        name: sqs_record(message)
        for name, message in {
            "processed": webhook("evt_ok"),
            "duplicate": webhook("evt_ok"),
            "retried": webhook("evt_down"),
            "dead_lettered": webhook("evt_perm"),
            "unhandled": webhook("evt_x", "customer.created"),
        }.items()
    }
    seen: dict[str, Result | Exception] = {}

    def note(record: Mapping[str, Any], outcome: Result | Exception) -> None:
        seen[record["messageId"]] = outcome

    with processor_handler.observe(note):
        failed = _invoke(*records.values())

    assert failed == {records["retried"]["messageId"]}
    by_name = {name: seen[record["messageId"]] for name, record in records.items()}
    assert isinstance(by_name.pop("retried"), ConnectionError)
    assert by_name == {name: Result(name) for name in by_name}


def test_the_hook_is_called_only_inside_its_block_and_outlives_a_reset(router: Router) -> None:
    router.on(SOURCE)(_handle)
    seen: list[Result | Exception] = []

    with processor_handler.observe(lambda record, outcome: seen.append(outcome)):
        processor_handler.reset()
        processor_handler.install(
            settings=SETTINGS, adapters=FakeAdapters(), router=router, persistence=MemoryPersistence()
        )
        _invoke(sqs_record(webhook("evt_1")))
    _invoke(sqs_record(webhook("evt_2")))

    assert seen == [Result.PROCESSED]


def test_an_error_outside_the_decision_table_reaches_the_hook_and_fails_the_record(router: Router) -> None:
    def broken_route(source: str, event_type: str, api_version: str | None = None) -> None:
        raise LookupError("router bug")

    router.route = broken_route  # type: ignore[method-assign]
    record = sqs_record(webhook("evt_bug"))
    seen: list[Result | Exception] = []

    with processor_handler.observe(lambda record, outcome: seen.append(outcome)):
        failed = _invoke(record)

    assert failed == {record["messageId"]}
    assert [type(outcome) for outcome in seen] == [LookupError]


def test_each_outcome_is_counted_under_its_metric(router: Router, capsys: pytest.CaptureFixture[str]) -> None:
    router.on(SOURCE, "invoice.*")(_handle)
    _invoke(
        sqs_record(webhook("evt_ok")),
        sqs_record(webhook("evt_ok")),
        sqs_record(webhook("evt_down")),
        sqs_record(webhook("evt_perm")),
        sqs_record(webhook("evt_x", "customer.created")),
    )

    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    batch = next(blob for blob in blobs if "processed" in blob)
    names = ("processed", "duplicate", "retried", "dead_lettered", "unhandled")
    # Powertools writes a list where a metric was added more than once: the sum is the count.
    assert {name: sum(batch[name]) if isinstance(batch[name], list) else batch[name] for name in names} == {
        name: 1 for name in names
    }
    assert batch["source"] == SOURCE


def test_log_lines_of_a_record_carry_its_delivery_and_the_keys_are_dropped_after(router: Router) -> None:
    keys: list[dict[str, Any]] = []
    router.on(SOURCE)(lambda event: keys.append(dict(processor_handler.logger.get_current_keys())))

    _invoke(sqs_record(webhook("evt_log")))

    (inside,) = keys
    assert (inside["correlation_id"], inside["source"], inside["event_type"]) == ("evt_log", SOURCE, "invoice.paid")
    assert not {"correlation_id", "source", "event_type"} & set(processor_handler.logger.get_current_keys())


def test_install_without_a_router_uses_the_one_the_handlers_module_registered_on() -> None:
    state = processor_handler.install(settings=SETTINGS, adapters=FakeAdapters(), persistence=MemoryPersistence())
    try:
        assert state.router is registered_routes
    finally:
        processor_handler.reset()


def test_the_runtime_is_built_once_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idem")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", SETTINGS.dead_letter_queue_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    processor_handler.reset()
    try:
        first = processor_handler.runtime()
        assert processor_handler.runtime() is first
        assert first.settings.idempotency_table == "idem"
    finally:
        processor_handler.reset()


def test_a_missing_variable_fails_the_first_invocation_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDEMPOTENCY_TABLE", raising=False)
    processor_handler.reset()

    with pytest.raises(RuntimeError, match="IDEMPOTENCY_TABLE"):
        _invoke(sqs_record(webhook("evt_cfg")))
