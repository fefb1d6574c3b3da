"""The payload models read the providers' documented samples and refuse bodies of other events.

Fixtures: tests/unit/payloads/<provider>/*.json. tests/unit/payloads/SOURCES.md
names the page or repository (and commit) each one comes from and every change
made to it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from payloads.base import Payload
from payloads.github import PullRequestEvent, PushEvent
from payloads.shopify import OrderCreated
from payloads.slack import EventCallback
from payloads.stripe import InvoicePaid, PaymentIntentSucceeded

FIXTURES = Path(__file__).parent / "payloads"

# stripe/openapi fixtures3.json, in an Event envelope (https://docs.stripe.com/api/events/object)
PAYMENT_INTENT_SUCCEEDED = "stripe/payment_intent.succeeded.json"
INVOICE_PAID = "stripe/invoice.paid.json"
# octokit/webhooks payload examples (https://docs.github.com/en/webhooks/webhook-events-and-payloads)
PUSH = "github/push.json"
PULL_REQUEST = "github/pull_request.opened.json"
PULL_REQUEST_REVIEW = "github/pull_request_review.submitted.json"
# Shopify/shopify-app-js REST Order mock (https://shopify.dev/docs/api/admin-rest/2024-10/resources/order)
ORDER = "shopify/orders.create.json"
# https://docs.slack.dev/reference/objects/event-object with the app_mention example inside
SLACK = "slack/event_callback.app_mention.json"

MODELS: list[tuple[type[Payload], str]] = [
    (PaymentIntentSucceeded, PAYMENT_INTENT_SUCCEEDED),
    (InvoicePaid, INVOICE_PAID),
    (PushEvent, PUSH),
    (PullRequestEvent, PULL_REQUEST),
    (OrderCreated, ORDER),
    (EventCallback, SLACK),
]
MODEL_IDS = [model.__name__ for model, _ in MODELS]

Loc = tuple[str | int, ...]


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def node_at(body: dict[str, Any], loc: Loc) -> Any:
    node: Any = body
    for step in loc:
        node = node[step]
    return node


def field_at(model: Payload, loc: Loc) -> Any:
    node: Any = model
    for step in loc:
        node = node[step] if isinstance(step, int) else getattr(node, step)
    return node


def case_id(value: object) -> str | None:
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, tuple):
        return ".".join(map(str, value))
    return None


def errors_of(model: type[Payload], body: dict[str, Any]) -> list[tuple[Loc, str]]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return [(tuple(error["loc"]), error["type"]) for error in raised.value.errors()]


# --- Each documented sample validates and reads as documented ---


def test_payment_intent_succeeded_reads_the_event_and_its_payment_intent() -> None:
    event = PaymentIntentSucceeded.model_validate(load(PAYMENT_INTENT_SUCCEEDED))

    assert event.id == "evt_1Pgc76B7WZ01zgkWwyRHS12y"
    assert event.type == "payment_intent.succeeded"
    assert event.api_version is None
    assert event.created == 1234567890
    assert event.livemode is False
    intent = event.data.object
    assert intent.id == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert (intent.amount, intent.currency, intent.status) == (1099, "usd", "succeeded")
    assert intent.customer is None
    assert intent.metadata == {}


def test_invoice_paid_reads_the_event_and_its_invoice() -> None:
    event = InvoicePaid.model_validate(load(INVOICE_PAID))

    assert event.type == "invoice.paid"
    invoice = event.data.object
    assert invoice.id == "in_1Pgc6tB7WZ01zgkWu9fdqL6I"
    assert invoice.customer == "cus_QXg1o8vcGmoR32"
    assert (invoice.amount_paid, invoice.currency, invoice.status) == (1000, "usd", "paid")


def test_push_reads_the_ref_the_commits_and_who_pushed() -> None:
    push = PushEvent.model_validate(load(PUSH))

    assert push.ref == "refs/heads/master"
    assert push.before == "0" * 40
    assert push.after == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    (commit,) = push.commits
    assert commit.id == push.after
    assert commit.message == "Initial commit"
    assert commit.timestamp == datetime(2019, 5, 15, 15, 19, 25, tzinfo=UTC)
    assert (commit.author.name, commit.author.email) == ("Codertocat", "21031067+Codertocat@users.noreply.github.com")
    assert (push.repository.id, push.repository.full_name) == (186853002, "Codertocat/Hello-World")
    assert push.pusher.name == "Codertocat"
    assert push.sender.login == "Codertocat"


def test_pull_request_reads_the_action_and_both_branches() -> None:
    event = PullRequestEvent.model_validate(load(PULL_REQUEST))

    assert (event.action, event.number) == ("opened", 2)
    pr = event.pull_request
    assert (pr.id, pr.number, pr.state) == (279147437, 2, "open")
    assert pr.title == "Update the README with new information."
    assert (pr.head.ref, pr.head.sha) == ("changes", "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
    assert (pr.base.ref, pr.base.sha) == ("master", "f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
    assert event.repository.full_name == "Codertocat/Hello-World"
    assert event.sender.login == "Codertocat"


def test_order_reads_prices_as_exact_decimals() -> None:
    body = load(ORDER)
    order = OrderCreated.model_validate(body)

    assert order.id == 450789469
    assert order.admin_graphql_api_id == "gid://shopify/Order/450789469"
    assert order.email == "bob.norman@mail.example.com"
    assert order.created_at == datetime(2008, 1, 10, 11, tzinfo=timezone(timedelta(hours=-5)))
    assert order.currency == "USD"
    assert order.total_price == Decimal("598.94")
    assert order.financial_status == "partially_refunded"
    assert [(item.id, item.title, item.quantity) for item in order.line_items] == [
        (466157049, "IPod Nano - 8gb", 1),
        (518995019, "IPod Nano - 8gb", 1),
        (703073504, "IPod Nano - 8gb", 1),
    ]
    # Exact arithmetic: the line items add up to the order's own subtotal_price, with no float error.
    assert sum(item.price * item.quantity for item in order.line_items) == Decimal(body["subtotal_price"])


def test_slack_envelope_keeps_the_inner_event_fields() -> None:
    envelope = EventCallback.model_validate(load(SLACK))

    assert (envelope.team_id, envelope.api_app_id) == ("TXXXXXXXX", "AXXXXXXXXX")
    assert (envelope.event_id, envelope.event_time) == ("Ev08MFMKH6", 1234567890)
    assert envelope.event.type == "app_mention"
    assert envelope.event.model_extra is not None
    assert envelope.event.model_extra["channel"] == "C123ABC456"
    assert envelope.event.model_extra["text"] == "<@U0LAN0Z89> is it everything a river should be?"


@pytest.mark.parametrize(("model", "fixture"), MODELS, ids=MODEL_IDS)
def test_raw_bytes_and_a_parsed_dict_give_the_same_model(model: type[Payload], fixture: str) -> None:
    # The processor may validate the body as bytes or as the dict it already parsed.
    raw = (FIXTURES / fixture).read_bytes()

    assert model.model_validate_json(raw) == model.model_validate(json.loads(raw))


# --- A body that lacks a required field fails, naming the field's path ---


@pytest.mark.parametrize(
    ("model", "fixture", "path"),
    [
        (PaymentIntentSucceeded, PAYMENT_INTENT_SUCCEEDED, ("data", "object", "amount")),
        (PaymentIntentSucceeded, PAYMENT_INTENT_SUCCEEDED, ("type",)),
        (InvoicePaid, INVOICE_PAID, ("data", "object", "amount_paid")),
        (PushEvent, PUSH, ("commits", 0, "author", "name")),
        (PushEvent, PUSH, ("after",)),
        (PullRequestEvent, PULL_REQUEST, ("pull_request", "head", "sha")),
        (OrderCreated, ORDER, ("line_items", 1, "price")),
        (OrderCreated, ORDER, ("total_price",)),
        (EventCallback, SLACK, ("event", "type")),
        (EventCallback, SLACK, ("event_id",)),
    ],
    ids=case_id,
)
def test_a_missing_required_field_is_reported_at_its_path(model: type[Payload], fixture: str, path: Loc) -> None:
    body = load(fixture)
    del node_at(body, path[:-1])[path[-1]]

    assert errors_of(model, body) == [(path, "missing")]


def test_a_negative_amount_is_refused() -> None:
    body = load(PAYMENT_INTENT_SUCCEEDED)
    body["data"]["object"]["amount"] = -1099

    assert errors_of(PaymentIntentSucceeded, body) == [(("data", "object", "amount"), "greater_than_equal")]


def test_a_price_that_is_not_a_number_is_refused() -> None:
    body = load(ORDER)
    body["line_items"][0]["price"] = "NaN"

    assert errors_of(OrderCreated, body) == [(("line_items", 0, "price"), "finite_number")]


def test_a_commit_timestamp_without_an_offset_is_refused() -> None:
    # GitHub documents ISO 8601 timestamps with an offset; a naive one cannot be compared safely.
    body = load(PUSH)
    body["commits"][0]["timestamp"] = "2019-05-15T15:19:25"

    assert errors_of(PushEvent, body) == [(("commits", 0, "timestamp"), "timezone_aware")]


@pytest.mark.parametrize(
    ("model", "fixture", "path"),
    [
        (PaymentIntentSucceeded, PAYMENT_INTENT_SUCCEEDED, ("data", "object", "customer")),
        (PaymentIntentSucceeded, PAYMENT_INTENT_SUCCEEDED, ("api_version",)),
        (InvoicePaid, INVOICE_PAID, ("data", "object", "customer")),
        (PushEvent, PUSH, ("commits", 0, "author", "email")),
        (OrderCreated, ORDER, ("email",)),
    ],
    ids=case_id,
)
def test_a_field_documented_as_nullable_accepts_null(model: type[Payload], fixture: str, path: Loc) -> None:
    body = load(fixture)
    node_at(body, path[:-1])[path[-1]] = None

    assert field_at(model.model_validate(body), path) is None


# --- A body of another event is refused ---


def test_a_push_body_is_not_a_pull_request_event() -> None:
    missing = {loc for loc, kind in errors_of(PullRequestEvent, load(PUSH)) if kind == "missing"}

    assert missing == {("action",), ("number",), ("pull_request",)}


def test_a_pull_request_body_is_not_a_push() -> None:
    missing = {loc for loc, kind in errors_of(PushEvent, load(PULL_REQUEST)) if kind == "missing"}

    assert missing == {("ref",), ("before",), ("after",), ("commits",), ("pusher",)}


def test_a_pull_request_review_body_is_not_a_pull_request_event() -> None:
    # It has an action and a pull_request object too; only pull_request bodies have a top-level number.
    assert errors_of(PullRequestEvent, load(PULL_REQUEST_REVIEW)) == [(("number",), "missing")]


def test_an_invoice_paid_body_is_not_a_payment_intent_succeeded() -> None:
    errors = errors_of(PaymentIntentSucceeded, load(INVOICE_PAID))

    assert (("type",), "literal_error") in errors
    assert (("data", "object", "object"), "literal_error") in errors


def test_a_payment_intent_succeeded_body_is_not_an_invoice_paid() -> None:
    errors = errors_of(InvoicePaid, load(PAYMENT_INTENT_SUCCEEDED))

    assert (("type",), "literal_error") in errors
    assert (("data", "object", "object"), "literal_error") in errors


def test_a_payment_intent_that_has_not_succeeded_is_refused() -> None:
    body = load(PAYMENT_INTENT_SUCCEEDED)
    body["data"]["object"]["status"] = "processing"

    assert errors_of(PaymentIntentSucceeded, body) == [(("data", "object", "status"), "literal_error")]


def test_a_slack_envelope_of_another_type_is_refused() -> None:
    body = load(SLACK)
    body["type"] = "url_verification"

    assert errors_of(EventCallback, body) == [(("type",), "literal_error")]


# --- Forward compatibility and immutability ---

# Where to add a field the models do not know: the top level and one nested object.
NESTED_OBJECT: dict[type[Payload], Loc] = {
    PaymentIntentSucceeded: ("data", "object"),
    InvoicePaid: ("data", "object"),
    PushEvent: ("commits", 0, "author"),
    PullRequestEvent: ("pull_request", "head"),
    OrderCreated: ("line_items", 0),
    EventCallback: (),  # the inner event keeps unknown fields by design (see the Slack test above)
}


@pytest.mark.parametrize(("model", "fixture"), MODELS, ids=MODEL_IDS)
def test_fields_a_provider_adds_later_are_ignored(model: type[Payload], fixture: str) -> None:
    body = load(fixture)
    expected = model.model_validate(body)
    body["field_added_later"] = {"any": ["shape"]}
    if nested := NESTED_OBJECT[model]:
        node_at(body, nested)["field_added_later"] = 1

    parsed = model.model_validate(body)

    assert parsed == expected
    assert "field_added_later" not in json.dumps(parsed.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("model", "fixture", "path"),
    [
        (PaymentIntentSucceeded, PAYMENT_INTENT_SUCCEEDED, ("data", "object", "amount")),
        (InvoicePaid, INVOICE_PAID, ("type",)),
        (PushEvent, PUSH, ("commits", 0, "message")),
        (PullRequestEvent, PULL_REQUEST, ("pull_request", "title")),
        (OrderCreated, ORDER, ("line_items", 0, "quantity")),
        (EventCallback, SLACK, ("event", "type")),
    ],
    ids=case_id,
)
def test_models_are_frozen_down_to_nested_objects(model: type[Payload], fixture: str, path: Loc) -> None:
    node = field_at(model.model_validate(load(fixture)), path[:-1])

    with pytest.raises(ValidationError, match="frozen"):
        setattr(node, str(path[-1]), "changed")


def test_pushed_commits_cannot_be_changed_in_place() -> None:
    push = PushEvent.model_validate(load(PUSH))

    # A tuple, not a list: the frozen model cannot be edited through its sequence either.
    with pytest.raises(AttributeError):
        push.commits.append(push.commits[0])  # type: ignore[attr-defined]
