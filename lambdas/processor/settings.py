"""The processor's settings, read from the environment the stack writes (``shared.contract``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.contract import (
    DEFAULT_IDEMPOTENCY_EXPIRY_SECONDS,
    ENV_API_VERSION_FROM,
    ENV_CLAIM_CHECK_BUCKET,
    ENV_DEAD_LETTER_QUEUE_URL,
    ENV_IDEMPOTENCY_EXPIRY_SECONDS,
    ENV_IDEMPOTENCY_TABLE,
    ENV_SOURCE,
    ENV_UNHANDLED_EVENTS,
    UNHANDLED_ACKNOWLEDGE,
    UNHANDLED_CHOICES,
    UNHANDLED_FAIL,
)
from webhook_verify.api_version import ApiVersionFrom


@dataclass(frozen=True)
class Settings:
    source: str
    idempotency_table: str
    expiry_seconds: int
    claim_check_bucket: str
    dead_letter_queue_url: str
    unhandled_events: str
    # Where this source's deliveries state their API version; None: they state none.
    api_version_from: ApiVersionFrom | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        missing = [name for name in (ENV_IDEMPOTENCY_TABLE, ENV_DEAD_LETTER_QUEUE_URL) if not env.get(name)]
        if missing:
            raise RuntimeError(f"processor misconfigured: environment variable(s) {', '.join(missing)} not set")
        unhandled = env.get(ENV_UNHANDLED_EVENTS, UNHANDLED_ACKNOWLEDGE) or UNHANDLED_ACKNOWLEDGE
        if unhandled not in UNHANDLED_CHOICES:
            raise RuntimeError(f"{ENV_UNHANDLED_EVENTS} must be {UNHANDLED_ACKNOWLEDGE!r} or {UNHANDLED_FAIL!r}")
        try:
            expiry = int(env.get(ENV_IDEMPOTENCY_EXPIRY_SECONDS) or DEFAULT_IDEMPOTENCY_EXPIRY_SECONDS)
        except ValueError as error:
            raise RuntimeError(f"{ENV_IDEMPOTENCY_EXPIRY_SECONDS} must be an integer") from error
        try:
            version_from = ApiVersionFrom.parse(env[ENV_API_VERSION_FROM]) if env.get(ENV_API_VERSION_FROM) else None
        except ValueError as error:
            raise RuntimeError(f"{ENV_API_VERSION_FROM}: {error}") from None
        return cls(
            source=env.get(ENV_SOURCE, ""),
            idempotency_table=env[ENV_IDEMPOTENCY_TABLE],
            expiry_seconds=expiry,
            claim_check_bucket=env.get(ENV_CLAIM_CHECK_BUCKET, ""),
            dead_letter_queue_url=env[ENV_DEAD_LETTER_QUEUE_URL],
            unhandled_events=unhandled,
            api_version_from=version_from,
        )
