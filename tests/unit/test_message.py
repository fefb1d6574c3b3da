"""The queue message format: every body survives the round trip byte for byte, format 2 is written,
format 1 (release 09451b1, frozen in tests.support.message_v1) is still read into the same webhook,
and any other format is refused."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.message import (
    ATTR_BODY_ENCODING,
    ATTR_DELIVERY_ID,
    ATTR_EVENT_TYPE,
    ATTR_FAILURE_REASON,
    ATTR_FAILURE_TYPE,
    ATTR_FORMAT,
    ATTR_PROVENANCE,
    ATTR_SOURCE,
    ATTR_WEBHOOK,
    ENCODING_BASE64,
    ENCODING_CLAIM_CHECK,
    ENCODING_TEXT,
    FORMAT_VERSION,
    READABLE_FORMATS,
    SIGNED,
    ClaimCheck,
    MessageFormatError,
    Provenance,
    QueuedWebhook,
    encode_body,
    from_sqs_record,
    source_and_delivery_id,
    to_send_message_kwargs,
)
from tests.support import message_v1

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


def _webhook_attribute(message: QueuedWebhook) -> dict[str, Any]:
    return json.loads(to_send_message_kwargs(message)["MessageAttributes"][ATTR_WEBHOOK]["StringValue"])


def test_provenance_round_trips_and_is_left_out_when_everything_is_signed() -> None:
    unsigned = _message(body=b"{}", provenance=UNSIGNED)
    signed = _message(body=b"{}")

    assert _round_trip(unsigned).provenance == UNSIGNED
    assert "provenance" in _webhook_attribute(unsigned)
    assert "provenance" not in _webhook_attribute(signed)
    assert _round_trip(signed).provenance == SIGNED
    assert SIGNED.keys_for("d-1") == ("d-1",) and UNSIGNED.keys_for("d-1") == UNSIGNED.idempotency_keys


def test_an_unverified_delivery_says_so_and_a_provenance_without_the_flag_is_verified() -> None:
    unverified = Provenance(
        delivery_id_signed=False, event_type_signed=False, idempotency_keys=("sha256:" + "cd" * 32,), verified=False
    )
    assert _webhook_attribute(_message(body=b"{}", provenance=unverified))["provenance"]["verified"] is False
    assert _round_trip(_message(body=b"{}", provenance=unverified)).provenance.verified is False
    # What every verifier before enforce = false wrote.
    assert "verified" not in _webhook_attribute(_message(body=b"{}", provenance=UNSIGNED))["provenance"]
    assert _round_trip(_message(body=b"{}", provenance=UNSIGNED)).provenance.verified is True


def test_a_dead_lettered_message_stays_within_sqs_ten_attributes() -> None:
    message = _message(
        headers={"x-github-hook-id": "1"},
        claim_check=ClaimCheck(bucket="b", key="k", size=1, sha256="0" * 64),
        provenance=UNSIGNED,
    )
    written = set(to_send_message_kwargs(message)["MessageAttributes"])
    assert written == {ATTR_FORMAT, ATTR_DELIVERY_ID, ATTR_EVENT_TYPE, ATTR_BODY_ENCODING, ATTR_WEBHOOK}
    # Eight at most, so that a later format still leaves room for the processor's two failure notes.
    assert len(written) <= 8
    assert len(written | {ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE}) <= 10  # SQS' limit per message
    # A format-1 message still in flight, dead-lettered by this release, fits too.
    v1 = set(message_v1.to_send_message_kwargs(_as_v1(message))["MessageAttributes"])
    assert len(v1) == 8 and len(v1 | {ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE}) == 10


def _with_attribute(kwargs: dict[str, Any], name: str, value: str | None) -> dict[str, Any]:
    record = _as_lambda_record(kwargs)
    if value is None:
        del record["messageAttributes"][name]
    else:
        record["messageAttributes"][name] = {"stringValue": value, "dataType": "String"}
    return record


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
def test_a_malformed_format_1_provenance_is_a_message_format_error(raw: str) -> None:
    record = _with_attribute(message_v1.to_send_message_kwargs(_as_v1(_message(body=b"x"))), ATTR_PROVENANCE, raw)
    with pytest.raises(MessageFormatError, match=r"^provenance attribute is malformed$"):
        from_sqs_record(record)


@pytest.mark.parametrize(
    "provenance",
    [
        "not an object",
        {"delivery_id_signed": False},
        {"delivery_id_signed": "no", "event_type_signed": True, "idempotency_keys": []},
        {"delivery_id_signed": False, "event_type_signed": True, "idempotency_keys": [""]},
        {"delivery_id_signed": False, "event_type_signed": True, "idempotency_keys": "sha256:x"},
        {"delivery_id_signed": False, "event_type_signed": True, "idempotency_keys": ["k"], "verified": "no"},
        [],
    ],
)
def test_a_malformed_format_2_provenance_is_a_message_format_error(provenance: Any) -> None:
    kwargs = to_send_message_kwargs(_message(body=b"x"))
    webhook = {**json.loads(kwargs["MessageAttributes"][ATTR_WEBHOOK]["StringValue"]), "provenance": provenance}
    with pytest.raises(MessageFormatError, match=r"^webhook attribute's provenance is malformed$"):
        from_sqs_record(_with_attribute(kwargs, ATTR_WEBHOOK, json.dumps(webhook)))


# --------------------------------------------------------------------------- format 2 and format 1

# Every way the verifier fills a message: signed, an unsigned id (digest keys), an unsigned id with a
# signed timestamp (two keys), an unverified delivery.
PROVENANCES = [
    SIGNED,
    UNSIGNED,
    Provenance(delivery_id_signed=False, event_type_signed=True, idempotency_keys=("sha256:" + "12" * 32, "d-1")),
    Provenance(
        delivery_id_signed=False, event_type_signed=False, idempotency_keys=("sha256:" + "ef" * 32,), verified=False
    ),
]
POINTER = ClaimCheck(bucket="claims", key="stripe/abc/def", size=300_000, sha256="ab" * 32)
BODIES = {
    ENCODING_TEXT: {"body": '{"id":"evt_1","note":"caf\u00e9 ☕"}'.encode()},
    ENCODING_BASE64: {"body": b"\xff\xfe\x00 not utf-8"},
    ENCODING_CLAIM_CHECK: {"claim_check": POINTER},
}


def _as_v1(message: QueuedWebhook) -> message_v1.QueuedWebhook:
    """The same delivery as the previous release's verifier built it (its own dataclasses)."""
    fields = {name: getattr(message, name) for name in asdict(message) if name not in ("provenance", "claim_check")}
    claim = message.claim_check
    return message_v1.QueuedWebhook(
        **fields,
        claim_check=message_v1.ClaimCheck(**asdict(claim)) if claim is not None else None,
        provenance=message_v1.Provenance(**asdict(message.provenance)),
    )


