"""The queued-webhook message: what the verifier writes and the processor reads.

An SQS message body must be valid XML text, so a webhook body goes on the queue
in one of three encodings, named by the ``body_encoding`` attribute:

* ``text``: the raw body, when it is UTF-8 made only of characters SQS accepts
  (the common case: JSON and form posts, byte-exact after UTF-8 decoding);
* ``base64``: any other raw body;
* ``claim-check``: the body is too big for SQS and lies in S3; the message body
  is a JSON pointer ``{"bucket", "key", "size", "sha256"}``.

The attributes carry a format version, because messages stay in flight (and in
the DLQ) across releases. This module writes format 2 and reads formats 1 and 2:

* format 2 (``format`` = "2"): ``delivery_id``, ``event_type`` and
  ``body_encoding`` as attributes, and everything else in one ``webhook``
  attribute, a JSON object: ``source``, ``received_at``, ``content_type``,
  ``headers`` and, unless everything is signed, ``provenance``;
* format 1 (no ``format`` attribute, release 09451b1 and before): one
  attribute each for source, delivery_id, event_type, received_at,
  content_type, body_encoding, headers and provenance.

Any other format is refused with MessageFormatError: a newer release wrote it.
Format 2 has no ``source`` attribute on purpose: format 1's reader refuses a
message without one, so a rolled-back processor dead-letters format-2 messages
instead of misreading them.

SQS allows ten message attributes. Format 2 uses at most five, and the
processor adds the two ``failure_*`` ones when it dead-letters a message; a
later format must stay at eight or fewer.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Attribute names on the queue. Changing one is a breaking change for messages
# already in flight, so they are constants, not free text at the call sites.
# Both formats:
ATTR_DELIVERY_ID = "delivery_id"
ATTR_EVENT_TYPE = "event_type"
ATTR_BODY_ENCODING = "body_encoding"
# Format 2: the format version, and the webhook's other facts as one JSON object.
ATTR_FORMAT = "format"
ATTR_WEBHOOK = "webhook"
# Format 1 only (read, no longer written):
ATTR_SOURCE = "source"
ATTR_RECEIVED_AT = "received_at"
ATTR_CONTENT_TYPE = "content_type"
ATTR_HEADERS = "headers"
# Present only when something is not covered by the signature (see ``Provenance``).
ATTR_PROVENANCE = "provenance"
# Set on messages that the processor dead-letters itself (permanent failures).
ATTR_FAILURE_REASON = "failure_reason"
ATTR_FAILURE_TYPE = "failure_type"

FORMAT_VERSION = 2
# 1 is the format without a ``format`` attribute.
READABLE_FORMATS = (1, 2)

ENCODING_TEXT = "text"
ENCODING_BASE64 = "base64"
ENCODING_CLAIM_CHECK = "claim-check"

# Characters SQS refuses in a message body (it accepts #x9 #xA #xD, #x20-#xD7FF,
# #xE000-#xFFFD, #x10000-#x10FFFF).
_SQS_FORBIDDEN = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class MessageFormatError(ValueError):
    """A queue message that does not follow this format (a permanent failure)."""


@dataclass(frozen=True)
class ClaimCheck:
    bucket: str
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Provenance:
    """What of a delivery the signature covers, and what the processor deduplicates on.

    ``idempotency_keys`` are the values the processor keys its idempotency
    records on (one record each, all must be new for the handler to run).
    Empty means the delivery id alone, which is right when the id is signed.
    """

    delivery_id_signed: bool = True
    event_type_signed: bool = True
    idempotency_keys: tuple[str, ...] = ()
    # False: the request did not verify and was queued only because its source
    # has ``enforce = false`` (onboarding): nothing about it is authenticated.
    verified: bool = True

    def keys_for(self, delivery_id: str) -> tuple[str, ...]:
        return self.idempotency_keys or (delivery_id,)


SIGNED = Provenance()


@dataclass(frozen=True)
class QueuedWebhook:
    source: str
    delivery_id: str
    event_type: str
    received_at: str
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)
    # Exactly one of body / claim_check is set.
    body: bytes | None = None
    claim_check: ClaimCheck | None = None
    provenance: Provenance = SIGNED


# The ASCII bytes SQS accepts; deleting them from an ASCII body leaves only the refused ones.
_SQS_ASCII = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x80)])


def encode_body(body: bytes) -> tuple[str, str]:
    """Return (message body, encoding) for a raw body that fits on the queue."""
    if body.isascii():
        # The common case (JSON, form posts), checked in C rather than by regex.
        if body.translate(None, _SQS_ASCII):
            return base64.b64encode(body).decode("ascii"), ENCODING_BASE64
        return body.decode("ascii"), ENCODING_TEXT
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), ENCODING_BASE64
    if _SQS_FORBIDDEN.search(text):
        return base64.b64encode(body).decode("ascii"), ENCODING_BASE64
    return text, ENCODING_TEXT


def to_send_message_kwargs(message: QueuedWebhook) -> dict[str, Any]:
    """The ``MessageBody`` and ``MessageAttributes`` of SendMessage for ``message``."""
    if message.claim_check is not None:
        pointer = message.claim_check
        body = json.dumps(
            {"bucket": pointer.bucket, "key": pointer.key, "size": pointer.size, "sha256": pointer.sha256},
            separators=(",", ":"),
        )
        encoding = ENCODING_CLAIM_CHECK
    elif message.body is not None:
        body, encoding = encode_body(message.body)
    else:
        raise ValueError("a queued webhook needs a body or a claim check")
    webhook: dict[str, Any] = {
        "source": message.source,
        "received_at": message.received_at,
        "content_type": message.content_type,
        "headers": dict(message.headers),
    }
    provenance = _provenance_document(message.provenance)
    if provenance is not None:
        webhook["provenance"] = provenance  # the common case (everything signed) leaves it out
    attributes = {
        ATTR_FORMAT: str(FORMAT_VERSION),
        ATTR_DELIVERY_ID: message.delivery_id,
        ATTR_EVENT_TYPE: message.event_type,
        ATTR_BODY_ENCODING: encoding,
        ATTR_WEBHOOK: json.dumps(webhook, separators=(",", ":"), sort_keys=True),
    }
    return {
        "MessageBody": body,
        # SQS refuses empty attribute values; an absent one reads back as "".
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items() if value
        },
    }


def _provenance_document(provenance: Provenance) -> dict[str, Any] | None:
    if provenance == SIGNED:
        return None
    document: dict[str, Any] = {
        "delivery_id_signed": provenance.delivery_id_signed,
        "event_type_signed": provenance.event_type_signed,
        "idempotency_keys": list(provenance.idempotency_keys),
    }
    if not provenance.verified:
        document["verified"] = False  # absent (true) in every message an older verifier wrote
    return document


def _parse_provenance(document: Any, where: str) -> Provenance:
    """The provenance in ``document`` (a decoded JSON value); ``where`` names it in the error."""
    try:
        keys = document["idempotency_keys"]
        provenance = Provenance(
            delivery_id_signed=document["delivery_id_signed"],
            event_type_signed=document["event_type_signed"],
            idempotency_keys=tuple(keys),
            verified=document.get("verified", True),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise MessageFormatError(f"{where} is malformed") from error
    flags = (provenance.delivery_id_signed, provenance.event_type_signed, provenance.verified)
    flags_ok = all(isinstance(flag, bool) for flag in flags)
    if not flags_ok or not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise MessageFormatError(f"{where} is malformed")
    return provenance


def _attribute(attributes: Mapping[str, Any], name: str) -> str:
    """Read a String attribute from an SQS record (Lambda event or ReceiveMessage shape)."""
    entry = attributes.get(name) or attributes.get(name[0].upper() + name[1:])
    if not entry:
        return ""
    value = entry.get("stringValue", entry.get("StringValue"))
    return value if isinstance(value, str) else ""


def message_format(attributes: Mapping[str, Any]) -> int:
    """The format of a message with these attributes (1 or 2); MessageFormatError for any other."""
    entry = attributes.get(ATTR_FORMAT) or attributes.get(ATTR_FORMAT.capitalize())
    if not entry:
        return 1
    raw = entry.get("stringValue", entry.get("StringValue"))
    if isinstance(raw, str) and raw in {str(version) for version in READABLE_FORMATS}:
        return int(raw)
    shown = repr(raw)[:16]
    readable = " and ".join(str(version) for version in READABLE_FORMATS)
    raise MessageFormatError(
        f"message format {shown} is not one this release reads (formats {readable}): "
        "written by a newer release: deploy it, then redrive"
    )


def source_and_delivery_id(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The source and delivery id a message names, in either format; None where it names none.

    Never raises: a message this release cannot read (a malformed ``webhook``,
    an unknown format) has no source here, as a format-1 message without the
    attribute. The redrive filters on these without decoding the whole message.
    """
    attributes = record.get("messageAttributes") or record.get("MessageAttributes") or {}
    delivery_id = _attribute(attributes, ATTR_DELIVERY_ID) or None
    try:
        version = message_format(attributes)
    except MessageFormatError:
        return None, delivery_id
    if version == 1:
        return _attribute(attributes, ATTR_SOURCE) or None, delivery_id
    try:
        source = json.loads(_attribute(attributes, ATTR_WEBHOOK)).get("source")
    except (ValueError, AttributeError):
        return None, delivery_id
    return (source if isinstance(source, str) and source else None), delivery_id


