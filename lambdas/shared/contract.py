"""The runtime contract: what the stack gives each function and what the functions share (docs/runtime-contract.md).

One place for each fact that both sides of the contract need: the stack's
constructs (``stacks/``), the functions' readers (``verifier.config``,
``processor.settings``) and the local pipeline (``webhook_kit.local``) build
and read the functions' environments through this module, so a name, a default
or a shape cannot drift between them. It lives in the Lambda asset and imports
neither CDK nor AWS SDKs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

# ---- shared constants

METRICS_NAMESPACE = "WebhookKit"
# API path: POST /{WEBHOOK_PATH_PREFIX}/{source}
WEBHOOK_PATH_PREFIX = "webhooks"
# The only URI paths the web ACL lets through (stacks/firewall.py, canonical-path rule;
# the local front applies it too): one optional segment before /webhooks (the stage on
# the execute-api URL, or a custom domain's base path), one source segment of the
# characters source names are made of, an optional trailing slash. Nothing that decoding
# or path normalisation could change: no "%", no ".", no empty segment.
CANONICAL_PATH_PREFIX = r"(?:/[A-Za-z0-9_-]+)?"
CANONICAL_PATH_REGEX = rf"^{CANONICAL_PATH_PREFIX}/{WEBHOOK_PATH_PREFIX}/[a-z0-9-]+/?$"
# ReceiveMessage, SendMessageBatch and DeleteMessageBatch take at most 10 messages.
SQS_MAX_BATCH = 10
VERIFIER_SERVICE = "webhook-verifier"
PROCESSOR_SERVICE = "webhook-processor"
VERIFIER_HANDLER = "verifier.handler.handler"
PROCESSOR_HANDLER = "processor.handler.handler"
LOG_LEVEL = "INFO"

# The verifier's metrics, which the stack's alarms and dashboard read (service dimension VERIFIER_SERVICE).
METRIC_ACCEPTED = "Accepted"
METRIC_REJECTED = "Rejected"
METRIC_ENQUEUE_FAILURES = "EnqueueFailures"
METRIC_SECRET_FAILURES = "SecretFetchFailures"  # noqa: S105 - a metric name
METRIC_HANDSHAKES = "Handshakes"
# A request that failed verification but was queued because its source has enforce = false.
METRIC_UNENFORCED = "UnverifiedAccepted"
# Every request to a source with enforce = false: its enforcement-off alarm reads this.
METRIC_ENFORCEMENT_OFF = "EnforcementOff"
METRIC_STALE_SECRETS = "SecretsServedStale"
# The one ``reason`` dimension every signature or timestamp failure is counted under.
REASON_UNAUTHORIZED = "unauthorized"

# Powertools' DynamoDB persistence layer: partition key "id", TTL on "expiration".
IDEMPOTENCY_KEY_ATTRIBUTE = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"

DAY_SECONDS = 24 * 3600

# ---- defaults (the configuration's and the readers', the same numbers)

DEFAULT_TOLERANCE_SECONDS = 300
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# SQS takes 256 KiB per message including attributes; leave room for those.
DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES = 200 * 1024
DEFAULT_SECRETS_MAX_AGE_SECONDS = 300
# With a cache under a minute, every burst of webhooks calls Secrets Manager again: a
# GetSecretValue per request at 0, each one latency, a charge, and a share of the
# account's request quota that, once throttled, turns genuine deliveries into 503s.
MIN_SECRETS_MAX_AGE_SECONDS = 60
# How long the last good secrets are served when Secrets Manager fails (verifier.adapters).
DEFAULT_SECRETS_GRACE_SECONDS = 900
# As long as a copy can wait in the queue and then the DLQ (14 + 14 days, a
# fresh clock for each SendMessage): stacks/config.py enforces the same rule.
DEFAULT_IDEMPOTENCY_EXPIRY_SECONDS = 30 * DAY_SECONDS
UNHANDLED_ACKNOWLEDGE: Final = "acknowledge"
UNHANDLED_FAIL: Final = "fail"
UNHANDLED_CHOICES = (UNHANDLED_ACKNOWLEDGE, UNHANDLED_FAIL)

# ---- environment variable names

ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

ENV_SOURCES = "WEBHOOK_SOURCES"
# A deployment's source table is data, not environment (Lambda allows 4 KB of it):
# SSM parameters, named here comma-separated, each a ``source_table_chunk``.
ENV_SOURCES_PARAMETERS = "WEBHOOK_SOURCES_PARAMETERS"
# The digest of the table this function's configuration was built with: a cold start
# that reads an older table (CloudFormation may update the function first) reads again.
ENV_SOURCES_DIGEST = "WEBHOOK_SOURCES_DIGEST"
ENV_MAX_BODY_BYTES = "MAX_BODY_BYTES"
ENV_CLAIM_CHECK_BUCKET = "CLAIM_CHECK_BUCKET"
ENV_CLAIM_CHECK_THRESHOLD_BYTES = "CLAIM_CHECK_THRESHOLD_BYTES"
ENV_SECRETS_MAX_AGE_SECONDS = "SECRETS_MAX_AGE_SECONDS"
ENV_SECRETS_GRACE_SECONDS = "SECRETS_GRACE_SECONDS"
ENV_VERIFIER_TRACER = "WEBHOOK_KIT_VERIFIER_TRACER"

ENV_SOURCE = "WEBHOOK_SOURCE"
ENV_IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
ENV_IDEMPOTENCY_EXPIRY_SECONDS = "IDEMPOTENCY_EXPIRY_SECONDS"
ENV_DEAD_LETTER_QUEUE_URL = "DEAD_LETTER_QUEUE_URL"
ENV_UNHANDLED_EVENTS = "UNHANDLED_EVENTS"
# Where the source's deliveries state their API version ("body:<path>" or "header:<name>",
# webhook_verify.api_version); absent: the source states none.
ENV_API_VERSION_FROM = "API_VERSION_FROM"


# ---- environments


def powertools_environment(service: str) -> dict[str, str]:
    """What every function is given for Powertools: its service name, the metric namespace, the log level."""
    return {ENV_SERVICE_NAME: service, ENV_METRICS_NAMESPACE: METRICS_NAMESPACE, ENV_LOG_LEVEL: LOG_LEVEL}


def source_route(
    *,
    scheme: str,
    queue_url: str,
    secret_arn: str,
    tolerance_seconds: int,
    options: Mapping[str, Any],
    behaviour: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One source's entry in the verifier's ``WEBHOOK_SOURCES`` object (values may be CDK tokens).

    ``behaviour`` holds what differs from the defaults: ``handshake``, ``enforce``
    (only when false), ``acknowledgement`` (verifier/config.py reads them).
    """
    return {
        "scheme": scheme,
        "queue_url": queue_url,
        "secret_arn": secret_arn,
        "tolerance_seconds": tolerance_seconds,
        "options": dict(options),
        **(behaviour or {}),
    }