@pytest.mark.parametrize("encoding", sorted(BODIES))
@pytest.mark.parametrize("provenance", PROVENANCES)
def test_format_2_round_trips_every_encoding_and_provenance(encoding: str, provenance: Provenance) -> None:
    message = _message(
        headers={"x-github-event": "push", "user-agent": "GitHub-Hookshot/1"}, provenance=provenance, **BODIES[encoding]
    )
    kwargs = to_send_message_kwargs(message)
    attributes = kwargs["MessageAttributes"]

    assert attributes[ATTR_FORMAT]["StringValue"] == str(FORMAT_VERSION) == "2"
    assert attributes[ATTR_BODY_ENCODING]["StringValue"] == encoding
    assert ATTR_SOURCE not in attributes  # on purpose: see test_the_previous_release_refuses_a_format_2_message
    assert from_sqs_record(_as_lambda_record(kwargs)) == message
    # The ReceiveMessage shape (the redrive, the DLQ tools) reads the same.
    assert from_sqs_record({"Body": kwargs["MessageBody"], "MessageAttributes": attributes}) == message


@pytest.mark.parametrize("encoding", sorted(BODIES))
@pytest.mark.parametrize("provenance", PROVENANCES)
def test_a_format_1_message_reads_as_the_same_webhook_as_format_2(encoding: str, provenance: Provenance) -> None:
    message = _message(headers={"content-type": "application/json"}, provenance=provenance, **BODIES[encoding])
    v1_kwargs = message_v1.to_send_message_kwargs(_as_v1(message))
    assert ATTR_FORMAT not in v1_kwargs["MessageAttributes"]

    from_v1 = from_sqs_record(_as_lambda_record(v1_kwargs))
    from_v2 = from_sqs_record(_as_lambda_record(to_send_message_kwargs(message)))
    assert from_v1 == from_v2 == message
    assert from_v1.provenance.keys_for(from_v1.delivery_id) == from_v2.provenance.keys_for(from_v2.delivery_id)


