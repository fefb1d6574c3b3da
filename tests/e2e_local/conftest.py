"""The local pipeline, started by this test process, and a handler that keeps a ledger.

One pipeline per xdist worker (session scope), on free ports: its own moto
server, HTTP endpoint, pollers and Lambda worker processes, built from
``webhook-kit.e2e.toml``. Its visibility timeouts are scaled down to 1 s so
retries take seconds.

The tests' handler runs in the processor workers, registered there on the
router for every ``t-*`` source by a worker set-up. It records each call in a
ledger shared with this process (``tests.support.ledger``, a manager process)
and fails on request: ``ledger.fail(delivery_id, times=2)`` (retryable,
twice), ``times=None`` (retryable, always) or ``permanent=True``
(``PermanentError``); it can also be slowed down or held.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from stacks.config import WebhookKitConfig, load_config
from tests.support.ledger import Ledger, ledger_server, serving
from tests.support.local_pipeline import running_pipeline
from webhook_kit.local import LocalPipeline, local_client

CONFIG_PATH = Path(__file__).with_name("webhook-kit.e2e.toml")
SOURCE_PATTERN = "t-*"


@pytest.fixture(scope="session")
def e2e_config() -> WebhookKitConfig:
    return load_config(CONFIG_PATH)


@pytest.fixture(scope="session")
def shared_ledger() -> Iterator[Ledger]:
    with ledger_server() as ledger:
        yield ledger


@pytest.fixture(scope="session")
def pipeline(e2e_config: WebhookKitConfig, shared_ledger: Ledger) -> Iterator[LocalPipeline]:
    with running_pipeline(e2e_config, processor_setup=[serving(shared_ledger, SOURCE_PATTERN)]) as local:
        yield local


@pytest.fixture
def ledger(shared_ledger: Ledger) -> Ledger:
    return shared_ledger


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # no proxy between the tests and 127.0.0.1
        yield session


@pytest.fixture(scope="session")
def sqs(pipeline: LocalPipeline) -> Any:
    return local_client("sqs", pipeline.aws_endpoint)
