"""Allow-list sync Lambda: run on a schedule, it keeps each preset's WAF IP sets equal to the
provider's published list (``allowlist_sync.core``; docs/security.md, "Allow-lists").

This module reads the environment once per cold start (which IP sets hold which
preset, and the limits: ``shared.contract.allowlist_sync_environment``), builds
the adapters, and records each preset's outcome: one log line, and the metrics
the stack's alarms and dashboard read (dimensions service and preset):
``AllowListSynced`` for a run that left the sets equal to the published list,
``AllowListSyncFailed`` for one that could not, and the ranges added and
removed. A failure is counted, not raised: raising would make EventBridge
invoke the function again at once, fetching the feeds again for nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from allowlist_sync.adapters import FeedReader, WafIpSets
from allowlist_sync.core import Fetch, IpSets, Limits, Outcome, Target, sync
from shared.allowlists import PRESETS
from shared.contract import (
    ALLOWLIST_SYNC_SERVICE,
    DEFAULT_ALLOWLIST_CONFIRM_SECONDS,
    DEFAULT_ALLOWLIST_MAX_CHANGE_PERCENT,
    DIMENSION_PRESET,
    ENV_ALLOWLIST_CONFIRM_SECONDS,
    ENV_ALLOWLIST_MAX_CHANGE_PERCENT,
    ENV_ALLOWLIST_TARGETS,
    METRIC_ALLOWLIST_RANGES_ADDED,
    METRIC_ALLOWLIST_RANGES_REMOVED,
    METRIC_ALLOWLIST_SYNC_FAILED,
    METRIC_ALLOWLIST_SYNCED,
)
from shared.contract import METRICS_NAMESPACE as NAMESPACE

SERVICE = ALLOWLIST_SYNC_SERVICE
logger = Logger(service=SERVICE)


class ConfigError(ValueError):
    """The function's environment is not what the stack writes."""


@dataclass
class Runtime:
    targets: list[Target]
    limits: Limits
    fetch: Fetch
    ip_sets: IpSets
    sleep: Callable[[float], None] = time.sleep


_runtime: Runtime | None = None


def read_targets(environ: Mapping[str, str]) -> list[Target]:
    """The presets and their IP sets from ``ENV_ALLOWLIST_TARGETS``; ``ConfigError`` naming what is wrong."""
    try:
        document = json.loads(environ[ENV_ALLOWLIST_TARGETS])
    except (KeyError, ValueError) as error:
        raise ConfigError(
            f"{ENV_ALLOWLIST_TARGETS} must be the stack's JSON of presets and IP sets ({error})"
        ) from None
    if not isinstance(document, dict) or not document:
        raise ConfigError(f"{ENV_ALLOWLIST_TARGETS} names no preset")
    targets = []
    for name, sets in sorted(document.items()):
        if name not in PRESETS:
            raise ConfigError(f"{ENV_ALLOWLIST_TARGETS}: unknown preset {name!r}; this code knows {sorted(PRESETS)}")
        if not isinstance(sets, dict) or not sets or not set(sets) <= {"4", "6"}:
            raise ConfigError(f"{ENV_ALLOWLIST_TARGETS}: {name} must map IP versions 4 and/or 6 to IP sets")
        for ref in sets.values():
            if not isinstance(ref, str) or ref.count("|") != 2:
                raise ConfigError(f"{ENV_ALLOWLIST_TARGETS}: {name}: {ref!r} is not an IP set's name|id|scope")
        targets.append(Target(preset=PRESETS[name], ip_sets={int(version): ref for version, ref in sets.items()}))
    return targets


def read_limits(environ: Mapping[str, str]) -> Limits:
    try:
        percent = int(environ.get(ENV_ALLOWLIST_MAX_CHANGE_PERCENT, DEFAULT_ALLOWLIST_MAX_CHANGE_PERCENT))
        confirm = float(environ.get(ENV_ALLOWLIST_CONFIRM_SECONDS, DEFAULT_ALLOWLIST_CONFIRM_SECONDS))
    except ValueError:
        raise ConfigError(
            f"{ENV_ALLOWLIST_MAX_CHANGE_PERCENT} and {ENV_ALLOWLIST_CONFIRM_SECONDS} are numbers"
        ) from None
    if not 1 <= percent <= 100 or not 0 <= confirm <= 300:
        raise ConfigError(f"{ENV_ALLOWLIST_MAX_CHANGE_PERCENT} is 1-100 and {ENV_ALLOWLIST_CONFIRM_SECONDS} 0-300")
    return Limits(max_change_percent=percent, confirm_seconds=confirm)


def install(
    *,
    fetch: Fetch | None = None,
    ip_sets: IpSets | None = None,
    sleep: Callable[[float], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Runtime:
    """Build the runtime (tests replace parts of it); what is not given comes from the environment and AWS."""
    global _runtime
    environ = os.environ if environ is None else environ
    if ip_sets is None:
        import boto3

        ip_sets = WafIpSets(boto3.client("wafv2"))
    _runtime = Runtime(
        targets=read_targets(environ),
        limits=read_limits(environ),
        fetch=fetch or FeedReader(),
        ip_sets=ip_sets,
        sleep=sleep or time.sleep,
    )
    return _runtime


def reset() -> None:
    """Forget the cold-start state; the next call reads the environment again."""
    global _runtime
    _runtime = None


def record(outcome: Outcome) -> None:
    """One log line and the preset's metrics for one outcome."""
    fields = {
        "preset": outcome.preset,
        "status": outcome.status,
        "reason": outcome.reason,
        "detail": outcome.detail or None,
        "added": list(outcome.added),
        "removed": list(outcome.removed),
    }
    counts = {METRIC_ALLOWLIST_SYNCED if outcome.succeeded else METRIC_ALLOWLIST_SYNC_FAILED: 1}
    if outcome.added or outcome.removed:
        counts |= {
            METRIC_ALLOWLIST_RANGES_ADDED: len(outcome.added),
            METRIC_ALLOWLIST_RANGES_REMOVED: len(outcome.removed),
        }
    for name, value in counts.items():
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
            metric.add_dimension("service", SERVICE)
            metric.add_dimension(DIMENSION_PRESET, outcome.preset)
    if outcome.succeeded:
        logger.info(f"allow-list {outcome.status}", extra=fields)
    else:
        logger.error("allow-list sync failed: the IP sets keep their addresses", extra=fields)


@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = _runtime or install()
    outcomes = sync(state.targets, fetch=state.fetch, ip_sets=state.ip_sets, limits=state.limits, sleep=state.sleep)
    for outcome in outcomes:
        record(outcome)
    return {outcome.preset: {"status": outcome.status, "reason": outcome.reason} for outcome in outcomes}