@given(
    body=st.binary(max_size=512),
    headers=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=4),
    event_type=st.text(max_size=20),
    content_type=st.text(max_size=30),
    provenance=st.sampled_from(PROVENANCES),
)
def test_any_format_1_message_the_previous_release_wrote_reads_as_format_2_does(
    body: bytes, headers: dict[str, str], event_type: str, content_type: str, provenance: Provenance
) -> None:
    message = _message(
        body=body, headers=headers, event_type=event_type, content_type=content_type, provenance=provenance
    )
    from_v1 = from_sqs_record(_as_lambda_record(message_v1.to_send_message_kwargs(_as_v1(message))))
    assert from_v1 == from_sqs_record(_as_lambda_record(to_send_message_kwargs(message))) == message


def test_a_format_1_message_is_read_exactly_as_the_previous_release_read_it() -> None:
    message = _message(body=b"\x00\x01", headers={"x-n": "1"}, provenance=UNSIGNED)
    record = _as_lambda_record(message_v1.to_send_message_kwargs(_as_v1(message)))
    assert asdict(from_sqs_record(record)) == asdict(message_v1.from_sqs_record(record))


def test_the_previous_release_refuses_a_format_2_message() -> None:
    # Rollback safety: the frozen reader must dead-letter it, not read it with no headers and no
    # provenance (which would take an unsigned delivery id for a signed one).
    record = _as_lambda_record(to_send_message_kwargs(_message(body=b"{}", provenance=UNSIGNED)))
    with pytest.raises(message_v1.MessageFormatError, match="lacks the source or delivery_id attribute"):
        message_v1.from_sqs_record(record)


@pytest.mark.parametrize("version", ["3", "0", "2.0", " 2", "v2", "x" * 40])
def test_an_unknown_format_is_refused_naming_it_and_what_to_do(version: str) -> None:
    record = _with_attribute(to_send_message_kwargs(_message(body=b"{}")), ATTR_FORMAT, version)
    with pytest.raises(MessageFormatError) as raised:
        from_sqs_record(record)
    text = str(raised.value)
    assert f"message format {repr(version)[:16]} " in text
    assert "x" * 16 not in text  # a long value is cut
    assert "formats 1 and 2" in text and READABLE_FORMATS == (1, 2)
    assert "written by a newer release: deploy it, then redrive" in text


def test_format_1_named_explicitly_reads_as_format_1() -> None:
    message = _message(body=b"{}", provenance=UNSIGNED)
    record = _with_attribute(message_v1.to_send_message_kwargs(_as_v1(message)), ATTR_FORMAT, "1")
    assert from_sqs_record(record) == message


SECRET_HEADER = "whsec-must-not-leak"