# ---- a deployment's layout (stacks/source_stack.py): where a source's resources are found


def source_label(name: str) -> str:
    """A source's name as an identifier: ``order-events`` -> ``OrderEvents`` (config keeps these unique)."""
    return "".join(part.capitalize() for part in name.split("-"))


def source_stack_logical_id(name: str) -> str:
    """The parent stack's logical id of a source's nested stack (the CLI finds the source's outputs there)."""
    return f"Source{source_label(name)}"


# The outputs of every source's nested stack.
OUTPUT_WEBHOOK_URL = "WebhookUrl"
OUTPUT_SECRET_ARN = "SecretArn"  # noqa: S105 - an output's name
OUTPUT_QUEUE_URL = "QueueUrl"
OUTPUT_DEAD_LETTER_QUEUE_URL = "DeadLetterQueueUrl"
# For the parent's alarms and dashboard: short names keep its references short
# (its template, 1 MB at most, holds a hundred of each).
OUTPUT_QUEUE_NAME = "QueueName"
OUTPUT_DEAD_LETTER_QUEUE_NAME = "DeadLetterQueueName"
OUTPUT_PROCESSOR_NAME = "ProcessorName"


# ---- the source table

# What one SSM parameter may hold: the advanced tier's 8 KB (AWS Systems Manager User Guide,
# "Managing parameter tiers"); a chunk that fits the standard tier's 4 KB stays standard
# (intelligent tiering), so a small deployment pays nothing for it.
SOURCE_TABLE_PARAMETER_BYTES = 8 * 1024
# GetParameters takes at most 10 names a call (Systems Manager API Reference, GetParameters).
SSM_GET_PARAMETERS_MAX_NAMES = 10


def source_table_parameter_name(stack_name: str, index: int) -> str:
    """The SSM parameter holding chunk ``index`` of a deployment's source table."""
    return f"/webhook-kit/{stack_name}/sources/{index}"


def source_table_digest(description: Any) -> str:
    """A short digest of what the table was built from (JSON-serialisable; the same on every machine)."""
    canonical = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def source_table_chunk(digest: str, routes: Mapping[str, Any]) -> dict[str, Any]:
    """One parameter's value: the table's digest and some of its ``source_route`` entries."""
    return {"digest": digest, "sources": dict(routes)}


def pack_source_table(sizes: Mapping[str, int], budget: int = SOURCE_TABLE_PARAMETER_BYTES) -> list[list[str]]:
    """Source names in chunks whose entries (``sizes``: name -> bytes) fit ``budget`` each, in order.

    In order, so that appending a source changes only the last chunk. A source
    whose entry alone is over the budget raises ValueError naming it.
    """
    overhead = len(json.dumps(source_table_chunk("0" * 16, {})))
    chunks: list[list[str]] = []
    used = budget
    for name, size in sizes.items():
        entry = len(json.dumps(name)) + 2 + size + 2  # '"name": ' + entry + ', '
        if overhead + entry > budget:
            raise ValueError(
                f"sources[{name}]: its entry in the source table would take about {size} bytes, over the "
                f"{budget} bytes an SSM parameter holds; shorten its options"
            )
        if used + entry > budget:
            chunks.append([])
            used = overhead
        chunks[-1].append(name)
        used += entry
    return chunks