def _format_1_fields(attributes: Mapping[str, Any]) -> dict[str, Any]:
    source = _attribute(attributes, ATTR_SOURCE)
    delivery_id = _attribute(attributes, ATTR_DELIVERY_ID)
    if not source or not delivery_id:
        raise MessageFormatError("message lacks the source or delivery_id attribute")
    try:
        headers = json.loads(_attribute(attributes, ATTR_HEADERS) or "{}")
    except json.JSONDecodeError as error:
        raise MessageFormatError("headers attribute is not JSON") from error
    if not isinstance(headers, dict):
        raise MessageFormatError("headers attribute is not a JSON object")
    return {
        "source": source,
        "delivery_id": delivery_id,
        "event_type": _attribute(attributes, ATTR_EVENT_TYPE),
        "received_at": _attribute(attributes, ATTR_RECEIVED_AT),
        "content_type": _attribute(attributes, ATTR_CONTENT_TYPE),
        "headers": {str(k): str(v) for k, v in headers.items()},
        "provenance": _format_1_provenance(_attribute(attributes, ATTR_PROVENANCE)),
    }


def _format_1_provenance(raw: str) -> Provenance:
    if not raw:
        return SIGNED
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise MessageFormatError("provenance attribute is malformed") from error
    return _parse_provenance(document, "provenance attribute")


