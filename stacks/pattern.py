"""``WebhookIngestion``: the whole pattern as one reusable construct."""

from __future__ import annotations

import re

from aws_cdk import Names, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

from shared import contract
from stacks.claim_check import ClaimCheckBucket, claim_check_prefix
from stacks.config import WebhookKitConfig
from stacks.firewall import FirewallSource, WebhookFirewall
from stacks.ingress import ApiSource, WebhookApi
from stacks.lambda_factory import LambdaFactory, retention
from stacks.monitoring import MonitoredSource, Monitoring
from stacks.processors import IdempotencyTable, SourceProcessor, idempotency_key_prefix
from stacks.queues import SourceQueues
from stacks.secrets import SourceSecret


class WebhookIngestion(Construct):
    """Receive webhooks: WAF → API Gateway → verifier → SQS per source → processor per source.

    Put it in any CDK app: ``WebhookIngestion(self, "Webhooks", config=load_config("webhook-kit.toml"))``.
    The created resources are public attributes, for grants and outputs.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: WebhookKitConfig) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        factory = LambdaFactory(
            self,
            "Functions",
            log_retention_days=config.log_retention_days,
            removal_policy=removal,
        )
        self.claim_check = ClaimCheckBucket(
            self, "ClaimCheck", expiry_days=config.claim_check_expiry_days, retain=config.retain_data
        )
        self.idempotency = IdempotencyTable(self, "Idempotency", removal_policy=removal)

        self.secrets: dict[str, SourceSecret] = {}
        self.queues: dict[str, SourceQueues] = {}
        for source in config.sources:
            self.secrets[source.name] = SourceSecret(
                self,
                f"Secret-{source.name}",
                source_name=source.name,
                existing_secret_arn=source.secret_arn,
                existing_secret_kms_key_arn=source.secret_kms_key_arn,
                removal_policy=removal,
            )
            self.queues[source.name] = SourceQueues(
                self,
                f"Queues-{source.name}",
                visibility_timeout_seconds=source.visibility_timeout,
                max_receive_count=source.max_receive_count,
                retention_days=config.queue_retention_days,
                dead_letter_retention_days=config.dead_letter_retention_days,
                removal_policy=removal,
            )

        stack = Stack.of(self)
        self.verifier = factory.function(
            self,
            "Verifier",
            handler=contract.VERIFIER_HANDLER,
            service=contract.VERIFIER_SERVICE,
            description="webhook-kit: verifies webhook signatures and queues them durably",
            memory_mb=config.verifier_memory_mb,
            timeout_seconds=config.verifier_timeout_seconds,
            environment=contract.verifier_environment(
                sources_json=stack.to_json_string(
                    {
                        source.name: contract.source_route(
                            scheme=source.scheme,
                            queue_url=self.queues[source.name].queue.queue_url,
                            secret_arn=self.secrets[source.name].secret.secret_arn,
                            tolerance_seconds=source.tolerance_seconds,
                            options=source.verifier_options(),
                        )
                        for source in config.sources
                    }
                ),
                max_body_bytes=config.max_body_bytes,
                claim_check_bucket=self.claim_check.bucket.bucket_name,
                claim_check_threshold_bytes=config.claim_check_threshold_bytes,
                secrets_max_age_seconds=config.secrets_max_age_seconds,
                tracer=config.verifier_tracer,
            ),
        )

        self.processors: dict[str, SourceProcessor] = {}
        for source in config.sources:
            queues = self.queues[source.name]
            self.processors[source.name] = SourceProcessor(
                self,
                f"Processor-{source.name}",
                factory=factory,
                source_name=source.name,
                queue=queues.queue,
                dead_letter_queue=queues.dead_letter_queue,
                table_name=self.idempotency.table.table_name,
                bucket_name=self.claim_check.bucket.bucket_name,
                idempotency_expiry_seconds=config.idempotency_expiry_seconds,
                unhandled_events=config.unhandled_events,
                memory_mb=source.memory_mb,
                timeout_seconds=source.timeout_seconds,
                batch_size=source.batch_size,
                batching_window_seconds=source.batching_window_seconds,
                max_concurrency=source.max_concurrency,
            )

        # CloudWatch keys the API's metrics on its name and the web ACL's on its metric
        # name, not on a resource id: both get a name of this deployment (stack and
        # construct path), so two deployments in one account and Region never share
        # (and sum) one series. A name change updates either resource in place.
        deployment_name = Names.unique_resource_name(
            self, max_length=128, separator="-", allowed_special_characters="-_"
        )
        self.api = WebhookApi(
            self,
            "Ingress",
            api_name=deployment_name,
            create_cloudwatch_role=config.api_gateway_cloudwatch_role == "create",
            sources=[ApiSource(source.name, source.throttle_rate, source.throttle_burst) for source in config.sources],
            verifier=self.verifier,
            stage_name=config.stage_name,
            throttle_rate=config.api_throttle_rate,
            throttle_burst=config.api_throttle_burst,
            log_retention=retention(config.log_retention_days),
            removal_policy=removal,
        )
        self.firewall = WebhookFirewall(
            self,
            "Firewall",
            sources=[FirewallSource(source.name, source.allowed_cidrs) for source in config.sources],
            metric_name=deployment_name,
            stage_arn=self.api.api.deployment_stage.stage_arn,
            rate_limit=config.waf_rate_limit,
            max_body_bytes=config.max_body_bytes,
            body_inspection_kb=config.waf_body_inspection_kb,
        )
        self._grant(config)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            sources=[
                MonitoredSource(
                    name=source.name,
                    queue=self.queues[source.name].queue,
                    dead_letter_queue=self.queues[source.name].dead_letter_queue,
                    processor=self.processors[source.name].function,
                )
                for source in config.sources
            ],
            verifier=self.verifier,
            api=self.api.api,
            web_acl_metric_name=self.firewall.metric_name,
            alarm_email=config.alarm_email,
            oldest_message_alarm_seconds=config.oldest_message_alarm_seconds,
            rejection_rate_percent=config.rejection_rate_alarm_percent,
            waf_blocked_threshold=config.waf_blocked_alarm_threshold,
            removal_policy=removal,
        )

    def _grant(self, config: WebhookKitConfig) -> None:
        """Least privilege: each function gets exactly the calls its code makes, on its own source's data."""
        bucket = self.claim_check.bucket
        table = self.idempotency.table
        verifier_role = self.verifier.role
        assert verifier_role is not None  # the factory always gives a role
        for source in config.sources:
            queues = self.queues[source.name]
            queues.queue.grant(self.verifier, "sqs:SendMessage")
            self.secrets[source.name].grant_read(self.verifier)
            own_objects = bucket.arn_for_objects(claim_check_prefix(source.name) + "*")
            verifier_role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:PutObject"], resources=[own_objects])
            )

            processor = self.processors[source.name].function
            # The event source mapping grants the receive/delete calls on its own queue.
            queues.dead_letter_queue.grant(processor, "sqs:SendMessage")
            processor.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                    resources=[table.table_arn],
                    # Each of these calls names one partition key: only this source's records.
                    conditions={
                        "ForAllValues:StringLike": {
                            "dynamodb:LeadingKeys": [idempotency_key_prefix(source.name) + "#*"]
                        }
                    },
                )
            )
            processor.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[own_objects]))
            # Without ListBucket S3 answers a missing object with 403, which the
            # processor must treat as retryable; with it, 404 (a permanent failure).
            # No s3:prefix condition: a GetObject carries no prefix, so S3 would
            # judge the 404 without it and answer 403 again. Listing reveals only
            # key names (hashes), never a body.
            processor.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
            _allow_objects_under(processor.role, [source.name], "read its own source's claim-check objects")
        _allow_objects_under(
            verifier_role,
            [source.name for source in config.sources],
            "write each source's claim-check objects under that source's prefix, at keys derived from the delivery",
        )


def _allow_objects_under(role: iam.IRole | None, source_names: list[str], why: str) -> None:
    if role is None:
        return
    prefixes = "|".join(re.escape(claim_check_prefix(name)) for name in source_names)
    NagSuppressions.add_resource_suppressions(
        role,
        [
            {
                "id": "AwsSolutions-IAM5",
                "reason": f"Objects under one source's prefix of the claim-check bucket only: the function must {why}.",
                "appliesTo": [{"regex": f"/^Resource::<.*ClaimCheckBucket[0-9A-F]+\\.Arn>/(?:{prefixes})\\*$/"}],
            }
        ],
        apply_to_children=True,
    )
