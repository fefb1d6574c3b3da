"""The verifier's configuration, read from the environment (docs/runtime-contract.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shared.contract import (
    DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_SECRETS_GRACE_SECONDS,
    DEFAULT_SECRETS_MAX_AGE_SECONDS,
    DEFAULT_TOLERANCE_SECONDS,
    ENV_CLAIM_CHECK_BUCKET,
    ENV_CLAIM_CHECK_THRESHOLD_BYTES,
    ENV_MAX_BODY_BYTES,
    ENV_SECRETS_GRACE_SECONDS,
    ENV_SECRETS_MAX_AGE_SECONDS,
    ENV_SOURCES,
    ENV_SOURCES_DIGEST,
    ENV_SOURCES_PARAMETERS,
    MIN_SECRETS_MAX_AGE_SECONDS,
)
from webhook_verify.handshakes import HANDSHAKES, Answer
from webhook_verify.schemes import SCHEMES, SchemeConfigError


class ConfigError(ValueError):
    """The environment does not describe a working verifier (a deployment bug)."""


# Reads SSM parameters by name: name -> value (verifier.adapters.read_ssm_parameters).
ParameterReader = Callable[[Sequence[str]], Mapping[str, str]]


@dataclass(frozen=True)
class SourceConfig:
    name: str
    scheme: str
    queue_url: str
    secret_arn: str
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    options: Mapping[str, Any] = field(default_factory=dict)
    # The handshake this source answers (webhook_verify.handshakes), if any.
    handshake: str | None = None
    # False: a request that does not verify is still queued, marked unverified, and
    # counted (onboarding a provider, debugging a secret); never the default.
    enforce: bool = True
    # The answer the provider expects to an accepted webhook, when not 202 JSON.
    acknowledgement: Answer | None = None


@dataclass(frozen=True)
class VerifierConfig:
    sources: Mapping[str, SourceConfig]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    claim_check_bucket: str = ""
    claim_check_threshold_bytes: int = DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES
    secrets_max_age_seconds: int = DEFAULT_SECRETS_MAX_AGE_SECONDS
    secrets_grace_seconds: int = DEFAULT_SECRETS_GRACE_SECONDS
    # False when the parameters held an older table than the function was configured
    # with (CloudFormation updated the function first): the handler reads them again.
    sources_current: bool = True


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def public_url_problem(url: Any) -> str | None:
    """Why ``url`` cannot be the URL a provider signs, or None.

    The query string is read from each request (API Gateway passes it on), so
    one in the configured URL would be signed twice; a fragment is never sent.
    """
    if not isinstance(url, str):
        return "must be a string"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return "is not a URL with a valid host and port"
    if parts.scheme not in ("http", "https"):
        return "must be an http(s) URL"
    if not parts.hostname:
        return "must name a host"
    if "?" in url:
        return "must not have a query string: the query is taken from each request"
    if "#" in url:
        return "must not have a fragment"
    return None


def _source(name: str, spec: Any) -> SourceConfig:
    where = f"{ENV_SOURCES}[{name!r}]"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be an object")
    scheme = spec.get("scheme")
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ConfigError(f"{where}.scheme must be one of {sorted(SCHEMES)}, got {scheme!r}")
    for key in ("queue_url", "secret_arn"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise ConfigError(f"{where}.{key} is required")
    tolerance = spec.get("tolerance_seconds", DEFAULT_TOLERANCE_SECONDS)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ConfigError(f"{where}.tolerance_seconds must be a non-negative integer")
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(f"{where}.options must be an object")
    if SCHEMES[scheme].needs_public_url:
        if not options.get("public_url"):
            raise ConfigError(f"{where}.options.public_url is required for {scheme}: it is what the provider signs")
        problem = public_url_problem(options["public_url"])
        if problem:
            raise ConfigError(f"{where}.options.public_url {problem}")
    try:
        SCHEMES[scheme].validate_options(options)
    except SchemeConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    handshake = spec.get("handshake", SCHEMES[scheme].default_handshake)
    if handshake is not None and handshake not in HANDSHAKES:
        raise ConfigError(f"{where}.handshake must be one of {sorted(HANDSHAKES)}, got {handshake!r}")
    enforce = spec.get("enforce", True)
    if not isinstance(enforce, bool):
        raise ConfigError(f"{where}.enforce must be true or false")
    return SourceConfig(
        name=name,
        scheme=scheme,
        queue_url=spec["queue_url"],
        secret_arn=spec["secret_arn"],
        tolerance_seconds=tolerance,
        options=options,
        handshake=handshake,
        enforce=enforce,
        acknowledgement=parse_acknowledgement(where, spec.get("acknowledgement")),
    )


def parse_acknowledgement(where: str, spec: Any) -> Answer | None:
    """A provider's expected answer to an accepted webhook (``Answer.acknowledgement``), or None."""
    if spec is None:
        return None
    try:
        return Answer.acknowledgement(spec)
    except ValueError as error:
        raise ConfigError(f"{where}.acknowledgement {error}") from None


