"""The kit's configuration: one typed, validated model read once by ``app.py``.

Sources are declared as data in ``webhook-kit.toml``; scalars can be overridden
from the command line with ``cdk -c key=value`` (``stage_name``,
``waf_rate_limit``, ``sources.stripe.batch_size``, ...). Invalid configuration
raises ``ConfigError`` with the field and the reason, which fails ``cdk synth``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from shared import contract
from stacks.aws_limits import (
    API_GATEWAY_MAX_RESOURCES,
    DAY_SECONDS,
    LOG_RETENTION_DAYS,
    MAX_BODY_LIMIT,
    MAX_SOURCES,
    SQS_MAX_MESSAGE_BYTES,
    SQS_MAX_RETENTION_DAYS,
)
from stacks.source_config import SOURCE_NAME, GenericHmacOptions, SchemeName, SourceConfig, StrictModel

__all__ = ["ConfigError", "SchemeName", "SourceConfig", "WebhookKitConfig", "load_config", "parse_config"]


class ConfigError(ValueError):
    """Configuration that cannot be deployed; the message names the field."""


class WebhookKitConfig(StrictModel):
    """Everything one deployment of the kit needs."""

    stack_name: str = Field(default="WebhookKit", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    stage_name: str = Field(default="prod", pattern=r"^[A-Za-z0-9_]{1,64}$")
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    waf_rate_limit: int = Field(default=1000, ge=10, le=2_000_000_000, description="requests per 5 minutes per IP")
    waf_body_inspection_kb: Literal[16, 32, 48, 64] = Field(
        default=16, description="How much of a body WAF reads (above 16 KB AWS charges extra)."
    )
    # A web ACL's capacity without extra charge is 1,500 WCU (AWS WAF Developer Guide, "Web ACL
    # capacity units"; up to 5,000 billed), and an account has 100 IP sets a Region by default:
    # raise these to use capacity you pay for or a quota you raised.
    waf_max_wcu: int = Field(default=1500, ge=100, le=5000)
    waf_max_ip_sets: int = Field(default=100, ge=1, le=10_000)
    # The allow-list sync (docs/security.md, "Allow-lists"): how often it reads the presets'
    # published lists, and how large a change it applies without a confirming second fetch.
    # At most 72 hours: its staleness alarm looks back two intervals, and a CloudWatch alarm
    # evaluates at most 7 days.
    allowlist_sync_hours: int = Field(default=contract.DEFAULT_ALLOWLIST_SYNC_HOURS, ge=1, le=72)
    allowlist_max_change_percent: int = Field(default=contract.DEFAULT_ALLOWLIST_MAX_CHANGE_PERCENT, ge=1, le=100)
    max_body_bytes: int = Field(default=contract.DEFAULT_MAX_BODY_BYTES, ge=1024, le=MAX_BODY_LIMIT)
    claim_check_threshold_bytes: int = Field(
        default=contract.DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES, ge=1024, le=SQS_MAX_MESSAGE_BYTES - 16 * 1024
    )
    # SQS keeps a message 1 minute to 14 days; the kit counts whole days.
    queue_retention_days: int = Field(default=14, ge=1, le=SQS_MAX_RETENTION_DAYS)
    dead_letter_retention_days: int = Field(default=14, ge=1, le=SQS_MAX_RETENTION_DAYS)
    claim_check_expiry_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="At least queue_retention_days + dead_letter_retention_days + 1 (see _retention_rules)",
    )
    log_retention_days: int = Field(default=30)
    retain_data: bool = Field(default=True, description="Keep tables, buckets and queues when the stack is deleted")
    idempotency_expiry_seconds: int = Field(
        default=contract.DEFAULT_IDEMPOTENCY_EXPIRY_SECONDS,
        ge=60,
        le=365 * DAY_SECONDS,
        description="At least (queue_retention_days + dead_letter_retention_days) days (see _retention_rules)",
    )
    secrets_max_age_seconds: int = Field(
        default=contract.DEFAULT_SECRETS_MAX_AGE_SECONDS,
        ge=contract.MIN_SECRETS_MAX_AGE_SECONDS,
        le=3600,
        description="How long a verifier instance caches a source's secrets; at least a minute (a rotation keeps "
        "old and new secrets active together, so a shorter cache buys nothing).",
    )
    api_throttle_rate: int = Field(
        default=500, ge=1, description="The stage's throttle: no source's throttle_rate may exceed it"
    )
    api_throttle_burst: int = Field(
        default=1000, ge=1, description="The stage's burst: no source's throttle_burst may exceed it"
    )
    verifier_memory_mb: int = Field(default=512, ge=128, le=10240)
    verifier_timeout_seconds: int = Field(default=10, ge=1, le=29)
    oldest_message_alarm_seconds: int = Field(default=900, ge=60)
    rejection_rate_alarm_percent: int = Field(default=50, ge=1, le=100)
    waf_blocked_alarm_threshold: int = Field(default=100, ge=1)
    verifier_tracer: bool = Field(
        default=False,
        description="Powertools Tracer (X-Ray SDK subsegments) in the verifier: ~170 ms more cold start",
    )
    unhandled_events: Literal["acknowledge", "fail"] = contract.UNHANDLED_ACKNOWLEDGE
    api_gateway_cloudwatch_role: Literal["create", "existing"] = Field(
        default="create",
        description="REST API stages refuse access logs until the Region's API Gateway account settings name a "
        "CloudWatch Logs role: 'create' sets one (a retained role; the setting is shared by every API of the "
        "account and Region), 'existing' uses the one already set (`aws apigateway get-account`).",
    )
    tags: dict[str, str] = Field(default_factory=lambda: {"project": "webhook-kit"})
    sources: tuple[SourceConfig, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_powertools_layer_version(cls, data: Any) -> Any:
        # Was an integer layer number, checked against nothing; the stack now deploys the layer
        # of the Powertools release the tests run (stacks/lambda_factory.py), so none is set here.
        if isinstance(data, Mapping) and "powertools_layer_version" in data:
            raise ValueError(
                "powertools_layer_version: remove this setting; the stack deploys the Powertools layer of the "
                "release the tests run, the aws-lambda-powertools pin in requirements-lambda-runtime.txt (to "
                "move to another release, see README, 'Powertools, Python 3.13 and Regions')"
            )
        return data

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {sorted(LOG_RETENTION_DAYS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WebhookKitConfig:
        names = [source.name for source in self.sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"sources: duplicate source name(s) {', '.join(duplicates)}")
        self._scale_rules()
        if self.api_throttle_burst < self.api_throttle_rate:
            raise ValueError("api_throttle_burst must be at least api_throttle_rate")
        above_ceiling = [
            f"sources[{source.name}].{field} {value} exceeds {ceiling_field} {ceiling}"
            for source in self.sources
            for field, value, ceiling_field, ceiling in (
                ("throttle_rate", source.throttle_rate, "api_throttle_rate", self.api_throttle_rate),
                ("throttle_burst", source.throttle_burst, "api_throttle_burst", self.api_throttle_burst),
            )
            if value > ceiling
        ]
        if above_ceiling:
            raise ValueError(
                "; ".join(above_ceiling) + ": the stage's throttle is the ceiling for every source; lower the "
                "source's value or raise the stage's"
            )
        self._retention_rules()
        return self

    @property
    def message_life_days(self) -> int:
        """The longest a message (and so its claim-checked body) may still be needed.

        SQS's own move to the DLQ keeps a message's first enqueue time, but the
        processor's dead-letter path and a redrive are new SendMessage calls with a
        fresh retention clock: a copy can wait out the queue's retention, then the
        DLQ's, before anyone redrives it.
        """
        return self.queue_retention_days + self.dead_letter_retention_days

    def _retention_rules(self) -> None:
        life = self.message_life_days
        shorten = "or shorten queue_retention_days / dead_letter_retention_days"
        if self.dead_letter_retention_days < self.queue_retention_days:
            raise ValueError(
                f"dead_letter_retention_days {self.dead_letter_retention_days} is shorter than queue_retention_days "
                f"{self.queue_retention_days}: SQS moves a dead letter with its first enqueue time, so one that "
                "failed late would be deleted on arrival; make dead_letter_retention_days at least "
                "queue_retention_days"
            )
        if self.claim_check_expiry_days < life + 1:
            raise ValueError(
                f"claim_check_expiry_days {self.claim_check_expiry_days} breaks the retention rule "
                f"claim_check_expiry_days >= queue_retention_days + dead_letter_retention_days + 1 (= {life + 1}): "
                f"a message can wait {life} days in the queue and then the DLQ (dead-lettering and redrive start "
                f"a fresh clock) and its body would be gone; raise claim_check_expiry_days to at least {life + 1} "
                f"{shorten}"
            )
        if self.idempotency_expiry_seconds < life * DAY_SECONDS:
            raise ValueError(
                f"idempotency_expiry_seconds {self.idempotency_expiry_seconds} breaks the retention rule "
                "idempotency_expiry_seconds >= (queue_retention_days + dead_letter_retention_days) x 86400 "
                f"(= {life * DAY_SECONDS}): a duplicate copy can wait {life} days in the queue and then the DLQ, "
                "and once redriven after its delivery's record expired it runs the handler again; raise "
                f"idempotency_expiry_seconds to at least {life * DAY_SECONDS} {shorten}"
            )

    def _scale_rules(self) -> None:
        """What the layout of stacks/source_stack.py needs of the sources, checked before anything is built."""
        from stacks.table_packing import pack

        if len(self.sources) > MAX_SOURCES:
            raise ValueError(
                f"sources: {len(self.sources)} sources, over the {MAX_SOURCES} one deployment holds (its "
                "CloudFormation template, 1 MB at most, grows about 4.7 KB a source; API Gateway allows "
                f"{API_GATEWAY_MAX_RESOURCES} resources a REST API): split them between two deployments (stack_name)"
            )
        labels: dict[str, str] = {}
        for source in self.sources:
            other = labels.setdefault(contract.source_label(source.name), source.name)
            if other != source.name:
                raise ValueError(
                    f"sources: '{other}' and '{source.name}' make the same CloudFormation name "
                    f"({contract.source_label(source.name)}), for their stacks and outputs: rename one"
                )
        pack(self.sources)

    def source(self, name: str) -> SourceConfig:
        for candidate in self.sources:
            if candidate.name == name:
                return candidate
        raise KeyError(name)


_MODEL_BY_PARENT: dict[str, type[StrictModel]] = {"sources": SourceConfig, "generic": GenericHmacOptions}


def _source_label(data: Mapping[str, Any], index: int) -> str:
    """``sources[linear]`` for a source with a usable name, else ``sources[#3]`` (its position, 1-based)."""
    sources = data.get("sources")
    source = sources[index] if isinstance(sources, list | tuple) and index < len(sources) else None
    name = source.get("name") if isinstance(source, Mapping) else None
    if isinstance(name, str) and SOURCE_NAME.fullmatch(name):
        return f"sources[{name}]"
    return f"sources[#{index + 1}]"


def _location(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        return ".".join([_source_label(data, loc[1]), *(str(part) for part in loc[2:])])
    return ".".join(str(part) for part in loc) or "(top level)"


def _suggestion(detail: Mapping[str, Any]) -> str:
    """``did you mean ...?`` for a misspelt key or choice, else ""."""
    loc, value = detail["loc"], detail.get("input")
    if detail["type"] == "extra_forbidden":
        parent = next((part for part in reversed(loc[:-1]) if isinstance(part, str)), "")
        candidates: list[str] = list(_MODEL_BY_PARENT.get(parent, WebhookKitConfig).model_fields)
        value = loc[-1]
    elif detail["type"] == "literal_error":
        candidates = re.findall(r"'([^']*)'", detail.get("ctx", {}).get("expected", ""))
    else:
        return ""
    close = difflib.get_close_matches(str(value), candidates, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _names(message: str, token: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w.])", message) is not None


def _message(detail: Mapping[str, Any]) -> str:
    if detail["type"] == "extra_forbidden":
        return f"unknown setting {detail['loc'][-1]!r}" + _suggestion(detail)
    message = detail["msg"].removeprefix("Value error, ")
    value = detail.get("input")
    # Echo a wrong scalar; a table's errors come from its own rules, which name their values.
    if isinstance(value, str | int | float) and not isinstance(value, bool) and not _names(message, repr(value)):
        message += f" (got {value!r})"
    return message + _suggestion(detail)


def _format_errors(error: ValidationError, data: Mapping[str, Any]) -> str:
    details = error.errors()
    locations = [detail["loc"] for detail in details]
    lines = []
    for detail in details:
        loc = detail["loc"]
        # A list whose only item is invalid is also "too short" (no valid item is left): noise.
        if detail["type"] == "too_short" and any(len(o) > len(loc) and o[: len(loc)] == loc for o in locations):
            continue
        lines.append(f"  {_location(loc, data)}: {_message(detail)}")
    return "invalid webhook-kit configuration:\n" + "\n".join(lines)


def _coerce(raw: str) -> Any:
    """Turn a ``-c key=value`` string into the TOML scalar it spells, if any."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Apply ``cdk -c`` overrides: ``key`` for a global scalar, ``sources.<name>.<key>`` for a source's."""
    merged = {**data, "sources": [dict(source) for source in data.get("sources", [])]}
    for key, raw in overrides.items():
        value = _coerce(raw) if isinstance(raw, str) else raw
        parts = key.split(".")
        if len(parts) == 1:
            merged[key] = value
        elif len(parts) == 3 and parts[0] == "sources":
            matches = [source for source in merged["sources"] if source.get("name") == parts[1]]
            if not matches:
                raise ConfigError(f"invalid webhook-kit configuration:\n  {key}: no source named {parts[1]!r}")
            matches[0][parts[2]] = value
        else:
            raise ConfigError(f"invalid webhook-kit configuration:\n  {key}: use 'key' or 'sources.<name>.<key>'")
    return merged


def parse_config(data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> WebhookKitConfig:
    """Validate configuration data (as read from TOML) with optional overrides."""
    merged = apply_overrides(dict(data), overrides or {})
    try:
        return WebhookKitConfig.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, merged)) from None


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> WebhookKitConfig:
    """Read and validate the TOML configuration file at ``path``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return parse_config(data, overrides)
