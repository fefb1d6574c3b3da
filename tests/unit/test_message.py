"""The queue message format: every body survives the round trip byte for byte."""

from __future__ import annotations

import base64
import re

from hypothesis import given
from hypothesis import strategies as st

from shared.message import (
    ENCODING_BASE64,
    ENCODING_TEXT,
    ClaimCheck,
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


@given(body=st.binary(min_size=1, max_size=1024), headers=st.dictionaries(st.text(min_size=1), st.text(), max_size=3))
def test_round_trip_through_the_lambda_event_shape(body: bytes, headers: dict[str, str]) -> None:
    message = QueuedWebhook(
        source="stripe",
        delivery_id="evt_1",
        event_type="invoice.paid",
        received_at="2026-11-30T12:00:00.000Z",
        content_type="application/json",
        headers=headers,
        body=body,
    )
    parsed = from_sqs_record(_as_lambda_record(to_send_message_kwargs(message)))
    assert parsed == message


def test_claim_check_pointer_round_trips() -> None:
    pointer = ClaimCheck(bucket="b", key="stripe/abc", size=2_000_000, sha256="0" * 64)
    message = QueuedWebhook(
        source="stripe",
        delivery_id="evt_2",
        event_type="",
        received_at="2026-11-30T12:00:00.000Z",
        content_type="",
        claim_check=pointer,
    )
    parsed = from_sqs_record(_as_lambda_record(to_send_message_kwargs(message)))
    assert parsed.claim_check == pointer and parsed.body is None
