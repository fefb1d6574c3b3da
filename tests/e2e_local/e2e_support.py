"""What the local end-to-end tests share: signing and waiting helpers (the handler's ledger: tests.support.ledger)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

from tests.support.ledger import Ledger
from webhook_kit.local import LocalPipeline, PipelineEvent
from webhook_kit.send import SignedWebhook, build

__all__ = ["Ledger", "eventually", "post", "queue_depth", "signed", "wait_for_stage"]

TIMEOUT = 20.0  # seconds any one expected outcome may take before a test fails


def signed(
    pipeline: LocalPipeline,
    source: str,
    *,
    delivery_id: str | None = None,
    body_file: Path | None = None,
    secret: str | None = None,
) -> SignedWebhook:
    """A webhook as ``source``'s provider would send it, signed with the pipeline's dev secret."""
    return build(
        pipeline.config.source(source),
        secret=secret if secret is not None else pipeline.sources[source].secret,
        url=pipeline.webhook_url(source),
        delivery_id=delivery_id,
        body_file=body_file,
    )


def post(http: requests.Session, webhook: SignedWebhook) -> requests.Response:
    return http.post(webhook.url, data=webhook.body, headers=webhook.headers, timeout=10)


def wait_for_stage(pipeline: LocalPipeline, delivery_id: str, stage: str, count: int = 1) -> list[PipelineEvent]:
    """Wait until the pipeline reported ``stage`` for ``delivery_id`` ``count`` times; return those events."""

    def matching(events: Iterable[PipelineEvent]) -> list[PipelineEvent]:
        return [event for event in events if event.delivery_id == delivery_id and event.stage == stage]

    if not pipeline.wait_for(lambda events: len(matching(events)) >= count, TIMEOUT):
        seen = [(event.stage, event.detail) for event in pipeline.events if event.delivery_id == delivery_id]
        raise AssertionError(f"{delivery_id}: no {count} x {stage!r} within {TIMEOUT} s; saw {seen}")
    return matching(pipeline.events)


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in a queue, visible or in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def eventually(check: Callable[[], Any], *, timeout: float = TIMEOUT, message: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {message}")
        time.sleep(0.05)
