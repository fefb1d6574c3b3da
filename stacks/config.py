"""The kit's configuration: one typed, validated model read once by ``app.py``.

Sources are declared as data in ``webhook-kit.toml``; scalars can be overridden
from the command line with ``cdk -c key=value`` (``stage_name``,
``waf_rate_limit``, ``sources.stripe.batch_size``, ...). Invalid configuration
raises ``ConfigError`` with the field and the reason, which fails ``cdk synth``.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SchemeName = Literal[
    "standard-webhooks",
    "svix",
    "stripe",
    "github",
    "shopify",
    "slack",
    "twilio",
    "square",
    "paddle",
    "generic-hmac",
]

# Schemes that sign the public URL: the verifier must know the URL the provider called.
URL_SIGNING_SCHEMES = frozenset({"twilio", "square"})

LAMBDA_MAX_TIMEOUT = 900
SQS_MAX_VISIBILITY_TIMEOUT = 12 * 3600
# Lambda's SQS event source: batch size above 10 needs a batching window.
SQS_STANDARD_MAX_BATCH = 10_000
# API Gateway REST accepts 10 MB, but it hands the body to Lambda base64-encoded
# inside a synchronous invocation, which Lambda caps at 6 MB: about 4.4 MB of raw body.
MAX_BODY_LIMIT = 4 * 1024 * 1024
# SQS' message size limit counts body and attributes together.
SQS_MAX_MESSAGE_BYTES = 256 * 1024
# Lambda allows 4 KB of environment variables per function; the verifier's other
# variables and Powertools' take well under 500 bytes.
VERIFIER_SOURCES_BUDGET = 3500
SQS_MAX_RETENTION_DAYS = 14
DAY_SECONDS = 24 * 3600
# With a cache under a minute, every burst of webhooks calls Secrets Manager again: a
# GetSecretValue per request at 0, each one latency, a charge, and a share of the
# account's request quota that, once throttled, turns genuine deliveries into 503s.
SECRETS_MIN_MAX_AGE_SECONDS = 60

_SOURCE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
_ARN_PREFIX = r"^arn:(?P<partition>aws[a-z-]*):{service}:(?P<region>[a-z]{{2}}(?:-[a-z]+)+-\d+):(?P<account>\d{{12}}):"
# A secret's name is 1-512 of ASCII letters, digits and /_+=.@- (Secrets Manager CreateSecret, Name):
# no wildcard can slip into the IAM resource built from it.
_ARN_SECRET = re.compile(_ARN_PREFIX.format(service="secretsmanager") + r"secret:(?P<name>[A-Za-z0-9/_+=.@-]{1,512})$")
# Secrets Manager ends a secret's ARN with "-" and six random characters; an ARN without them is partial.
_SECRET_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
_ARN_KMS_KEY = re.compile(_ARN_PREFIX.format(service="kms") + r"key/[A-Za-z0-9-]{1,128}$")


class ConfigError(ValueError):
    """Configuration that cannot be deployed; the message names the field."""


def secret_arn_is_complete(secret_arn: str) -> bool:
    """Whether a secret's ARN ends with the six-character suffix Secrets Manager adds.

    The rule Secrets Manager itself applies to an ARN it is given: a name that
    ends with a hyphen and six characters is read as a complete ARN (which is
    why AWS advises against secret names ending that way).
    """
    return bool(_SECRET_ARN_SUFFIX.search(secret_arn))


def secret_arn_for_policies(secret_arn: str) -> str:
    """The IAM resource that matches the secret: a partial ARN gets the suffix as ``-??????``.

    IAM compares the complete ARN, so a partial one granted as it is matches
    nothing (GetSecretValue is denied); the CDK grants an imported partial ARN
    the same way (``Secret.from_secret_partial_arn``).
    """
    return secret_arn if secret_arn_is_complete(secret_arn) else f"{secret_arn}-??????"


def arn_region(arn: str) -> str:
    return arn.split(":")[3]


class _Model(BaseModel):
    # Unknown keys are mistakes (a typo would otherwise silently keep a default).
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenericHmacOptions(_Model):
    """How a generic HMAC sender signs, for sources with ``scheme = "generic-hmac"``."""

    signature_header: str = Field(min_length=1)
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    signed_template: str = "{body}"
    delivery_id_header: str | None = None
    delivery_id_field: str | None = None
    event_type_header: str | None = None
    event_type_field: str | None = None

    @model_validator(mode="after")
    def _template_matches_timestamp(self) -> GenericHmacOptions:
        if "{body}" not in self.signed_template:
            raise ValueError("signed_template must contain {body}")
        if ("{timestamp}" in self.signed_template) != (self.timestamp_header is not None):
            raise ValueError("signed_template uses {timestamp} exactly when timestamp_header is set")
        return self


class SourceConfig(_Model):
    """One webhook sender: its URL segment, how it signs, and how its queue is drained."""

    name: str = Field(description="URL path segment: POST /webhooks/{name}")
    scheme: SchemeName
    secret_arn: str | None = Field(
        default=None,
        description="An existing Secrets Manager secret, by complete ARN (with the six-character suffix) or "
        "partial ARN (without it); if unset the stack creates one.",
    )
    secret_kms_key_arn: str | None = Field(
        default=None,
        description="The customer-managed KMS key (key ARN) that encrypts the existing secret_arn; the verifier "
        "may decrypt with it only through Secrets Manager, for that secret.",
    )
    tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    allowed_cidrs: tuple[str, ...] = ()
    public_url: str | None = Field(default=None, description="The URL the provider signs (Twilio, Square).")
    generic: GenericHmacOptions | None = None
    memory_mb: int = Field(default=256, ge=128, le=10240)
    timeout_seconds: int = Field(default=30, ge=1, le=LAMBDA_MAX_TIMEOUT)
    batch_size: int = Field(default=10, ge=1, le=SQS_STANDARD_MAX_BATCH)
    batching_window_seconds: int = Field(default=0, ge=0, le=300)
    max_concurrency: int = Field(default=5, ge=2, le=1000)
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    visibility_timeout_seconds: int | None = Field(
        default=None, description="Defaults to 6 x timeout_seconds + batching_window_seconds (AWS' advice)."
    )
    # API Gateway's token bucket for POST /webhooks/<name> alone: a flood on one
    # source's URL is answered 429 there and leaves the other sources' buckets full.
    throttle_rate: int = Field(default=100, ge=1, le=10_000, description="Steady requests per second to this source")
    throttle_burst: int = Field(default=200, ge=1, le=5_000, description="Requests this source may take at once")

    @field_validator("name")
    @classmethod
    def _path_safe(cls, value: str) -> str:
        if not _SOURCE_NAME.fullmatch(value):
            raise ValueError(
                "must be 1-32 characters of lower-case letters, digits and inner hyphens (it is a URL path segment)"
            )
        return value

    @field_validator("secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        if value is not None and not _ARN_SECRET.fullmatch(value):
            raise ValueError(
                "must be the ARN of a Secrets Manager secret, arn:<partition>:secretsmanager:<region>:<account>:"
                "secret:<name>, either complete (ending with the hyphen and six characters Secrets Manager adds, "
                "as `aws secretsmanager describe-secret` shows it) or partial (without them); the name holds "
                "letters, digits and /_+=.@- only, no wildcard"
            )
        return value

    @field_validator("secret_kms_key_arn")
    @classmethod
    def _secret_kms_key_arn(cls, value: str | None) -> str | None:
        if value is not None and not _ARN_KMS_KEY.fullmatch(value):
            raise ValueError(
                "must be the ARN of a KMS key, arn:<partition>:kms:<region>:<account>:key/<key-id>; not an alias "
                "or a key id: IAM grants kms:Decrypt on the key's ARN"
            )
        return value

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        normalised = []
        for cidr in value:
            try:
                network = ipaddress.ip_network(cidr, strict=True)
            except ValueError as error:
                raise ValueError(f"{cidr!r} is not a valid CIDR ({error})") from None
            normalised.append(str(network))
        return tuple(normalised)

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        if self.secret_kms_key_arn is not None:
            if self.secret_arn is None:
                raise ValueError(
                    "secret_kms_key_arn is only for an existing secret (secret_arn): a secret the stack creates is "
                    "encrypted with Secrets Manager's AWS-managed key"
                )
            if arn_region(self.secret_kms_key_arn) != arn_region(self.secret_arn):
                raise ValueError(
                    f"secret_kms_key_arn is in {arn_region(self.secret_kms_key_arn)} but secret_arn in "
                    f"{arn_region(self.secret_arn)}: Secrets Manager encrypts a secret with a key of its own Region"
                )
        if self.scheme in URL_SIGNING_SCHEMES and not self.public_url:
            raise ValueError(f"public_url is required for scheme {self.scheme!r}: the provider signs the URL it calls")
        if self.public_url is not None and not re.match(r"^https?://", self.public_url):
            raise ValueError("public_url must be an http(s) URL")
        if self.public_url is not None and ("?" in self.public_url or "#" in self.public_url):
            # The verifier checks the same rule (verifier.config.public_url_problem).
            raise ValueError(
                "public_url must not have a query string or fragment: the query is taken from each request"
            )
        if (self.scheme == "generic-hmac") != (self.generic is not None):
            raise ValueError("a [sources.generic] table is required for, and only for, scheme 'generic-hmac'")
        minimum = self.minimum_visibility_timeout
        if self.visibility_timeout_seconds is not None and self.visibility_timeout_seconds < minimum:
            raise ValueError(
                f"visibility_timeout_seconds {self.visibility_timeout_seconds} breaks the visibility-timeout rule: "
                f"it must be at least 6 x timeout_seconds + batching_window_seconds = {minimum}, or a message "
                "still being processed is delivered again"
            )
        if self.visibility_timeout > SQS_MAX_VISIBILITY_TIMEOUT:
            raise ValueError(f"visibility timeout {self.visibility_timeout} s exceeds SQS' 12-hour maximum")
        if self.batch_size > 10 and self.batching_window_seconds == 0:
            raise ValueError(
                "batch_size above 10 needs batching_window_seconds of at least 1 (an SQS event source rule)"
            )
        if self.throttle_burst < self.throttle_rate:
            raise ValueError(
                f"throttle_burst {self.throttle_burst} must be at least throttle_rate {self.throttle_rate}: "
                "API Gateway's bucket holds the burst and refills at the rate"
            )
        return self

    @property
    def minimum_visibility_timeout(self) -> int:
        # AWS: at least six times the function timeout, plus the batching window,
        # so a batch that is retried inside the function is not redelivered meanwhile.
        return 6 * self.timeout_seconds + self.batching_window_seconds

    @property
    def visibility_timeout(self) -> int:
        return self.visibility_timeout_seconds or self.minimum_visibility_timeout

    def verifier_options(self) -> dict[str, Any]:
        """The scheme options the verifier receives at run time."""
        options: dict[str, Any] = {}
        if self.public_url:
            options["public_url"] = self.public_url
        if self.generic is not None:
            options.update(self.generic.model_dump(exclude_none=True))
        return options


class WebhookKitConfig(_Model):
    """Everything one deployment of the kit needs."""

    stack_name: str = Field(default="WebhookKit", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    stage_name: str = Field(default="prod", pattern=r"^[A-Za-z0-9_]{1,64}$")
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    waf_rate_limit: int = Field(default=1000, ge=10, le=2_000_000_000, description="requests per 5 minutes per IP")
    waf_body_inspection_kb: Literal[16, 32, 48, 64] = Field(
        default=16, description="How much of a body WAF reads (above 16 KB AWS charges extra)."
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=MAX_BODY_LIMIT)
    claim_check_threshold_bytes: int = Field(default=200 * 1024, ge=1024, le=SQS_MAX_MESSAGE_BYTES - 16 * 1024)
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
        default=30 * DAY_SECONDS,
        ge=60,
        le=365 * DAY_SECONDS,
        description="At least (queue_retention_days + dead_letter_retention_days) days (see _retention_rules)",
    )
    secrets_max_age_seconds: int = Field(
        default=300,
        ge=SECRETS_MIN_MAX_AGE_SECONDS,
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
    unhandled_events: Literal["acknowledge", "fail"] = "acknowledge"
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
        # The values CloudWatch Logs accepts.
        allowed = {
            1,
            3,
            5,
            7,
            14,
            30,
            60,
            90,
            120,
            150,
            180,
            365,
            400,
            545,
            731,
            1096,
            1827,
            2192,
            2557,
            2922,
            3288,
            3653,
        }
        if value not in allowed:
            raise ValueError(f"must be one of {sorted(allowed)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WebhookKitConfig:
        names = [source.name for source in self.sources]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"sources: duplicate source name(s) {', '.join(duplicates)}")
        estimate = self.verifier_sources_size_estimate()
        if estimate > VERIFIER_SOURCES_BUDGET:
            raise ValueError(
                f"sources: the verifier's WEBHOOK_SOURCES setting would be about {estimate} bytes; Lambda allows "
                f"4 KB for all environment variables, so keep it under {VERIFIER_SOURCES_BUDGET} (fewer sources, "
                "or shorter generic options)"
            )
        if self.api_throttle_burst < self.api_throttle_rate:
            raise ValueError("api_throttle_burst must be at least api_throttle_rate")
        above_ceiling = [
            f"sources.{source.name}.{field} {value} exceeds {ceiling_field} {ceiling}"
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

    def verifier_sources_size_estimate(self) -> int:
        """Bytes of the verifier's WEBHOOK_SOURCES once deployed, queue URLs and ARNs at their usual length."""
        import json

        placeholder_url = "https://sqs.ap-southeast-2.amazonaws.com/123456789012/" + "Q" * 64
        placeholder_arn = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:" + "S" * 48
        entries = {
            source.name: {
                "scheme": source.scheme,
                "queue_url": placeholder_url,
                "secret_arn": source.secret_arn or placeholder_arn,
                "tolerance_seconds": source.tolerance_seconds,
                "options": source.verifier_options(),
            }
            for source in self.sources
        }
        return len(json.dumps(entries, separators=(",", ":")))

    def source(self, name: str) -> SourceConfig:
        for candidate in self.sources:
            if candidate.name == name:
                return candidate
        raise KeyError(name)


def _format_errors(error: ValidationError) -> str:
    lines = []
    for detail in error.errors():
        location = ".".join(str(part) for part in detail["loc"]) or "(top level)"
        message = detail["msg"].removeprefix("Value error, ")
        lines.append(f"  {location}: {message}")
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
        raise ConfigError(_format_errors(error)) from None


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