def table_in_parameters(parameter_names: Sequence[str], digest: str) -> dict[str, str]:
    """The verifier's source-table variables for a table kept in SSM parameters (deployments)."""
    return {ENV_SOURCES_PARAMETERS: ",".join(parameter_names), ENV_SOURCES_DIGEST: digest}


def verifier_environment(
    *,
    table: Mapping[str, str],
    max_body_bytes: int,
    claim_check_bucket: str,
    claim_check_threshold_bytes: int,
    secrets_max_age_seconds: int,
    tracer: bool,
) -> dict[str, str]:
    """The verifier's own variables; ``table`` from ``table_in_parameters`` (or ``{ENV_SOURCES: json}``, tests)."""
    return {
        **table,
        ENV_MAX_BODY_BYTES: str(max_body_bytes),
        ENV_CLAIM_CHECK_BUCKET: claim_check_bucket,
        ENV_CLAIM_CHECK_THRESHOLD_BYTES: str(claim_check_threshold_bytes),
        ENV_SECRETS_MAX_AGE_SECONDS: str(secrets_max_age_seconds),
        ENV_VERIFIER_TRACER: "true" if tracer else "false",
    }


def processor_environment(
    *,
    source: str,
    idempotency_table: str,
    idempotency_expiry_seconds: int,
    claim_check_bucket: str,
    dead_letter_queue_url: str,
    unhandled_events: str,
    api_version_from: str | None = None,
) -> dict[str, str]:
    """One source's processor's own variables."""
    variables = {
        ENV_SOURCE: source,
        ENV_IDEMPOTENCY_TABLE: idempotency_table,
        ENV_IDEMPOTENCY_EXPIRY_SECONDS: str(idempotency_expiry_seconds),
        ENV_CLAIM_CHECK_BUCKET: claim_check_bucket,
        ENV_DEAD_LETTER_QUEUE_URL: dead_letter_queue_url,
        ENV_UNHANDLED_EVENTS: unhandled_events,
    }
    if api_version_from:
        variables[ENV_API_VERSION_FROM] = api_version_from
    return variables


# ---- the allow-list sync (lambdas/allowlist_sync; docs/security.md, "Allow-lists")

ALLOWLIST_SYNC_SERVICE = "webhook-allowlist-sync"
ALLOWLIST_SYNC_HANDLER = "allowlist_sync.handler.handler"
# JSON: {preset: {"4": "<name>|<id>|<scope>", "6": ...}}, each value an IP set's CloudFormation Ref.
ENV_ALLOWLIST_TARGETS = "WEBHOOK_KIT_ALLOWLIST_TARGETS"
# A change of more ranges than this percentage of the current set (at least
# ALLOWLIST_MIN_UNCONFIRMED_CHANGE ranges) is applied only when a second fetch,
# ENV_ALLOWLIST_CONFIRM_SECONDS later, publishes the same list.
ENV_ALLOWLIST_MAX_CHANGE_PERCENT = "WEBHOOK_KIT_ALLOWLIST_MAX_CHANGE_PERCENT"
ENV_ALLOWLIST_CONFIRM_SECONDS = "WEBHOOK_KIT_ALLOWLIST_CONFIRM_SECONDS"
DEFAULT_ALLOWLIST_MAX_CHANGE_PERCENT = 50
DEFAULT_ALLOWLIST_CONFIRM_SECONDS = 30
ALLOWLIST_MIN_UNCONFIRMED_CHANGE = 2
DEFAULT_ALLOWLIST_SYNC_HOURS = 24
# Its metrics, dimensions service (ALLOWLIST_SYNC_SERVICE) and DIMENSION_PRESET.
DIMENSION_PRESET = "preset"
METRIC_ALLOWLIST_SYNCED = "AllowListSynced"
METRIC_ALLOWLIST_SYNC_FAILED = "AllowListSyncFailed"
METRIC_ALLOWLIST_RANGES_ADDED = "AllowListRangesAdded"
METRIC_ALLOWLIST_RANGES_REMOVED = "AllowListRangesRemoved"


def preset_ip_set_name(stack_name: str, preset: str, version: int) -> str:
    """The name of a deployment's IP set for one IP version of a preset (what ``ipsets diff`` looks for)."""
    return f"{stack_name}-allow-{preset}-ipv{version}"


def allowlist_sync_environment(
    *, targets: Mapping[str, Mapping[int, str]], max_change_percent: int, confirm_seconds: int
) -> dict[str, str]:
    """The sync's own variables: which IP sets hold which preset, and how large a change needs confirming."""
    document = {preset: {str(version): ref for version, ref in sets.items()} for preset, sets in targets.items()}
    return {
        ENV_ALLOWLIST_TARGETS: json.dumps(document, separators=(",", ":"), sort_keys=True),
        ENV_ALLOWLIST_MAX_CHANGE_PERCENT: str(max_change_percent),
        ENV_ALLOWLIST_CONFIRM_SECONDS: str(confirm_seconds),
    }
