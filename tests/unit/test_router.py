"""The router: fnmatch patterns, the most-specific-wins rule, registration mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.event import WebhookEvent
from shared.router import Router

ROOT = Path(__file__).resolve().parents[2]


def _named(name: str):
    def handler(event: WebhookEvent) -> None:
        return None

    handler.__name__ = handler.__qualname__ = name
    return handler


def _router(*routes: tuple[str, str]) -> Router:
    router = Router()
    for source, event_type in routes:
        router.on(source, event_type)(_named(f"{source}|{event_type}"))
    return router


def _resolved(router: Router, source: str, event_type: str) -> str | None:
    handler = router.resolve(source, event_type)
    return None if handler is None else handler.__name__


def test_exact_route_matches_only_its_pair() -> None:
    router = _router(("stripe", "invoice.paid"))
    assert _resolved(router, "stripe", "invoice.paid") == "stripe|invoice.paid"
    assert _resolved(router, "stripe", "invoice.created") is None
    assert _resolved(router, "github", "invoice.paid") is None


def test_star_matches_any_event_type_including_empty() -> None:
    router = _router(("generic", "*"))
    assert _resolved(router, "generic", "anything.at.all") == "generic|*"
    assert _resolved(router, "generic", "") == "generic|*"


def test_prefix_wildcard_matches_family_only() -> None:
    router = _router(("stripe", "invoice.*"))
    assert _resolved(router, "stripe", "invoice.payment_failed") == "stripe|invoice.*"
    assert _resolved(router, "stripe", "customer.created") is None


def test_question_mark_and_class_patterns() -> None:
    router = _router(("shop?", "orders/[cu]*"))
    assert _resolved(router, "shop1", "orders/create") == "shop?|orders/[cu]*"
    assert _resolved(router, "shop1", "orders/delete") is None


def test_matching_is_case_sensitive() -> None:
    router = _router(("stripe", "invoice.*"))
    assert _resolved(router, "Stripe", "invoice.paid") is None
    assert _resolved(router, "stripe", "Invoice.paid") is None


@pytest.mark.parametrize("order", [0, 1])
def test_most_specific_wins_regardless_of_registration_order(order: int) -> None:
    routes = [("stripe", "*"), ("stripe", "invoice.*"), ("stripe", "invoice.paid"), ("*", "invoice.paid"), ("*", "*")]
    router = _router(*(routes if order == 0 else list(reversed(routes))))
    assert _resolved(router, "stripe", "invoice.paid") == "stripe|invoice.paid"
    assert _resolved(router, "stripe", "invoice.voided") == "stripe|invoice.*"
    assert _resolved(router, "stripe", "charge.refunded") == "stripe|*"
    assert _resolved(router, "github", "invoice.paid") == "*|invoice.paid"
    assert _resolved(router, "github", "push") == "*|*"


def test_source_specificity_outranks_event_type_specificity() -> None:
    router = _router(("*", "invoice.paid"), ("stripe", "*"))
    assert _resolved(router, "stripe", "invoice.paid") == "stripe|*"


def test_longer_literal_wildcard_beats_shorter() -> None:
    router = _router(("stripe", "in*"), ("stripe", "invoice.pa*"))
    assert _resolved(router, "stripe", "invoice.paid") == "stripe|invoice.pa*"
    # Literal characters count wherever they sit: "invoice.*" (8) beats "*.paid.x" (7).
    mixed = _router(("stripe", "*.paid.x"), ("stripe", "invoice.*"))
    assert _resolved(mixed, "stripe", "invoice.paid.x") == "stripe|invoice.*"


def test_equal_specificity_falls_back_to_first_registered() -> None:
    tie = _router(("s", "ab*"), ("s", "*ab"))
    assert _resolved(tie, "s", "abab") == "s|ab*"
    tie_reversed = _router(("s", "*ab"), ("s", "ab*"))
    assert _resolved(tie_reversed, "s", "abab") == "s|*ab"


def test_registering_the_same_patterns_twice_is_an_error() -> None:
    router = _router(("stripe", "invoice.*"))
    with pytest.raises(ValueError, match="already registered"):
        router.on("stripe", "invoice.*")(_named("again"))


def test_empty_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Router().on("stripe", "")


def test_decorator_returns_the_function_unchanged() -> None:
    router = Router()

    def handler(event: WebhookEvent) -> None:
        return None

    assert router.on("stripe")(handler) is handler
    assert router.resolve("stripe", "whatever") is handler


def test_shipped_example_handlers_are_registered() -> None:
    import handlers  # noqa: F401

    from shared.router import router

    assert router.resolve("stripe", "payment_intent.succeeded") is not None
    assert router.resolve("stripe", "invoice.paid", "2024-06-20") is not None
    assert router.resolve("stripe", "invoice.paid", "2025-03-31.basil") is None
    assert router.resolve("stripe", "invoice.paid") is None
    assert router.resolve("stripe", "charge.refunded") is None


def _shipped(source: str, event_type: str, body: bytes, api_version: str | None = None) -> object:
    """Run the shipped example route for this webhook as the processor does: validated, then called."""
    import handlers  # noqa: F401

    from shared.router import router

    route = router.route(source, event_type, api_version)
    assert route is not None
    return route.invoke(
        WebhookEvent(source=source, delivery_id="d-1", event_type=event_type, received_at="", body=body)
    )


def _sample(name: str) -> bytes:
    from webhook_kit.send import render

    return render((ROOT / "samples" / f"{name}.json").read_bytes(), delivery_id="evt_1", now=1_700_000_000)


def test_example_stripe_handler_refuses_an_incomplete_payload_before_it_runs() -> None:
    from shared.validation import PayloadValidationError

    incomplete = json.loads(_sample("stripe"))
    del incomplete["data"]["object"]["amount"]
    with pytest.raises(PayloadValidationError, match=r"PaymentIntentSucceeded: data\.object\.amount: missing$"):
        _shipped("stripe", "payment_intent.succeeded", json.dumps(incomplete).encode())


def test_example_stripe_handler_takes_the_shipped_sample() -> None:
    assert _shipped("stripe", "payment_intent.succeeded", _sample("stripe")) is None


def test_example_github_push_handler_refuses_a_body_that_is_not_a_push() -> None:
    from shared.validation import PayloadValidationError

    # samples/github.json is a ping: relabelled push (the event type header is not signed), it is refused.
    with pytest.raises(PayloadValidationError, match=r"PushEvent: ref: missing"):
        _shipped("github", "push", _sample("github"))


def test_the_api_version_is_weighed_after_the_source_and_the_event_type() -> None:
    router = Router()
    names: dict[object, str] = {}
    for source, event_type, version in [
        ("stripe", "*", "2024-06-20"),
        ("stripe", "invoice.paid", "*"),
        ("stripe", "invoice.paid", "2024-*"),
        ("*", "invoice.paid", "2024-06-20"),
    ]:

        def handler(event: WebhookEvent) -> None:
            return None

        router.on(source, event_type, api_version=version)(handler)
        names[handler] = f"{source}|{event_type}|{version}"

    def winner(event_type: str, version: str | None) -> str | None:
        found = router.resolve("stripe", event_type, version)
        return names[found] if found is not None else None

    assert winner("invoice.paid", "2024-06-20") == "stripe|invoice.paid|2024-*"
    assert winner("invoice.paid", "2025-01-01") == "stripe|invoice.paid|*"
    assert winner("invoice.paid", None) == "stripe|invoice.paid|*"
    assert winner("charge.refunded", "2024-06-20") == "stripe|*|2024-06-20"
    assert winner("charge.refunded", None) is None
