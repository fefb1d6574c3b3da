"""What the local end-to-end tests share: the handler's ledger, signing and waiting helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from shared.event import PermanentError, WebhookEvent
from webhook_kit.local import LocalPipeline, PipelineEvent
from webhook_kit.send import SignedWebhook, build

TIMEOUT = 20.0  # seconds any one expected outcome may take before a test fails


@dataclass
class _Plan:
    failures_left: int | None  # None: fail every time
    permanent: bool


class Ledger:
    """Every call of the tests' handler, and the failures the tests asked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[tuple[WebhookEvent, str]] = []  # (event, "ok" | "failed")
        self._plans: dict[str, _Plan] = {}

    def fail(self, delivery_id: str, *, times: int | None = 1, permanent: bool = False) -> None:
        with self._lock:
            self._plans[delivery_id] = _Plan(times, permanent)

    def heal(self, delivery_id: str) -> None:
        with self._lock:
            self._plans.pop(delivery_id, None)

    def handle(self, event: WebhookEvent) -> None:
        with self._lock:
            plan = self._plans.get(event.delivery_id)
            failing = plan is not None and (plan.permanent or plan.failures_left is None or plan.failures_left > 0)
            if plan is not None and plan.failures_left:
                plan.failures_left -= 1
            self._calls.append((event, "failed" if failing else "ok"))
        if failing:
            assert plan is not None
            if plan.permanent:
                raise PermanentError(f"test asked {event.delivery_id} to fail permanently")
            raise RuntimeError(f"test asked {event.delivery_id} to fail")

    def calls(self, delivery_id: str) -> list[tuple[WebhookEvent, str]]:
        with self._lock:
            return [call for call in self._calls if call[0].delivery_id == delivery_id]

    def successes(self, delivery_id: str) -> list[WebhookEvent]:
        return [event for event, result in self.calls(delivery_id) if result == "ok"]


LEDGER = Ledger()


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
