"""Processing: one processor function per source, and the idempotency table they share."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from shared import contract
from stacks.checkov import skip_checks
from stacks.lambda_factory import LambdaFactory

# The processor's Powertools key prefix (lambdas/processor/keys.py; a test keeps the two
# in step): every record id of a source starts with it and "#", which IAM can check.
_IDEMPOTENCY_KEY_PREFIX_BASE = "webhook-kit.processor"


def idempotency_key_prefix(source_name: str) -> str:
    return f"{_IDEMPOTENCY_KEY_PREFIX_BASE}.{source_name}"


class IdempotencyTable(Construct):
    """Records of handled deliveries, expiring by TTL.

    Keyed per source (``webhook-kit.processor.<source>#...``) on the delivery
    id, or on the digest of the signed material where the id is unsigned
    (lambdas/processor/keys.py).
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=contract.IDEMPOTENCY_KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=contract.IDEMPOTENCY_TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal_policy,
        )
        skip_checks(
            self.table,
            {
                "CKV_AWS_119": "Encrypted with the AWS-managed DynamoDB key; records hold only hashed delivery "
                "keys, status and expiry, no webhook content."
            },
        )


class SourceProcessor(Construct):
    """The function that drains one source's queue, with partial batch responses."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        source_name: str,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        table_name: str,
        bucket_name: str,
        idempotency_expiry_seconds: int,
        unhandled_events: str,
        api_version_from: str | None,
        memory_mb: int,
        timeout_seconds: int,
        batch_size: int,
        batching_window_seconds: int,
        max_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.Function = factory.function(
            self,
            "Function",
            handler=contract.PROCESSOR_HANDLER,
            service=contract.PROCESSOR_SERVICE,
            description=f"webhook-kit: processes the webhooks of source '{source_name}' exactly once",
            memory_mb=memory_mb,
            timeout_seconds=timeout_seconds,
            environment=contract.processor_environment(
                source=source_name,
                idempotency_table=table_name,
                idempotency_expiry_seconds=idempotency_expiry_seconds,
                claim_check_bucket=bucket_name,
                dead_letter_queue_url=dead_letter_queue.queue_url,
                unhandled_events=unhandled_events,
                api_version_from=api_version_from,
            ),
        )
        self.function.add_event_source(
            event_sources.SqsEventSource(
                queue,
                batch_size=batch_size,
                max_batching_window=Duration.seconds(batching_window_seconds) if batching_window_seconds else None,
                max_concurrency=max_concurrency,
                # Only the failed records of a batch are retried, not the whole batch.
                report_batch_item_failures=True,
            )
        )