def _table_from_parameters(env: Mapping[str, str], read: ParameterReader) -> tuple[dict[str, Any], bool]:
    """The source table kept in SSM parameters, and whether it is the one this function was configured with."""
    names = [name for name in env[ENV_SOURCES_PARAMETERS].split(",") if name]
    values = read(names)
    table: dict[str, Any] = {}
    digests = set()
    for name in names:
        where = f"{ENV_SOURCES_PARAMETERS}: parameter {name}"
        if name not in values:
            raise ConfigError(f"{where} does not exist")
        try:
            chunk = json.loads(values[name])
        except json.JSONDecodeError as error:
            raise ConfigError(f"{where} is not JSON: {error}") from None
        if not isinstance(chunk, dict) or not isinstance(chunk.get("sources"), dict):
            raise ConfigError(f'{where} must be a JSON object {{"digest": ..., "sources": {{...}}}}')
        overlap = sorted(set(table) & set(chunk["sources"]))
        if overlap:
            raise ConfigError(f"{where} repeats source(s) {', '.join(overlap)}")
        table.update(chunk["sources"])
        digests.add(chunk.get("digest"))
    return table, digests == {env.get(ENV_SOURCES_DIGEST)}


def _table(env: Mapping[str, str], read: ParameterReader | None) -> tuple[dict[str, Any], bool]:
    if env.get(ENV_SOURCES_PARAMETERS):
        if read is None:
            raise ConfigError(f"{ENV_SOURCES_PARAMETERS} is set but nothing was given to read SSM parameters")
        return _table_from_parameters(env, read)
    try:
        raw_sources = json.loads(env.get(ENV_SOURCES) or "{}")
    except json.JSONDecodeError as error:
        raise ConfigError(f"{ENV_SOURCES} is not JSON: {error}") from None
    if not isinstance(raw_sources, dict):
        raise ConfigError(f"{ENV_SOURCES} must be a JSON object of source name -> settings")
    return raw_sources, True


def load_config(
    env: Mapping[str, str] | None = None, *, read_parameters: ParameterReader | None = None
) -> VerifierConfig:
    """Parse and validate the verifier's environment; ConfigError names the bad variable.

    The source table is ``WEBHOOK_SOURCES`` (JSON) or, in a deployment, the SSM
    parameters named by ``WEBHOOK_SOURCES_PARAMETERS``, read with ``read_parameters``.
    """
    env = os.environ if env is None else env
    raw_sources, current = _table(env, read_parameters)
    sources = {name: _source(name, spec) for name, spec in raw_sources.items()}
    threshold = _int(env, ENV_CLAIM_CHECK_THRESHOLD_BYTES, DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES)
    max_body = _int(env, ENV_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES)
    bucket = env.get(ENV_CLAIM_CHECK_BUCKET, "")
    if max_body > threshold and not bucket:
        raise ConfigError(
            f"{ENV_CLAIM_CHECK_BUCKET} is required when {ENV_MAX_BODY_BYTES} exceeds {ENV_CLAIM_CHECK_THRESHOLD_BYTES}"
        )
    max_age = _int(env, ENV_SECRETS_MAX_AGE_SECONDS, DEFAULT_SECRETS_MAX_AGE_SECONDS)
    if max_age < MIN_SECRETS_MAX_AGE_SECONDS:
        raise ConfigError(
            f"{ENV_SECRETS_MAX_AGE_SECONDS} must be at least {MIN_SECRETS_MAX_AGE_SECONDS} (got {max_age}): below "
            "that nearly every webhook would call Secrets Manager"
        )
    return VerifierConfig(
        sources=sources,
        max_body_bytes=max_body,
        claim_check_bucket=bucket,
        claim_check_threshold_bytes=threshold,
        secrets_max_age_seconds=max_age,
        secrets_grace_seconds=_int(env, ENV_SECRETS_GRACE_SECONDS, DEFAULT_SECRETS_GRACE_SECONDS),
        sources_current=current,
    )
