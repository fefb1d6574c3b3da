"""What happened to each webhook, for the console and for tests to wait on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook_kit.local.resources import LocalSource


@dataclass(frozen=True)
class PipelineEvent:
    """One step of one webhook's path.

    ``stage`` is ``accepted``, ``handshake``, ``rejected`` or ``unavailable`` (HTTP),
    then ``processed``, ``duplicate``, ``unhandled``, ``retried``, ``dead-lettered``
    or ``error`` (processor); ``reloaded`` when the pipeline picked up changed code.
    """

    source: str
    stage: str
    delivery_id: str | None = None
    status: int | None = None
    detail: str = ""
    event_type: str = ""
    attempt: int | None = None
    at: float = field(default_factory=time.time)


Reporter = Callable[[PipelineEvent], None]


def verifier_event(source: str, status: int, body: str) -> PipelineEvent:
    try:
        document = json.loads(body)
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    if status == 202:
        return PipelineEvent(source, "accepted", delivery_id=str(document.get("id")), status=status)
    if status == 200:
        return PipelineEvent(source, "handshake", status=status, detail="provider handshake answered")
    stage = "unavailable" if status == 503 else "rejected"
    return PipelineEvent(source, stage, status=status, detail=str(document.get("message", "")))


def processor_event(
    source: LocalSource, record: Mapping[str, Any], outcome: str | None, failed: bool, *, reason: str = ""
) -> PipelineEvent:
    attributes = record.get("messageAttributes") or {}
    delivery_id = (attributes.get("delivery_id") or {}).get("stringValue")
    event_type = (attributes.get("event_type") or {}).get("stringValue") or ""
    attempt = int(record["attributes"].get("ApproximateReceiveCount", "1"))
    if failed:
        if attempt >= source.max_receive_count:
            stage = "dead-lettered"
            detail = f"failed {attempt} of {source.max_receive_count} attempts; SQS moves it to the DLQ"
        else:
            stage = "retried"
            detail = f"attempt {attempt} of {source.max_receive_count}; again in {source.visibility_timeout} s"
        if outcome:
            detail = f"{detail} ({outcome})"
        return PipelineEvent(source.name, stage, delivery_id, detail=detail, event_type=event_type, attempt=attempt)
    stage = {"dead_lettered": "dead-lettered"}.get(outcome or "", outcome or "processed")
    detail = ""
    if stage == "dead-lettered":
        # The exception's type and message, as the DLQ's failure_type and failure_reason hold them.
        detail = f"permanent failure, sent to the DLQ: {reason or 'see failure_reason there'}"
    return PipelineEvent(source.name, stage, delivery_id, detail=detail, event_type=event_type, attempt=attempt)