@pytest.mark.parametrize(
    ("webhook", "error"),
    [
        (None, "^message lacks the webhook attribute$"),
        ('{"source": "stripe", "headers": {"x": "' + SECRET_HEADER, "^webhook attribute is not JSON$"),
        (json.dumps([SECRET_HEADER]), "^webhook attribute is not a JSON object$"),
        (json.dumps({"received_at": "", "content_type": "", "headers": {}}), "source is missing or not a string"),
        (json.dumps({"source": "", "received_at": "", "content_type": "", "headers": {}}), "source is empty"),
        (json.dumps({"source": 7, "received_at": "", "content_type": "", "headers": {}}), "source is missing"),
        (json.dumps({"source": "s", "received_at": 1, "content_type": "", "headers": {}}), "received_at is missing"),
        (json.dumps({"source": "s", "received_at": "", "headers": {}}), "content_type is missing"),
        (json.dumps({"source": "s", "received_at": "", "content_type": ""}), "headers is not an object"),
        (
            json.dumps({"source": "s", "received_at": "", "content_type": "", "headers": [SECRET_HEADER]}),
            "headers is not",
        ),
        (
            json.dumps(
                {"source": "s", "received_at": "", "content_type": "", "headers": {"x-secret": [SECRET_HEADER]}}
            ),
            "headers is not an object of strings",
        ),
    ],
)
def test_a_malformed_webhook_attribute_is_named_and_its_contents_never_echoed(webhook: str | None, error: str) -> None:
    record = _with_attribute(to_send_message_kwargs(_message(body=b"{}")), ATTR_WEBHOOK, webhook)
    with pytest.raises(MessageFormatError, match=error) as raised:
        from_sqs_record(record)
    assert "webhook attribute" in str(raised.value) and SECRET_HEADER not in str(raised.value)


def test_a_format_2_message_without_a_delivery_id_is_refused() -> None:
    record = _with_attribute(to_send_message_kwargs(_message(body=b"{}")), ATTR_DELIVERY_ID, None)
    with pytest.raises(MessageFormatError, match=r"^message lacks the delivery_id attribute$"):
        from_sqs_record(record)


def test_an_unknown_body_encoding_is_cut_in_the_error() -> None:
    record = _with_attribute(to_send_message_kwargs(_message(body=b"{}")), ATTR_BODY_ENCODING, "gzip" + "y" * 40)
    with pytest.raises(MessageFormatError, match=r"^unknown body encoding 'gzipy") as raised:
        from_sqs_record(record)
    assert "y" * 16 not in str(raised.value)


# --------------------------------------------------------------------------- what the redrive filters on


def _receive_shape(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"MessageId": "m", "Body": kwargs["MessageBody"], "MessageAttributes": kwargs["MessageAttributes"]}


def test_source_and_delivery_id_are_read_from_either_format() -> None:
    message = _message(source="github", delivery_id="d-9", body=b"{}", provenance=UNSIGNED)
    v2 = to_send_message_kwargs(message)
    v1 = message_v1.to_send_message_kwargs(_as_v1(message))
    assert source_and_delivery_id(_receive_shape(v2)) == ("github", "d-9")
    assert source_and_delivery_id(_receive_shape(v1)) == ("github", "d-9")
    assert source_and_delivery_id(_as_lambda_record(v2)) == ("github", "d-9")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (ATTR_WEBHOOK, "not json"),
        (ATTR_WEBHOOK, "[]"),
        (ATTR_WEBHOOK, '{"source": 7}'),
        (ATTR_WEBHOOK, '{"source": ""}'),
        (ATTR_WEBHOOK, None),
        (ATTR_FORMAT, "3"),
    ],
)
def test_a_message_that_cannot_be_read_names_no_source_and_does_not_raise(name: str, value: str | None) -> None:
    kwargs = to_send_message_kwargs(_message(delivery_id="d-9", body=b"{}"))
    record = _with_attribute(kwargs, name, value)
    assert source_and_delivery_id(record) == (None, "d-9")


def test_a_format_1_message_without_a_source_names_none_as_the_previous_redrive_read_it() -> None:
    kwargs = message_v1.to_send_message_kwargs(_as_v1(_message(delivery_id="d-9", body=b"{}")))
    del kwargs["MessageAttributes"][ATTR_SOURCE], kwargs["MessageAttributes"][ATTR_DELIVERY_ID]
    assert source_and_delivery_id(_receive_shape(kwargs)) == (None, None)
