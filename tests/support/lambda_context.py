"""The one stand-in for Lambda's context object in the tests (the local pipeline keeps its own)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    """The parts of Lambda's context that Powertools reads (logger, metrics, idempotency's in-progress expiry)."""

    function_name: str = "webhook-verifier"
    remaining_millis: int = 30_000
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis
