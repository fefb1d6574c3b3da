"""The local pipeline for the security tests (one per xdist worker), built from
``webhook-kit.security.toml``, and the handler its processors run for ``s-*`` sources.

The handler fails on request by delivery id prefix: ``retry-`` raises once
(retryable), ``perm-`` raises ``PermanentError``; anything else succeeds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.event import PermanentError, WebhookEvent
from shared.router import router
from stacks.config import load_config
from webhook_kit import local as local_module
from webhook_kit.local import LocalPipeline

CONFIG_PATH = Path(__file__).with_name("webhook-kit.security.toml")
SOURCE_PATTERN = "s-*"

_lock = threading.Lock()
_failed_once: set[str] = set()
HANDLED: list[WebhookEvent] = []


def _handle(event: WebhookEvent) -> None:
    with _lock:
        HANDLED.append(event)
        first_time = event.delivery_id not in _failed_once
        _failed_once.add(event.delivery_id)
    if event.delivery_id.startswith("perm-"):
        raise PermanentError("the test handler refuses this delivery for good")
    if event.delivery_id.startswith("retry-") and first_time:
        raise RuntimeError("the test handler fails this delivery once")


@pytest.fixture(scope="session")
def pipeline() -> Iterator[LocalPipeline]:
    if not any((route.source, route.event_type) == (SOURCE_PATTERN, "*") for route in router.routes):
        router.on(SOURCE_PATTERN, "*")(_handle)
    local = LocalPipeline(load_config(CONFIG_PATH), port=0, aws_port=0, visibility_scale=0.05, wait_seconds=1)
    # moto keeps its state per process, so the e2e_local pipeline of the same xdist worker
    # shares it: give this pipeline's table and bucket their own names (queues and secrets
    # are named after the sources, which differ). They are read while start() builds
    # the resources and the functions' environments.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(local_module, "TABLE_NAME", "webhook-kit-security-idempotency")
        patch.setattr(local_module, "BUCKET_NAME", "webhook-kit-security-claim-check")
        local.start()
    try:
        yield local
    finally:
        local.stop()
