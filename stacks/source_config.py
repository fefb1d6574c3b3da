"""One webhook sender as the configuration declares it: its path, scheme, secret and processing."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import contract
from shared.allowlists import PRESETS, get_preset, load_snapshot, sort_ranges
from stacks.arns import ARN_KMS_KEY, ARN_SECRET, arn_region
from stacks.aws_limits import LAMBDA_MAX_TIMEOUT, SQS_MAX_VISIBILITY_TIMEOUT, SQS_STANDARD_MAX_BATCH
from webhook_verify.api_version import ApiVersionFrom
from webhook_verify.handshakes import get_handshake
from webhook_verify.providers import PROVIDERS, get_provider
from webhook_verify.schemes import SCHEMES, SchemeConfigError

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
    "shared-token",
    "discord",
    "telnyx",
    "sendgrid",
    "aws-sns",
    "paypal",
    "hubspot",
    "box",
    "workos",
    "adyen",
    "mailgun",
    "twitch",
    "easypost",
    "cloudinary",
    "mux",
    "buildkite",
]


SOURCE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")


class StrictModel(BaseModel):
    # Unknown keys are mistakes (a typo would otherwise silently keep a default).
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenericHmacOptions(StrictModel):
    """How a generic HMAC sender signs, for sources with ``scheme = "generic-hmac"``.

    The defaults and their meaning: docs/signatures.md, "generic-hmac options".
    """

    signature_header: str = Field(min_length=1)
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    # None: the header holds one signature; else a list of them, split on this.
    signature_separator: str | None = None
    timestamp_header: str | None = None
    timestamp_field: str | None = Field(default=None, min_length=1)
    timestamp_unit: Literal["seconds", "milliseconds"] | None = None
    # None: the scheme's default, "{body}", or "{timestamp}.{body}" with a timestamp_header.
    signed_template: str | None = None
    delivery_id_header: str | None = None
    delivery_id_field: str | None = None
    event_type_header: str | None = None
    event_type_field: str | None = None

    @model_validator(mode="after")
    def _workable(self) -> GenericHmacOptions:
        # The verifier runs the same check at cold start: one rule, in the scheme.
        try:
            SCHEMES["generic-hmac"].validate_options(self.model_dump(exclude_none=True))
        except SchemeConfigError as error:
            raise ValueError(str(error).replace("options.", "")) from None
        return self


# The schemes whose sources choose HMAC (whsec_) or Ed25519 (whpk_, v1a) keys.
ED25519_SCHEMES = ("standard-webhooks", "svix")


class SourceConfig(StrictModel):
    """One webhook sender: its URL segment, how it signs, and how its queue is drained."""

    name: str = Field(description="URL path segment: POST /webhooks/{name}")
    # A provider of the catalogue (webhook_verify/providers) sets the scheme and its options;
    # `scheme` alone (with `generic` for generic-hmac) is for anything not in it.
    provider: str | None = None
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
    tolerance_seconds: int = Field(default=contract.DEFAULT_TOLERANCE_SECONDS, ge=1, le=3600)
    allowed_cidrs: tuple[str, ...] = ()
    # Presets of shared/allowlists: the provider's published ranges, kept current by the
    # allow-list sync (docs/security.md, "Allow-lists"); together with allowed_cidrs, either allows.
    allowed_presets: tuple[str, ...] = ()
    public_url: str | None = Field(default=None, description="The URL the provider signs (Twilio, Square).")
    api_version_from: str | None = Field(
        default=None,
        description="Where each delivery states the provider's API version, 'body:<dotted JSON path>' or "
        "'header:<name>', for handlers routed by version (router.on(..., api_version=...)); a provider of the "
        "catalogue that states one sets it (Stripe, Shopify, Twitch).",
    )
    generic: GenericHmacOptions | None = None
    ed25519: bool = Field(
        default=False,
        description="standard-webhooks / svix (and providers signing with them): the secret is an Ed25519 key "
        "(whpk_) and deliveries are signed v1a; the verifier then gets the cryptography layer.",
    )
    enforce: bool = Field(
        default=True,
        description="false: a request that fails verification is still queued (marked unverified) and counted, "
        "and the source's enforcement alarm fires. For onboarding a provider or debugging a secret only.",
    )
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

    @model_validator(mode="before")
    @classmethod
    def _from_provider(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("provider") is None:
            return data
        name = data["provider"]
        if not isinstance(name, str) or name not in PROVIDERS:
            try:
                get_provider(str(name))
            except KeyError as error:
                raise ValueError(f"provider: {error.args[0]}") from None
        provider = PROVIDERS[name]
        if data.get("scheme") not in (None, provider.scheme):
            raise ValueError(
                f"scheme {data['scheme']!r} contradicts provider {name!r}, which signs with {provider.scheme!r}: "
                "leave scheme out"
            )
        if data.get("generic") is not None:
            raise ValueError(f"provider {name!r} sets the scheme's options: leave the [sources.generic] table out")
        return {**data, "scheme": provider.scheme}

    @field_validator("api_version_from")
    @classmethod
    def _api_version_from(cls, value: str | None) -> str | None:
        if value is not None:
            ApiVersionFrom.parse(value)  # its ValueError says what is expected
        return value

    @property
    def api_version_source(self) -> str | None:
        """Where deliveries state their API version: this source's setting, else its provider's entry.

        A source that names a scheme made for one provider (``scheme = "stripe"``)
        has that provider's entry, as if it named the provider.
        """
        if self.api_version_from is not None:
            return self.api_version_from
        entry = PROVIDERS.get(self.provider or self.scheme)
        if entry is None or entry.scheme != self.scheme or entry.api_version_from is None:
            return None
        return str(entry.api_version_from)

    @field_validator("name")
    @classmethod
    def _path_safe(cls, value: str) -> str:
        if not SOURCE_NAME.fullmatch(value):
            raise ValueError(
                "must be 1-32 characters of lower-case letters, digits and inner hyphens (it is a URL path segment)"
            )
        return value

    @field_validator("secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        if value is not None and not ARN_SECRET.fullmatch(value):
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
        if value is not None and not ARN_KMS_KEY.fullmatch(value):
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

    @field_validator("allowed_presets")
    @classmethod
    def _presets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in PRESETS:
                try:
                    get_preset(name)
                except KeyError as error:
                    raise ValueError(error.args[0]) from None
        if len(set(value)) != len(value):
            raise ValueError("names a preset twice")
        return value

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
        if SCHEMES[self.scheme].needs_public_url and not self.public_url:
            raise ValueError(f"public_url is required for scheme {self.scheme!r}: the provider signs the URL it calls")
        if self.public_url is not None and not re.match(r"^https?://", self.public_url):
            raise ValueError("public_url must be an http(s) URL")
        if self.public_url is not None and ("?" in self.public_url or "#" in self.public_url):
            # The verifier checks the same rule (verifier.config.public_url_problem).
            raise ValueError(
                "public_url must not have a query string or fragment: the query is taken from each request"
            )
        if self.ed25519 and self.scheme not in ED25519_SCHEMES:
            raise ValueError(
                f"ed25519 = true is for schemes {' and '.join(ED25519_SCHEMES)} (v1a signatures), not {self.scheme!r}: "
                "leave it out"
            )
        if self.scheme == "shared-token" and self.provider is None:
            raise ValueError(
                "scheme 'shared-token' is only for providers of the catalogue (provider = \"okta\", ...): a "
                "token sent as it is authenticates any body, so its options come with a provider's entry"
            )
        if (self.scheme == "generic-hmac" and self.provider is None) != (self.generic is not None):
            raise ValueError(
                "a [sources.generic] table is required for, and only for, scheme 'generic-hmac' without a provider"
            )
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
    def allow_listed(self) -> bool:
        """Whether the WAF lets only some addresses call this source."""
        return bool(self.allowed_cidrs or self.allowed_presets)

    @property
    def snapshot_ranges(self) -> tuple[str, ...]:
        """Every address this source allows at synth: its CIDRs and its presets' shipped snapshots."""
        return sort_ranges(
            [*self.allowed_cidrs, *(c for name in self.allowed_presets for c in load_snapshot(name).ranges)]
        )

    @property
    def minimum_visibility_timeout(self) -> int:
        # AWS: at least six times the function timeout, plus the batching window,
        # so a batch that is retried inside the function is not redelivered meanwhile.
        return 6 * self.timeout_seconds + self.batching_window_seconds

    @property
    def visibility_timeout(self) -> int:
        return self.visibility_timeout_seconds or self.minimum_visibility_timeout

    @property
    def handshake(self) -> str | None:
        """The handshake the verifier answers for this source: its provider's, else its scheme's."""
        if self.provider:
            return PROVIDERS[self.provider].answered_handshake
        return SCHEMES[self.scheme].default_handshake

    @property
    def methods(self) -> tuple[str, ...]:
        """The HTTP methods the API exposes for this source: POST, and its handshake's GET or HEAD."""
        extra = get_handshake(self.handshake).methods if self.handshake else frozenset()
        return ("POST", *sorted(extra))

    def verifier_behaviour(self) -> dict[str, Any]:
        """What the verifier does besides verifying, where it differs from the default (contract.source_route)."""
        behaviour: dict[str, Any] = {}
        if self.handshake != SCHEMES[self.scheme].default_handshake:
            behaviour["handshake"] = self.handshake
        if not self.enforce:
            behaviour["enforce"] = False
        answer = PROVIDERS[self.provider].answer if self.provider else None
        if answer is not None:
            behaviour["acknowledgement"] = dict(answer)
        return behaviour

    def verifier_options(self) -> dict[str, Any]:
        """The scheme options the verifier receives at run time: the provider's, then the source's own."""
        options: dict[str, Any] = dict(PROVIDERS[self.provider].options) if self.provider else {}
        if self.public_url:
            options["public_url"] = self.public_url
        if self.generic is not None:
            options.update(self.generic.model_dump(exclude_none=True))
        if self.ed25519:
            options["ed25519"] = True
        return options
