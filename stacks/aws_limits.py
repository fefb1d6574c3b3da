"""AWS limits the configuration is checked against at synth, each with where it comes from."""

from __future__ import annotations

from shared import contract

LAMBDA_MAX_TIMEOUT = 900
SQS_MAX_VISIBILITY_TIMEOUT = 12 * 3600
# Lambda's SQS event source: batch size above 10 needs a batching window.
SQS_STANDARD_MAX_BATCH = 10_000
# API Gateway REST accepts 10 MB, but it hands the body to Lambda base64-encoded
# inside a synchronous invocation, which Lambda caps at 6 MB: about 4.4 MB of raw body.
MAX_BODY_LIMIT = 4 * 1024 * 1024
# SQS' message size limit counts body and attributes together.
SQS_MAX_MESSAGE_BYTES = 256 * 1024
# API Gateway: resources per REST API, 300 by default (adjustable; API Gateway Developer
# Guide, "Amazon API Gateway quotas"). Each source is one, with / and /webhooks.
API_GATEWAY_MAX_RESOURCES = 300
# The deployment's own template grows about 4.7 KB a source (its nested stack, table
# entry, WAF rules, dashboard lines): 200 sources measured 967 KB of CloudFormation's
# 1 MB (stacks/budgets.py checks the real size at synth). Below API Gateway's 298.
MAX_SOURCES = 200
SQS_MAX_RETENTION_DAYS = 14
DAY_SECONDS = contract.DAY_SECONDS
# The retention values CloudWatch Logs accepts (PutRetentionPolicy, retentionInDays).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
