"""Processor pieces that need no AWS: configuration, the idempotency key, DLQ attributes."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from processor.adapters import send_attributes
from processor.keys import idempotency_record_id
from processor.settings import Settings
from shared.contract import DEFAULT_IDEMPOTENCY_EXPIRY_SECONDS

ENV = {"IDEMPOTENCY_TABLE": "idem", "DEAD_LETTER_QUEUE_URL": "https://sqs.example/dlq", "WEBHOOK_SOURCE": "stripe"}


def test_settings_defaults() -> None:
    settings = Settings.from_env(ENV)
    assert settings.expiry_seconds == DEFAULT_IDEMPOTENCY_EXPIRY_SECONDS == 30 * 24 * 3600
    assert settings.unhandled_events == "acknowledge"
    assert settings.source == "stripe"


@pytest.mark.parametrize("missing", ["IDEMPOTENCY_TABLE", "DEAD_LETTER_QUEUE_URL"])
def test_settings_name_a_missing_variable(missing: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(RuntimeError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize(("name", "value"), [("UNHANDLED_EVENTS", "ignore"), ("IDEMPOTENCY_EXPIRY_SECONDS", "3 days")])
def test_settings_refuse_invalid_values(name: str, value: str) -> None:
    with pytest.raises(RuntimeError, match=name):
        Settings.from_env({**ENV, name: value})


def test_key_format_is_pinned() -> None:
    # Stored records survive only while this stays true: a Powertools upgrade that
    # changed its hashing would make every delivery run once more.
    expected_hash = hashlib.md5(json.dumps("stripe#evt_1").encode()).hexdigest()  # noqa: S324
    assert idempotency_record_id("stripe", "evt_1") == f"webhook-kit.processor.stripe#{expected_hash}"


def test_same_delivery_id_of_two_sources_gets_two_keys() -> None:
    assert idempotency_record_id("stripe", "id_1") != idempotency_record_id("github", "id_1")


def test_dead_letter_attributes_keep_originals_and_drop_old_failure_notes() -> None:
    lambda_attributes = {
        "source": {"stringValue": "stripe", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": base64.b64encode(b"\x00\x01").decode(), "dataType": "Binary"},
        "failure_reason": {"stringValue": "an older failure", "dataType": "String"},
    }

    converted = send_attributes(lambda_attributes)

    assert converted == {
        "source": {"DataType": "String", "StringValue": "stripe"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
