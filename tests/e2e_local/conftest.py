"""The local pipeline, running in this test process, and a handler that keeps a ledger.

One pipeline per xdist worker (session scope), on free ports: its own moto
server, HTTP endpoint and pollers, built from ``webhook-kit.e2e.toml``. Its
visibility timeouts are scaled down to 1 s so retries take seconds.

The tests' handler is registered on the processor's router for every ``t-*``
source. It records each call in a thread-safe ledger and fails on request:
``ledger.fail(delivery_id, times=2)`` (retryable, twice), ``times=None``
(retryable, always) or ``permanent=True`` (``PermanentError``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_support import LEDGER, Ledger

from shared.router import router
from stacks.config import WebhookKitConfig, load_config
from webhook_kit.local import LocalPipeline, local_client

CONFIG_PATH = Path(__file__).with_name("webhook-kit.e2e.toml")
SOURCE_PATTERN = "t-*"


def _register_handler() -> None:
    # The router refuses a second registration of the same patterns; a worker
    # imports this conftest once, but be explicit about it.
    if not any((route.source, route.event_type) == (SOURCE_PATTERN, "*") for route in router.routes):
        router.on(SOURCE_PATTERN, "*")(LEDGER.handle)


@pytest.fixture(scope="session")
def e2e_config() -> WebhookKitConfig:
    return load_config(CONFIG_PATH)


@pytest.fixture(scope="session")
def pipeline(e2e_config: WebhookKitConfig) -> Iterator[LocalPipeline]:
    _register_handler()
    local = LocalPipeline(e2e_config, port=0, aws_port=0, visibility_scale=0.05, wait_seconds=1)
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def ledger() -> Ledger:
    return LEDGER


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # no proxy between the tests and 127.0.0.1
        yield session


@pytest.fixture(scope="session")
def sqs(pipeline: LocalPipeline) -> Any:
    return local_client("sqs", pipeline.aws_endpoint)
