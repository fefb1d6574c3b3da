"""One source's resources in a nested stack of their own: what lets a deployment hold 100 sources.

CloudFormation allows 500 resources and 200 outputs a stack. A source needs
about fifteen resources (secret, queue and dead-letter queue with their
policies, processor with role, log group and event source mapping, API path
and methods, dead-letter alarm) and four outputs, so the sources live one per
nested stack and the parent holds one ``AWS::CloudFormation::Stack`` per source
plus what every source shares (API, web ACL, verifier, table, bucket,
monitoring). A source's nested stack keeps its logical id (``Source<Label>``)
while its name stays the same, so adding or removing another source never
moves its queues or secret.

Grants to the verifier sit on the source's own queue and secret, as resource
policies naming the verifier's role: its identity policy then stays the same
size whatever the number of sources (an IAM role's inline policies may total
10,240 characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnOutput, NestedStack, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagSuppressions
from constructs import Construct

from shared import contract
from stacks.arns import arn_region, secret_arn_for_policies
from stacks.claim_check import claim_check_prefix
from stacks.config import SourceConfig, WebhookKitConfig
from stacks.ingress import add_source_methods
from stacks.lambda_factory import LambdaFactory
from stacks.processors import SourceProcessor, idempotency_key_prefix
from stacks.queues import SourceQueues
from stacks.secrets import SourceSecret
from stacks.source_alarms import SourceAlarms
from webhook_verify.handshakes import get_handshake


@dataclass(frozen=True)
class Shared:
    """What every source's stack uses from the parent."""

    config: WebhookKitConfig
    factory: LambdaFactory
    removal_policy: RemovalPolicy
    api: apigw.RestApi
    webhooks: apigw.IResource
    verifier: lambda_.IFunction
    verifier_role: iam.IRole
    table_name: str
    bucket_name: str
    alarm_action: cloudwatch.IAlarmAction


