"""Verifier Lambda: one function for every source behind ``POST /webhooks/{source}``.

Answers (DESIGN.md, "HTTP answers of the verifier"): 202 ``{"id": ...}`` only
after SQS acknowledged the message; 401 for any signature or timestamp failure;
400 unparseable; 404 unknown source; 413 too large; 503 with Retry-After when a
secret, S3 or SQS let us down, so the provider retries. Slack's
``url_verification`` handshake is answered after the signature check.

The logic lives in ``verifier.core``; this module adds Powertools logging,
metrics and tracing, and builds configuration and AWS adapters once per cold
start (lazily, so tests can set the environment first, or ``install`` fakes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.contract import (
    METRIC_ACCEPTED,
    METRIC_ENFORCEMENT_OFF,
    METRIC_ENQUEUE_FAILURES,
    METRIC_HANDSHAKES,
    METRIC_REJECTED,
    METRIC_SECRET_FAILURES,
    METRIC_STALE_SECRETS,
    METRIC_UNENFORCED,
    VERIFIER_SERVICE,
)
from shared.contract import METRICS_NAMESPACE as NAMESPACE
from shared.metrics import function_metrics
from verifier.adapters import Adapters, AwsAdapters, read_ssm_parameters
from verifier.config import VerifierConfig, load_config
from verifier.core import Outcome, Web, process

SERVICE = VERIFIER_SERVICE
logger = Logger(service=SERVICE)
metrics = function_metrics(SERVICE)
# Powertools' Tracer (X-Ray SDK subsegments for the Secrets Manager, S3 and SQS
# calls) is opt-in here: importing the X-Ray SDK builds its sampling clients and
# costs ~170 ms of cold start (bench/verifier), and the verifier answers
# providers with tight timeouts. Lambda's active tracing still records every
# invocation; set WEBHOOK_KIT_VERIFIER_TRACER=true (config: verifier_tracer) for
# the subsegments.
TRACER_ENABLED = os.environ.get("WEBHOOK_KIT_VERIFIER_TRACER", "false").lower() == "true"


# How often a function whose source table is older than its configuration reads it again.
TABLE_RETRY_SECONDS = 5.0


@dataclass
class Runtime:
    config: VerifierConfig
    adapters: Adapters
    clock: Callable[[], float] = field(default=time.time)
    loaded_at: float = 0.0  # time.monotonic() when the source table was read
    # Key and certificate fetches, handshake confirmations (verifier.web.UrllibWeb); None: no HTTP client.
    web: Web | None = None


_runtime: Runtime | None = None


def _load_config() -> VerifierConfig:
    return load_config(read_parameters=read_ssm_parameters)


def _aws_adapters(config: VerifierConfig) -> AwsAdapters:
    return AwsAdapters(
        secrets_max_age_seconds=config.secrets_max_age_seconds, secrets_grace_seconds=config.secrets_grace_seconds
    )


class _FirstUseWeb:
    """The HTTP client (verifier.web.UrllibWeb), imported and built when a request first needs it.

    Only certificate schemes and SNS confirmations use it: a verifier whose sources
    never fetch imports neither urllib's client nor every scheme's key hosts.
    """

    def __init__(self) -> None:
        self._web: Web | None = None

    def _client(self) -> Web:
        if self._web is None:
            from verifier.web import UrllibWeb

            self._web = UrllibWeb()
        return self._web

    def fetch_key(self, url: str) -> bytes:
        return self._client().fetch_key(url)

    def confirm(self, url: str) -> None:
        self._client().confirm(url)


def _web() -> Web:
    return _FirstUseWeb()


def runtime() -> Runtime:
    """The cold-start state: config from the environment, AWS adapters, the HTTP client."""
    global _runtime
    if _runtime is None:
        config = _load_config()
        _runtime = Runtime(config, _aws_adapters(config), loaded_at=time.monotonic(), web=_web())
    elif not _runtime.config.sources_current and time.monotonic() - _runtime.loaded_at >= TABLE_RETRY_SECONDS:
        # A new source may be missing from the table read at the cold start; its other
        # sources are served meanwhile (a missing one answers 404 and its provider retries).
        logger.warning("source table older than this function's configuration: reading it again")
        _runtime.config = _load_config()
        _runtime.loaded_at = time.monotonic()
    return _runtime


def install(
    *,
    adapters: Adapters | None = None,
    config: VerifierConfig | None = None,
    clock: Callable[[], float] | None = None,
    web: Web | None = None,
) -> Runtime:
    """Replace parts of the runtime (tests); what is not given comes from the environment."""
    global _runtime
    config = config or _load_config()
    _runtime = Runtime(
        config=config,
        adapters=adapters or _aws_adapters(config),
        clock=clock or time.time,
        web=web or _web(),
    )
    return _runtime


def reset() -> None:
    """Forget the cold-start state; the next call reads the environment again."""
    global _runtime
    _runtime = None


def _record(outcome: Outcome, enforced: bool = True) -> None:
    # Unknown sources are attacker-chosen names: never a metric dimension.
    metrics.add_dimension("source", outcome.source or "unknown")
    if outcome.delivery_id:
        logger.set_correlation_id(outcome.delivery_id)
    fields = {"source": outcome.source, "status": outcome.status, "reason": outcome.reason or None}
    if outcome.stale_secret:
        # Without the source dimension, so one alarm watches every source (stacks/monitoring.py).
        with single_metric(name=METRIC_STALE_SECRETS, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
            metric.add_dimension("service", SERVICE)
        logger.warning(
            "Secrets Manager refresh failed: verified with the last good secrets (grace period)", extra=fields
        )
    if not enforced:
        # The source's enforcement-off alarm reads this: enforce = false is never left on silently.
        metrics.add_metric(name=METRIC_ENFORCEMENT_OFF, unit=MetricUnit.Count, value=1)
    if outcome.unenforced:
        metrics.add_metric(name=METRIC_UNENFORCED, unit=MetricUnit.Count, value=1)
        logger.warning("webhook did NOT verify and was accepted: the source has enforce = false", extra=fields)
    if outcome.result == "accepted":
        metrics.add_metric(name=METRIC_ACCEPTED, unit=MetricUnit.Count, value=1)
        logger.info(
            "webhook accepted",
            extra={**fields, "event_type": outcome.event_type, "claim_check": outcome.claim_check},
        )
    elif outcome.result == "handshake":
        metrics.add_metric(name=METRIC_HANDSHAKES, unit=MetricUnit.Count, value=1)
        logger.info("provider handshake answered", extra=fields)
    elif outcome.result == "rejected":
        metrics.add_dimension("reason", outcome.reason)
        metrics.add_metric(name=METRIC_REJECTED, unit=MetricUnit.Count, value=1)
        logger.warning("webhook rejected", extra=fields)
    else:
        name = METRIC_SECRET_FAILURES if outcome.reason == "secret_unavailable" else METRIC_ENQUEUE_FAILURES
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        logger.error("webhook not stored; provider asked to retry", extra=fields)


def _handle(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = runtime()
    outcome = process(event, config=state.config, adapters=state.adapters, now=state.clock(), web=state.web)
    source = state.config.sources.get(outcome.source) if outcome.source else None
    _record(outcome, enforced=source is None or source.enforce)
    return outcome.response()


if TRACER_ENABLED:
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service=SERVICE, patch_modules=["botocore"])
    _handle = tracer.capture_lambda_handler(capture_response=False)(_handle)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _handle(event, context)
