"""A local pipeline as the tests run it: free ports, 1 s visibility timeouts, stopped with its workers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stacks.config import WebhookKitConfig
from webhook_kit.local import LocalPipeline


@contextmanager
def running_pipeline(config: WebhookKitConfig, *, names: str | None = None, **seams: Any) -> Iterator[LocalPipeline]:
    """Start a pipeline for ``config``; ``seams`` go to ``LocalPipeline`` (set-ups, hooks).

    moto keeps its state per process, so pipelines of one xdist worker share it: ``names``
    gives this one a table and a bucket of their own (queues and secrets are named after the
    sources, which must differ).
    """
    own = {} if names is None else {"table_name": f"{names}-idempotency", "bucket_name": f"{names}-claim-check"}
    local = LocalPipeline(config, port=0, aws_port=0, visibility_scale=0.05, wait_seconds=1, **own, **seams)
    local.start()
    try:
        yield local
    finally:
        local.stop()