class SourceStack(NestedStack):
    """Everything of one source but its table entry, WAF rules and shared alarms."""

    def __init__(self, scope: Construct, construct_id: str, *, source: SourceConfig, shared: Shared) -> None:
        super().__init__(scope, construct_id, description=f"webhook-kit source '{source.name}'")
        self.nested_stack_resource.override_logical_id(contract.source_stack_logical_id(source.name))  # type: ignore[union-attr]
        config = shared.config
        self.secret = SourceSecret(
            self,
            "Secret",
            source_name=source.name,
            existing_secret_arn=source.secret_arn,
            existing_secret_kms_key_arn=source.secret_kms_key_arn,
            removal_policy=shared.removal_policy,
        )
        self.queues = SourceQueues(
            self,
            "Queues",
            visibility_timeout_seconds=source.visibility_timeout,
            max_receive_count=source.max_receive_count,
            retention_days=config.queue_retention_days,
            dead_letter_retention_days=config.dead_letter_retention_days,
            removal_policy=shared.removal_policy,
        )
        self.processor = SourceProcessor(
            self,
            "Processor",
            factory=shared.factory,
            source_name=source.name,
            queue=self.queues.queue,
            dead_letter_queue=self.queues.dead_letter_queue,
            table_name=shared.table_name,
            bucket_name=shared.bucket_name,
            idempotency_expiry_seconds=config.idempotency_expiry_seconds,
            unhandled_events=config.unhandled_events,
            api_version_from=source.api_version_source,
            memory_mb=source.memory_mb,
            timeout_seconds=source.timeout_seconds,
            batch_size=source.batch_size,
            batching_window_seconds=source.batching_window_seconds,
            max_concurrency=source.max_concurrency,
        )
        self.methods = add_source_methods(
            self,
            source.name,
            methods=source.methods,
            api=shared.api,
            webhooks=shared.webhooks,
            verifier=shared.verifier,
        )
        self._grant_verifier(source, shared)
        self._grant_processor(source, shared)
        self.alarms = SourceAlarms(
            self,
            "Alarms",
            source_name=source.name,
            dead_letter_queue=self.queues.dead_letter_queue,
            action=shared.alarm_action,
            enforce=source.enforce,
        )
        # The URL from the API's id, not the stage's URL: the parent's deployment waits for
        # this stack (its method), so this stack cannot wait for the parent's stage.
        self.webhook_url = (
            f"https://{shared.api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/"
            f"{config.stage_name}/{contract.WEBHOOK_PATH_PREFIX}/{source.name}"
        )
        self._outputs(source.name)

    def _grant_verifier(self, source: SourceConfig, shared: Shared) -> None:
        """The verifier may send to this queue and read this secret: said by the queue and the secret."""
        verifier = iam.ArnPrincipal(shared.verifier_role.role_arn)
        self.queues.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="VerifierSends",
                principals=[verifier],
                actions=["sqs:SendMessage"],
                resources=[self.queues.queue.queue_arn],
            )
        )
        secret = self.secret.secret
        if isinstance(secret, secretsmanager.Secret):
            secret.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="VerifierReads",
                    principals=[verifier],
                    actions=["secretsmanager:GetSecretValue"],
                    resources=["*"],  # in a secret's policy, "*" is this secret
                )
            )
        else:
            # An existing secret's policy is not ours to change: the verifier's role says it.
            self.secret.grant_read(shared.verifier_role)
        if source.handshake and get_handshake(source.handshake).captures_secret:
            self._grant_verifier_capture(source, shared)

    def _grant_verifier_capture(self, source: SourceConfig, shared: Shared) -> None:
        """A source whose handshake captures its secret (Asana, Notion): the verifier may write this secret.

        PutSecretValue only (a new version becomes current), on this source's secret
        alone: not UpdateSecret, not another source's (docs/handshakes.md).
        """
        verifier = iam.ArnPrincipal(shared.verifier_role.role_arn)
        secret = self.secret.secret
        if isinstance(secret, secretsmanager.Secret):
            secret.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="VerifierStoresCapturedSecret",
                    principals=[verifier],
                    actions=["secretsmanager:PutSecretValue"],
                    resources=["*"],  # in a secret's policy, "*" is this secret
                )
            )
            return
        existing = source.secret_arn or ""
        shared.verifier_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:PutSecretValue"], resources=[secret_arn_for_policies(existing)]
            )
        )
        if source.secret_kms_key_arn:
            # Secrets Manager asks KMS for a data key on the caller's behalf, for this secret only.
            shared.verifier_role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey"],
                    resources=[source.secret_kms_key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{arn_region(existing)}.{Aws.URL_SUFFIX}"},
                        "StringLike": {"kms:EncryptionContext:SecretARN": secret_arn_for_policies(existing)},
                    },
                )
            )

    def _grant_processor(self, source: SourceConfig, shared: Shared) -> None:
        """Least privilege: the processor gets exactly the calls its code makes, on this source's data."""
        processor = self.processor.function
        # From the names: each ARN passed down would be one more parameter of this stack.
        bucket = s3.Bucket.from_bucket_name(self, "ClaimCheckBucket", shared.bucket_name)
        table_arn = self.format_arn(service="dynamodb", resource="table", resource_name=shared.table_name)
        own_objects = bucket.arn_for_objects(claim_check_prefix(source.name) + "*")
        # The event source mapping grants the receive/delete calls on its own queue.
        self.queues.dead_letter_queue.grant(processor, "sqs:SendMessage")
        processor.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[table_arn],
                # Each of these calls names one partition key: only this source's records.
                conditions={
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [idempotency_key_prefix(source.name) + "#*"]}
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
        NagSuppressions.add_resource_suppressions(
            processor.role,  # type: ignore[arg-type]
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "Objects under this source's prefix of the claim-check bucket only: the processor "
                    "reads its own source's claim-check objects.",
                    "appliesTo": [
                        {"regex": "/^Resource::.*<.*ClaimCheckBucket[0-9A-F]+(?:Ref)?>/" + source.name + r"/\*$/"}
                    ],
                }
            ],
            apply_to_children=True,
        )

    def output(self, key: str) -> str:
        """One of this stack's outputs, as the parent reads it."""
        resource = self.nested_stack_resource
        assert resource is not None
        return resource.get_att(f"Outputs.{key}").to_string()

    def _outputs(self, name: str) -> None:
        CfnOutput(self, contract.OUTPUT_QUEUE_NAME, value=self.queues.queue.queue_name)
        CfnOutput(self, contract.OUTPUT_DEAD_LETTER_QUEUE_NAME, value=self.queues.dead_letter_queue.queue_name)
        CfnOutput(self, contract.OUTPUT_PROCESSOR_NAME, value=self.processor.function.function_name)
        CfnOutput(
            self,
            contract.OUTPUT_WEBHOOK_URL,
            value=self.webhook_url,
            description=f"Give this URL to '{name}' as the webhook endpoint",
        )
        CfnOutput(
            self,
            contract.OUTPUT_SECRET_ARN,
            value=self.secret.secret.secret_arn,
            description=f"Secrets Manager secret holding '{name}' signing secrets",
        )
        CfnOutput(
            self,
            contract.OUTPUT_QUEUE_URL,
            value=self.queues.queue.queue_url,
            description=f"Queue of verified '{name}' webhooks",
        )
        CfnOutput(
            self,
            contract.OUTPUT_DEAD_LETTER_QUEUE_URL,
            value=self.queues.dead_letter_queue.queue_url,
            description=f"Dead letters of '{name}': redrive with `python -m webhook_kit redrive {name}`",
        )
