"""The deployable stack: the pattern, its outputs and its tags; nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from stacks.config import WebhookKitConfig
from stacks.pattern import WebhookIngestion


class WebhookKitStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: WebhookKitConfig, **kwargs: Any) -> None:
        super().__init__(
            scope, construct_id, description="webhook-kit: verified, buffered, exactly-once webhooks", **kwargs
        )
        self.ingestion = WebhookIngestion(self, "Webhooks", config=config)
        for key, value in config.tags.items():
            Tags.of(self).add(key, value)
        self._outputs(config)

    def _outputs(self, config: WebhookKitConfig) -> None:
        """The deployment's outputs; each source's (URL, secret, queues) are its nested stack's outputs."""
        ingestion = self.ingestion
        CfnOutput(
            self,
            "IdempotencyTableName",
            value=ingestion.idempotency.table.table_name,
            description="DynamoDB table of handled delivery ids",
        )
        CfnOutput(
            self,
            "ClaimCheckBucketName",
            value=ingestion.claim_check.bucket.bucket_name,
            description="S3 bucket of bodies too large for SQS",
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=ingestion.monitoring.topic.topic_arn,
            description="SNS topic every alarm notifies",
        )
        CfnOutput(
            self,
            "DashboardName",
            value=ingestion.monitoring.dashboard.dashboard_name,
            description="CloudWatch dashboard of the pipeline",
        )
