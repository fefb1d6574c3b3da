"""WebhookEvent: frozen, byte-exact body, cached JSON, case-insensitive header lookup."""

from __future__ import annotations

import dataclasses

import pytest

from shared.event import InvalidJsonError, PermanentError, WebhookEvent


def _event(body: bytes, **overrides: object) -> WebhookEvent:
    fields: dict = {
        "source": "stripe",
        "delivery_id": "evt_1",
        "event_type": "invoice.paid",
        "received_at": "2025-01-01T00:00:00Z",
        "body": body,
        "headers": {"Stripe-Signature": "t=1,v1=abc"},
    }
    fields.update(overrides)
    return WebhookEvent(**fields)


def test_json_is_parsed_once_and_cached() -> None:
    event = _event(b'{"id": "evt_1", "n": 1}')
    first = event.json()
    assert first == {"id": "evt_1", "n": 1}
    assert event.json() is first


def test_invalid_json_is_a_permanent_error() -> None:
    event = _event(b"\xff not json")
    with pytest.raises(InvalidJsonError) as raised:
        event.json()
    assert isinstance(raised.value, PermanentError)
    assert isinstance(raised.value, ValueError)


def test_json_nested_too_deep_to_parse_is_a_permanent_error_not_a_crash() -> None:
    # 20,000 levels: valid JSON that a signed Slack body can carry; json.loads raises RecursionError.
    event = _event(b"[" * 20_000 + b"]" * 20_000)
    with pytest.raises(InvalidJsonError):
        event.json()


def test_event_is_frozen_including_headers() -> None:
    event = _event(b"{}")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.body = b"changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.headers["X-New"] = "1"  # type: ignore[index]


def test_headers_are_copied_not_aliased() -> None:
    headers = {"A": "1"}
    event = _event(b"{}", headers=headers)
    headers["A"] = "2"
    assert event.headers["A"] == "1"


def test_header_lookup_ignores_case() -> None:
    event = _event(b"{}")
    assert event.header("stripe-signature") == "t=1,v1=abc"
    assert event.header("missing") is None
    assert event.header("missing", "x") == "x"


def test_equality_ignores_the_json_cache() -> None:
    parsed, fresh = _event(b'{"a": 1}'), _event(b'{"a": 1}')
    parsed.json()
    assert parsed == fresh


def test_text_decodes_the_exact_bytes() -> None:
    assert _event("café".encode()).text() == "café"
