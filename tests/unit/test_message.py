"""The queue message format: every body survives the round trip byte for byte."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.message import (
    ATTR_FAILURE_REASON,
    ATTR_FAILURE_TYPE,
    ATTR_PROVENANCE,
    ENCODING_BASE64,
    ENCODING_TEXT,
    SIGNED,
    ClaimCheck,
    MessageFormatError,
    Provenance,
    QueuedWebhook,
    encode_body,
    from_sqs_record,
    to_send_message_kwargs,
)

# What SQS accepts in a message body, written independently of message.py.
_SQS_REFUSED = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _expected_encoding(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return ENCODING_BASE64
    return ENCODING_BASE64 if _SQS_REFUSED.search(text) else ENCODING_TEXT


@given(st.binary(max_size=512) | st.text(max_size=256).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_encoding_choice_matches_what_sqs_accepts(body: bytes) -> None:
    encoded, encoding = encode_body(body)
    assert encoding == _expected_encoding(body)
    decoded = encoded.encode("utf-8") if encoding == ENCODING_TEXT else base64.b64decode(encoded)
    assert decoded == body


def test_ascii_control_characters_force_base64() -> None:
    assert encode_body(b'{"a": "x\x00"}')[1] == ENCODING_BASE64
    assert encode_body(b'{"a": 1}\r\n\t')[1] == ENCODING_TEXT
    assert encode_body(b"\x7f")[1] == ENCODING_TEXT


def _as_lambda_record(kwargs: dict) -> dict:
    return {
        "messageId": "m1",
        "body": kwargs["MessageBody"],
        "messageAttributes": {
            name: {"stringValue": a["StringValue"], "dataType": "String"}
            for name, a in kwargs["MessageAttributes"].items()
        },
    }


def _message(**overrides: Any) -> QueuedWebhook:
    fields: dict[str, Any] = {
        "source": "stripe",
        "delivery_id": "evt_1",
        "event_type": "invoice.paid",
        "received_at": "2026-11-30T12:00:00.000Z",
        "content_type": "application/json",
        **overrides,
    }
    return QueuedWebhook(**fields)


def _round_trip(message: QueuedWebhook) -> QueuedWebhook:
    return from_sqs_record(_as_lambda_record(to_send_message_kwargs(message)))


@given(body=st.binary(min_size=1, max_size=1024), headers=st.dictionaries(st.text(min_size=1), st.text(), max_size=3))
def test_round_trip_through_the_lambda_event_shape(body: bytes, headers: dict[str, str]) -> None:
    message = _message(headers=headers, body=body)
    parsed = from_sqs_record(_as_lambda_record(to_send_message_kwargs(message)))
    assert parsed == message


def test_claim_check_pointer_round_trips() -> None:
    pointer = ClaimCheck(bucket="b", key="stripe/abc", size=2_000_000, sha256="0" * 64)
    parsed = _round_trip(_message(event_type="", content_type="", claim_check=pointer))
    assert parsed.claim_check == pointer and parsed.body is None


UNSIGNED = Provenance(delivery_id_signed=False, event_type_signed=False, idempotency_keys=("sha256:" + "ab" * 32,))


def test_provenance_round_trips_and_costs_no_attribute_when_everything_is_signed() -> None:
    unsigned = _message(body=b"{}", provenance=UNSIGNED)
    signed = _message(body=b"{}")

    assert _round_trip(unsigned).provenance == UNSIGNED
    assert ATTR_PROVENANCE not in to_send_message_kwargs(signed)["MessageAttributes"]
    assert _round_trip(signed).provenance == SIGNED
    assert SIGNED.keys_for("d-1") == ("d-1",) and UNSIGNED.keys_for("d-1") == UNSIGNED.idempotency_keys


def test_an_unverified_delivery_says_so_and_a_message_without_the_flag_is_verified() -> None:
    unverified = Provenance(
        delivery_id_signed=False, event_type_signed=False, idempotency_keys=("sha256:" + "cd" * 32,), verified=False
    )
    attribute = to_send_message_kwargs(_message(body=b"{}", provenance=unverified))["MessageAttributes"]
    assert '"verified":false' in attribute[ATTR_PROVENANCE]["StringValue"]
    assert _round_trip(_message(body=b"{}", provenance=unverified)).provenance.verified is False
    # What every verifier before enforce = false wrote.
    assert (
        '"verified"'
        not in to_send_message_kwargs(_message(body=b"{}", provenance=UNSIGNED))["MessageAttributes"][ATTR_PROVENANCE][
            "StringValue"
        ]
    )
    assert _round_trip(_message(body=b"{}", provenance=UNSIGNED)).provenance.verified is True


def test_a_dead_lettered_message_stays_within_sqs_ten_attributes() -> None:
    message = _message(
        headers={"x-github-hook-id": "1"},
        claim_check=ClaimCheck(bucket="b", key="k", size=1, sha256="0" * 64),
        provenance=UNSIGNED,
    )
    attributes = set(to_send_message_kwargs(message)["MessageAttributes"]) | {ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE}
    assert len(attributes) <= 10  # SQS' limit of message attributes per message


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"delivery_id_signed": false}',
        '{"delivery_id_signed": "no", "event_type_signed": true, "idempotency_keys": []}',
        '{"delivery_id_signed": false, "event_type_signed": true, "idempotency_keys": [""]}',
        '{"delivery_id_signed": false, "event_type_signed": true, "idempotency_keys": "sha256:x"}',
        '{"delivery_id_signed": false, "event_type_signed": true, "idempotency_keys": ["k"], "verified": "no"}',
        "[]",
    ],
)
def test_a_malformed_provenance_is_a_message_format_error(raw: str) -> None:
    record = _as_lambda_record(to_send_message_kwargs(_message(body=b"x")))
    record["messageAttributes"][ATTR_PROVENANCE] = {"stringValue": raw, "dataType": "String"}
    with pytest.raises(MessageFormatError):
        from_sqs_record(record)