def _format_2_fields(attributes: Mapping[str, Any]) -> dict[str, Any]:
    delivery_id = _attribute(attributes, ATTR_DELIVERY_ID)
    if not delivery_id:
        raise MessageFormatError("message lacks the delivery_id attribute")
    raw = _attribute(attributes, ATTR_WEBHOOK)
    if not raw:
        raise MessageFormatError("message lacks the webhook attribute")
    try:
        webhook = json.loads(raw)
    except ValueError as error:
        raise MessageFormatError("webhook attribute is not JSON") from error
    if not isinstance(webhook, dict):
        raise MessageFormatError("webhook attribute is not a JSON object")
    texts = {name: webhook.get(name) for name in ("source", "received_at", "content_type")}
    for name, value in texts.items():
        if not isinstance(value, str):
            raise MessageFormatError(f"webhook attribute's {name} is missing or not a string")
    if not texts["source"]:
        raise MessageFormatError("webhook attribute's source is empty")
    headers = webhook.get("headers")
    if not isinstance(headers, dict) or not all(isinstance(value, str) for value in headers.values()):
        raise MessageFormatError("webhook attribute's headers is not an object of strings")
    provenance = webhook.get("provenance")
    return {
        **texts,
        "delivery_id": delivery_id,
        "event_type": _attribute(attributes, ATTR_EVENT_TYPE),
        "headers": headers,
        "provenance": SIGNED if provenance is None else _parse_provenance(provenance, "webhook attribute's provenance"),
    }


def from_sqs_record(record: Mapping[str, Any]) -> QueuedWebhook:
    """Parse a Lambda SQS event record (or a ReceiveMessage message) back into a webhook.

    Reads formats 1 and 2 into the same QueuedWebhook for the same delivery.
    Raises MessageFormatError for anything that cannot be decoded: retrying it
    would never help, so the processor dead-letters it at once. The error
    names the attribute at fault, never its contents.
    """
    attributes = record.get("messageAttributes") or record.get("MessageAttributes") or {}
    raw_body = record.get("body", record.get("Body"))
    if not isinstance(raw_body, str):
        raise MessageFormatError("message has no body")
    version = message_format(attributes)
    common = _format_1_fields(attributes) if version == 1 else _format_2_fields(attributes)
    encoding = _attribute(attributes, ATTR_BODY_ENCODING) or ENCODING_TEXT
    if encoding == ENCODING_TEXT:
        return QueuedWebhook(body=raw_body.encode("utf-8"), **common)
    if encoding == ENCODING_BASE64:
        try:
            return QueuedWebhook(body=base64.b64decode(raw_body, validate=True), **common)
        except ValueError as error:
            raise MessageFormatError("base64 body does not decode") from error
    if encoding == ENCODING_CLAIM_CHECK:
        try:
            pointer = json.loads(raw_body)
            claim = ClaimCheck(
                bucket=str(pointer["bucket"]),
                key=str(pointer["key"]),
                size=int(pointer["size"]),
                sha256=str(pointer["sha256"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise MessageFormatError("claim-check pointer is malformed") from error
        return QueuedWebhook(claim_check=claim, **common)
    raise MessageFormatError(f"unknown body encoding {repr(encoding)[:16]}")
