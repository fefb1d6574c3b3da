"""The processor's settings, read from the environment the stack writes (docs/runtime-contract.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# As long as a copy can wait in the queue and then the DLQ (14 + 14 days, a
# fresh clock for each SendMessage): stacks/config.py enforces the same rule.
DEFAULT_EXPIRY_SECONDS = 30 * 24 * 60 * 60
UNHANDLED_ACKNOWLEDGE = "acknowledge"
UNHANDLED_FAIL = "fail"


@dataclass(frozen=True)
class Settings:
    source: str
    idempotency_table: str
    expiry_seconds: int
    claim_check_bucket: str
    dead_letter_queue_url: str
    unhandled_events: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        missing = [name for name in ("IDEMPOTENCY_TABLE", "DEAD_LETTER_QUEUE_URL") if not env.get(name)]
        if missing:
            raise RuntimeError(f"processor misconfigured: environment variable(s) {', '.join(missing)} not set")
        unhandled = env.get("UNHANDLED_EVENTS", UNHANDLED_ACKNOWLEDGE) or UNHANDLED_ACKNOWLEDGE
        if unhandled not in (UNHANDLED_ACKNOWLEDGE, UNHANDLED_FAIL):
            raise RuntimeError(f"UNHANDLED_EVENTS must be {UNHANDLED_ACKNOWLEDGE!r} or {UNHANDLED_FAIL!r}")
        try:
            expiry = int(env.get("IDEMPOTENCY_EXPIRY_SECONDS") or DEFAULT_EXPIRY_SECONDS)
        except ValueError as error:
            raise RuntimeError("IDEMPOTENCY_EXPIRY_SECONDS must be an integer") from error
        return cls(
            source=env.get("WEBHOOK_SOURCE", ""),
            idempotency_table=env["IDEMPOTENCY_TABLE"],
            expiry_seconds=expiry,
            claim_check_bucket=env.get("CLAIM_CHECK_BUCKET", ""),
            dead_letter_queue_url=env["DEAD_LETTER_QUEUE_URL"],
            unhandled_events=unhandled,
        )
