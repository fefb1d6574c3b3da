"""The whole pattern on one machine, running the real Lambda code (docs/local.md).

What plays which part, one module each:

* ``resources``: AWS (SQS, DynamoDB, S3, Secrets Manager) is moto's server in a
  process of its own, provisioned as the stack would; its state is gone when the pipeline stops.
* ``allowlists``: the allow-list presets' WAF IP sets, on moto's WAFv2, as the front reads them.
* ``environments``: each function's environment, built through ``shared.contract``.
* ``front``: WAF + API Gateway, a threaded HTTP server.
* ``runtime``: Lambda, each function in worker processes of its own, warm between invocations.
* ``poller``: the SQS event source mappings.
* ``events``: what happened to each webhook, for the console and the tests.
* ``pipeline``: ``LocalPipeline``, which composes them.
"""

from __future__ import annotations

from webhook_kit.local.events import PipelineEvent, Reporter
from webhook_kit.local.front import api_gateway_event
from webhook_kit.local.pipeline import (
    DEFAULT_AWS_PORT,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_VISIBILITY_SCALE,
    LocalPipeline,
    VerifierAdaptersWrapper,
)
from webhook_kit.local.poller import lambda_sqs_record
from webhook_kit.local.resources import (
    ACCOUNT_ID,
    BUCKET_NAME,
    REGION,
    TABLE_NAME,
    LocalPipelineError,
    LocalSource,
    aws_environment,
    dead_letter_queue_name,
    local_client,
    queue_name,
    secret_name,
)
from webhook_kit.local.runtime import FakeLambdaContext, InvocationHook, ProcessorCall, WorkerDied

__all__ = [
    "ACCOUNT_ID",
    "BUCKET_NAME",
    "DEFAULT_AWS_PORT",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_VISIBILITY_SCALE",
    "REGION",
    "TABLE_NAME",
    "FakeLambdaContext",
    "InvocationHook",
    "LocalPipeline",
    "LocalPipelineError",
    "LocalSource",
    "PipelineEvent",
    "ProcessorCall",
    "Reporter",
    "VerifierAdaptersWrapper",
    "WorkerDied",
    "api_gateway_event",
    "aws_environment",
    "dead_letter_queue_name",
    "lambda_sqs_record",
    "local_client",
    "queue_name",
    "secret_name",
]
