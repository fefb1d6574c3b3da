"""Validation at the door of a handler and routing by API version, through ``core.process`` (no AWS).

A route's model or schema is checked before its handler runs: a valid payload
reaches the handler as the model, an invalid one goes to the DLQ at once with
field paths (never values) as its reason, and writes no idempotency record.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from payloads.schemas import STRIPE_PAYMENT_INTENT_SUCCEEDED
from processor.core import Result
from shared.event import WebhookEvent
from shared.router import Router
from shared.validation import MAX_ERRORS_NAMED, PayloadValidationError
from tests.support.processor import SETTINGS, SOURCE, claim_check, sqs_record, webhook
from tests.unit.test_processor_core import Core
from webhook_verify.api_version import ApiVersionFrom

SECRET = "sk_live_do_not_log_me"


class Intent(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    amount: int
    currency: str
    metadata: dict[str, int] = {}


class Data(BaseModel):
    object: Intent


class IntentSucceeded(BaseModel):
    id: str
    type: Literal["payment_intent.succeeded"]
    data: Data


INTENT_SCHEMA = STRIPE_PAYMENT_INTENT_SUCCEEDED


def _body(**intent: Any) -> bytes:
    fields = {"id": "pi_1", "object": "payment_intent", "amount": 2000, "currency": "usd", "status": "succeeded"}
    document = {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": fields}}
    fields.update(intent)
    return json.dumps(document).encode()


def _record(body: bytes, delivery_id: str = "evt_1", event_type: str = "payment_intent.succeeded") -> dict:
    return sqs_record(webhook(delivery_id, event_type, body=body))


@pytest.fixture
def core() -> Core:
    return Core()


@pytest.fixture
def received(core: Core) -> list[tuple[WebhookEvent, Any]]:
    calls: list[tuple[WebhookEvent, Any]] = []

    @core.router.on(SOURCE, "payment_intent.succeeded", model=IntentSucceeded)
    def paid(event: WebhookEvent, payload: IntentSucceeded) -> None:
        calls.append((event, payload))

    return calls


def test_a_valid_payload_reaches_its_handler_as_the_model(core: Core, received: list) -> None:
    outcome = core.process(_record(_body()))

    assert outcome.result == Result.PROCESSED
    [(event, payload)] = received
    assert isinstance(payload, IntentSucceeded)
    assert (payload.data.object.id, payload.data.object.amount, payload.data.object.currency) == ("pi_1", 2000, "usd")
    assert event.delivery_id == "evt_1"
    assert core.persistence.record_status(SOURCE, "evt_1") == "COMPLETED"


def test_an_invalid_payload_goes_to_the_dlq_at_once_with_field_paths_and_no_values(
    core: Core, received: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = _body(amount=SECRET, metadata={SECRET: SECRET})
    del_currency = json.loads(body)
    del del_currency["data"]["object"]["currency"]

    outcome = core.process(_record(json.dumps(del_currency).encode()))

    assert outcome.result == Result.DEAD_LETTERED
    assert isinstance(outcome.permanent, PayloadValidationError)
    assert received == []
    [dead] = core.adapters.dead_letters
    reason = dead["attributes"]["failure_reason"]
    assert dead["attributes"]["failure_type"] == "PayloadValidationError"
    assert reason.startswith(f"payload of {SOURCE} delivery evt_1 does not match IntentSucceeded: ")
    assert "data.object.amount: int_parsing" in reason
    assert "data.object.currency: missing" in reason
    # The free-form key the sender chose is not a field name: written *, like its value never written at all.
    assert "data.object.metadata.*: int_parsing" in reason
    assert SECRET not in reason
    assert SECRET not in caplog.text
    # No record: a redrive after the fix runs the handler.
    assert core.persistence.record_status(SOURCE, "evt_1") is None


def test_a_body_that_is_not_json_is_a_permanent_failure_of_the_model(core: Core, received: list) -> None:
    outcome = core.process(_record(b"<xml>" + SECRET.encode() + b"</xml>"))

    assert outcome.result == Result.DEAD_LETTERED
    [dead] = core.adapters.dead_letters
    assert dead["attributes"]["failure_type"] == "InvalidJsonError"
    assert SECRET not in dead["attributes"]["failure_reason"]


def test_a_body_of_another_event_is_refused_by_a_literal_type(core: Core, received: list) -> None:
    other = json.dumps({"id": "evt_2", "type": "charge.refunded", "data": {"object": {"id": "ch_1"}}}).encode()

    outcome = core.process(_record(other, "evt_2"))

    assert outcome.result == Result.DEAD_LETTERED
    reason = core.adapters.dead_letters[0]["attributes"]["failure_reason"]
    assert "type: literal_error" in reason
    assert "charge.refunded" not in reason


def test_many_errors_are_counted_not_listed(core: Core) -> None:
    class Wide(BaseModel):
        a: int
        b: int
        c: int
        d: int
        e: int
        f: int
        g: int

    seen: list[Wide] = []
    core.router.on(SOURCE, "wide", model=Wide)(lambda event, payload: seen.append(payload))

    core.process(_record(b"{}", "evt_w", "wide"))

    reason = core.adapters.dead_letters[0]["attributes"]["failure_reason"]
    assert reason.count(": missing") == MAX_ERRORS_NAMED
    assert reason.endswith(f"(and {7 - MAX_ERRORS_NAMED} more)")
    assert seen == []


def test_a_json_schema_route_gets_the_validated_document(core: Core) -> None:
    calls: list[Any] = []
    core.router.on(SOURCE, "payment_intent.succeeded", schema=INTENT_SCHEMA)(
        lambda event, payload: calls.append(payload)
    )

    assert core.process(_record(_body())).result == Result.PROCESSED
    assert calls[0]["data"]["object"]["amount"] == 2000

    bad = json.loads(_body(amount=-5))
    del bad["data"]["object"]["id"]
    outcome = core.process(_record(json.dumps(bad).encode(), "evt_bad"))
    assert outcome.result == Result.DEAD_LETTERED
    reason = core.adapters.dead_letters[0]["attributes"]["failure_reason"]
    # fastjsonschema stops at the first error; the required list is the schema's own.
    assert reason == (
        f"payload of {SOURCE} delivery evt_bad does not match Stripe payment_intent.succeeded: "
        "data.object: required id, object, amount, currency, status"
    )
    assert len(calls) == 1


def test_a_schema_error_names_the_rule_not_the_value(core: Core) -> None:
    core.router.on(SOURCE, "payment_intent.succeeded", schema=INTENT_SCHEMA)(lambda event, payload: None)

    core.process(_record(_body(amount=SECRET)))

    reason = core.adapters.dead_letters[0]["attributes"]["failure_reason"]
    assert reason.endswith("data.object.amount: type")
    assert SECRET not in reason


def test_a_route_refuses_a_schema_that_does_not_compile_and_both_kinds_at_once() -> None:
    router = Router()
    with pytest.raises(ValueError, match="not a usable JSON Schema"):
        router.on(SOURCE, schema={"type": "no-such-type"})
    with pytest.raises(ValueError, match="model= or schema=, not both"):
        router.on(SOURCE, model=IntentSucceeded, schema=INTENT_SCHEMA)


def test_handlers_without_a_model_still_get_the_event_alone(core: Core) -> None:
    core.on("invoice.paid")

    assert core.process(sqs_record(webhook("evt_plain"))).result == Result.PROCESSED
    assert [event.delivery_id for event in core.calls] == ["evt_plain"]


# ---- routing by API version


def _stripe(version: str | None, delivery_id: str = "evt_v", event_type: str = "invoice.paid") -> dict:
    document: dict[str, Any] = {"id": delivery_id, "type": event_type, "data": {"object": {}}}
    if version is not None:
        document["api_version"] = version
    return sqs_record(webhook(delivery_id, event_type, body=json.dumps(document).encode()))


def _versioned_core(where: str = "body:api_version", unhandled: str = "acknowledge") -> tuple[Core, list[str]]:
    settings = dataclasses.replace(SETTINGS, api_version_from=ApiVersionFrom.parse(where), unhandled_events=unhandled)
    core = Core(settings=settings)
    ran: list[str] = []
    core.router.on(SOURCE, "invoice.paid", api_version="2024-*")(lambda event: ran.append("2024:" + event.delivery_id))
    core.router.on(SOURCE, "invoice.paid", api_version="2024-06-20")(
        lambda event: ran.append("2024-06-20:" + event.delivery_id)
    )
    core.router.on(SOURCE, "invoice.*", api_version="2025-*")(lambda event: ran.append("2025:" + event.delivery_id))
    return core, ran


def test_events_are_routed_by_api_version_most_specific_first() -> None:
    core, ran = _versioned_core()

    for version, delivery_id in (("2024-06-20", "a"), ("2024-04-10", "b"), ("2025-03-31.basil", "c")):
        assert core.process(_stripe(version, delivery_id)).result == Result.PROCESSED

    assert ran == ["2024-06-20:a", "2024:b", "2025:c"]


@pytest.mark.parametrize(
    ("unhandled", "result"), [("acknowledge", Result.UNHANDLED), ("fail", Result.RETRIED)], ids=["ack", "fail"]
)
def test_a_version_no_route_claims_follows_unhandled_events(unhandled: str, result: Result) -> None:
    core, ran = _versioned_core(unhandled=unhandled)

    for version, delivery_id, read in (
        ("2023-10-16", "old", "2023-10-16"),
        (None, "none", None),
        ("<x>", "junk", None),
    ):
        outcome = core.process(_stripe(version, delivery_id))
        assert (outcome.result, outcome.unhandled, outcome.api_version) == (result, True, read)
        if result is Result.RETRIED:
            at = f" at API version {read!r}" if read else ""
            assert str(outcome.error) == f"no handler for 'stripe' event type 'invoice.paid'{at}"

    assert ran == []
    assert core.persistence.record_status(SOURCE, "old") is None


def test_the_event_says_its_version_and_whether_the_signature_covers_it() -> None:
    core, _ = _versioned_core()
    seen: list[WebhookEvent] = []
    core.router.on(SOURCE, "customer.created")(seen.append)

    core.process(_stripe("2024-06-20", "evt_c", "customer.created"))

    assert (seen[0].api_version, seen[0].api_version_signed) == ("2024-06-20", True)


def test_a_version_from_a_header_is_read_off_the_message_and_is_not_signed() -> None:
    settings = dataclasses.replace(SETTINGS, api_version_from=ApiVersionFrom.parse("header:X-Shopify-API-Version"))
    core = Core(settings=settings)
    seen: list[WebhookEvent] = []
    core.router.on(SOURCE, "orders/create", api_version="2024-07")(seen.append)
    message = webhook("evt_h", "orders/create", body=b"{}", headers={"x-shopify-api-version": "2024-07"})

    assert core.process(sqs_record(message)).result == Result.PROCESSED
    assert (seen[0].api_version, seen[0].api_version_signed) == ("2024-07", False)


def test_a_claim_checked_body_is_fetched_once_to_route_by_a_body_version() -> None:
    core, ran = _versioned_core()
    body = json.dumps({"id": "evt_big", "type": "invoice.paid", "api_version": "2024-06-20"}).encode()
    pointer = claim_check(body)
    core.adapters.objects[(pointer.bucket, pointer.key)] = body
    fetches: list[object] = []
    original = core.adapters.fetch_claim_check

    def counted(pointer: Any) -> bytes:
        fetches.append(pointer)
        return original(pointer)

    core.adapters.fetch_claim_check = counted  # type: ignore[method-assign]

    assert core.process(sqs_record(webhook("evt_big", "invoice.paid", claim_check=pointer))).result == Result.PROCESSED
    assert ran == ["2024-06-20:evt_big"]
    assert len(fetches) == 1


def test_a_claim_checked_body_that_is_gone_is_dead_lettered_before_routing() -> None:
    core, ran = _versioned_core()
    pointer = claim_check(b"{}", key="stripe/gone")

    outcome = core.process(sqs_record(webhook("evt_gone", "invoice.paid", claim_check=pointer)))

    assert outcome.result == Result.DEAD_LETTERED
    assert ran == []


def test_an_s3_failure_while_routing_is_retried() -> None:
    core, _ = _versioned_core()
    core.adapters.fail_fetch = ConnectionError("S3 unreachable")
    pointer = claim_check(b"{}", key="stripe/any")

    outcome = core.process(sqs_record(webhook("evt_s3", "invoice.paid", claim_check=pointer)))

    assert outcome.result == Result.RETRIED
    assert isinstance(outcome.error, ConnectionError)


def test_without_versioned_routes_a_claim_checked_body_waits_for_the_idempotency_record() -> None:
    core = Core(settings=dataclasses.replace(SETTINGS, api_version_from=ApiVersionFrom.parse("body:api_version")))
    core.on("invoice.paid")
    body = b'{"api_version": "2024-06-20"}'
    pointer = claim_check(body)
    core.adapters.objects[(pointer.bucket, pointer.key)] = body
    core.persistence.hold(SOURCE, "evt_held")
    core.adapters.fail_fetch = AssertionError("fetched before the idempotency record")

    outcome = core.process(sqs_record(webhook("evt_held", "invoice.paid", claim_check=pointer)))

    # Held by another invocation: retried without touching S3.
    assert outcome.result == Result.RETRIED
    assert type(outcome.error).__name__ == "IdempotencyAlreadyInProgressError"


def test_the_same_patterns_with_another_version_are_another_route() -> None:
    router = Router()
    router.on(SOURCE, "invoice.paid", api_version="2024-*")(lambda event: None)
    router.on(SOURCE, "invoice.paid")(lambda event: None)
    with pytest.raises(ValueError, match="api_version='2024-\\*'"):
        router.on(SOURCE, "invoice.paid", api_version="2024-*")(lambda event: None)
    with pytest.raises(ValueError, match="must not be empty"):
        router.on(SOURCE, "invoice.paid", api_version="")
    assert router.versioned(SOURCE)
    assert not router.versioned("github")


def test_a_model_without_a_json_schema_still_validates_with_its_paths_hidden(core: Core) -> None:
    class Opaque:
        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
            from pydantic_core import core_schema

            return core_schema.no_info_plain_validator_function(lambda value: value)

    class WithOpaque(BaseModel):
        amount: int
        blob: Opaque

    core.router.on(SOURCE, "opaque", model=WithOpaque)(lambda event, payload: None)

    core.process(_record(b'{"amount": "x", "blob": 1}', "evt_o", "opaque"))

    assert core.adapters.dead_letters[0]["attributes"]["failure_reason"].endswith("WithOpaque: *: int_parsing")


def test_the_shipped_schema_takes_stripes_documented_event_and_the_kits_sample() -> None:
    from shared.validation import SchemaValidator
    from webhook_kit.send import render

    root = Path(__file__).resolve().parents[2]
    validate = SchemaValidator(STRIPE_PAYMENT_INTENT_SUCCEEDED)
    documented = (root / "tests/unit/payloads/stripe/payment_intent.succeeded.json").read_bytes()
    sample = render((root / "samples/stripe.json").read_bytes(), delivery_id="evt_s", now=1_700_000_000)
    for body in (documented, sample):
        document = validate(WebhookEvent(SOURCE, "evt_s", "payment_intent.succeeded", "", body))
        assert document["data"]["object"]["status"] == "succeeded"
    invoice = (root / "tests/unit/payloads/stripe/invoice.paid.json").read_bytes()
    with pytest.raises(PayloadValidationError, match=r"Stripe payment_intent.succeeded: type: const$"):
        validate(WebhookEvent(SOURCE, "evt_i", "payment_intent.succeeded", "", invoice))
