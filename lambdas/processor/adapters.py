"""The processor's only contact with AWS (besides idempotency): read a claim-checked body, dead-letter a message.

``Adapters`` is the seam: ``processor.core`` talks to it, tests hand in an
in-memory fake. ``ClaimCheckError`` (a ``PermanentError``) says a body can
never be had, so the message is dead-lettered; anything else either method
raises is retryable, and the record becomes a batch item failure.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.exceptions import ClientError

from shared.event import PermanentError
from shared.message import ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE, ClaimCheck

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

# SQS caps an attribute value with the whole message; a reason is for humans, so keep it short.
MAX_REASON_CHARS = 1024


class ClaimCheckError(PermanentError):
    """The claim-checked body is gone or is not the body the verifier stored."""


class Adapters(Protocol):
    def fetch_claim_check(self, pointer: ClaimCheck) -> bytes:
        """The body ``pointer`` names, checked against its size and sha256."""
        ...

    def dead_letter(self, raw: Mapping[str, Any], error: Exception) -> None:
        """Send the original record with the reason to the DLQ; raises if it was not taken."""
        ...


def send_attributes(lambda_attributes: Mapping[str, Any]) -> dict[str, MessageAttributeValueTypeDef]:
    """Lambda's camelCase message attributes in the shape SendMessage takes, without old failure notes."""
    converted: dict[str, MessageAttributeValueTypeDef] = {}
    for name, entry in lambda_attributes.items():
        if name in (ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE):
            continue
        data_type = entry.get("dataType", "String")
        if entry.get("stringValue") is not None:
            converted[name] = {"DataType": data_type, "StringValue": entry["stringValue"]}
        elif entry.get("binaryValue") is not None:
            converted[name] = {"DataType": data_type, "BinaryValue": base64.b64decode(entry["binaryValue"])}
    return converted


def dead_letter_attributes(
    lambda_attributes: Mapping[str, Any], error: Exception
) -> dict[str, MessageAttributeValueTypeDef]:
    """The original attributes plus ``failure_type`` and ``failure_reason`` (cut at MAX_REASON_CHARS)."""
    attributes = send_attributes(lambda_attributes)
    attributes[ATTR_FAILURE_TYPE] = {"DataType": "String", "StringValue": type(error).__name__}
    attributes[ATTR_FAILURE_REASON] = {
        "DataType": "String",
        "StringValue": (str(error) or type(error).__name__)[:MAX_REASON_CHARS],
    }
    return attributes


def check_claim_check(pointer: ClaimCheck, body: bytes) -> bytes:
    """``body`` if it is the one the verifier stored, else ClaimCheckError."""
    if len(body) != pointer.size or hashlib.sha256(body).hexdigest() != pointer.sha256:
        raise ClaimCheckError(f"claim-check object s3://{pointer.bucket}/{pointer.key} fails its sha256 check")
    return body


class AwsAdapters:
    """S3 and SQS through boto3 clients of the default session, built once per cold start."""

    def __init__(self, *, claim_check_bucket: str, dead_letter_queue_url: str) -> None:
        self._claim_check_bucket = claim_check_bucket
        self._dead_letter_queue_url = dead_letter_queue_url
        self._sqs = boto3.client("sqs")

    @functools.cached_property
    def _s3(self) -> Any:
        # Most sources never see a body above the claim-check threshold.
        return boto3.client("s3")

    def fetch_claim_check(self, pointer: ClaimCheck) -> bytes:
        expected_bucket = self._claim_check_bucket
        if expected_bucket and pointer.bucket != expected_bucket:
            raise ClaimCheckError(f"claim check points at bucket {pointer.bucket!r}, not {expected_bucket!r}")
        try:
            body: bytes = self._s3.get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read()
        except ClientError as error:
            # A 403 may be a permission being fixed (or a missing key without s3:ListBucket): retry it.
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NoSuchBucket"):
                raise ClaimCheckError(f"claim-check object s3://{pointer.bucket}/{pointer.key} is missing") from error
            raise
        return check_claim_check(pointer, body)

    def dead_letter(self, raw: Mapping[str, Any], error: Exception) -> None:
        self._sqs.send_message(
            QueueUrl=self._dead_letter_queue_url,
            MessageBody=raw["body"],
            MessageAttributes=dead_letter_attributes(raw.get("messageAttributes") or {}, error),
        )
