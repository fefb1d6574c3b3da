"""``WebhookIngestion``: the whole pattern as one reusable construct."""

from __future__ import annotations

from aws_cdk import Names, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from cdk_nag import NagSuppressions
from constructs import Construct

from shared import contract
from stacks.allowlist_sync import AllowlistSync
from stacks.claim_check import ClaimCheckBucket
from stacks.config import WebhookKitConfig
from stacks.crypto_layer import CryptographyLayer, sources_needing_cryptography
from stacks.firewall import FirewallSource, WebhookFirewall
from stacks.ingress import ApiSource, WebhookApi
from stacks.lambda_factory import LambdaFactory, retention
from stacks.monitoring import MonitoredSource, Monitoring
from stacks.processors import IdempotencyTable
from stacks.source_stack import Shared, SourceStack
from stacks.source_table import SourceTableParameters


class WebhookIngestion(Construct):
    """Receive webhooks: WAF → API Gateway → verifier → SQS per source → processor per source.

    Put it in any CDK app: ``WebhookIngestion(self, "Webhooks", config=load_config("webhook-kit.toml"))``.
    The created resources are public attributes, for grants and outputs; each
    source's are in its nested stack, ``sources[name]`` (stacks/source_stack.py).
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

        stack = Stack.of(self)
        table_parameters = SourceTableParameters(config, stack.stack_name)
        self.verifier = factory.function(
            self,
            "Verifier",
            handler=contract.VERIFIER_HANDLER,
            service=contract.VERIFIER_SERVICE,
            description="webhook-kit: verifies webhook signatures and queues them durably",
            memory_mb=config.verifier_memory_mb,
            timeout_seconds=config.verifier_timeout_seconds,
            environment=contract.verifier_environment(
                table=contract.table_in_parameters(table_parameters.names, table_parameters.digest),
                max_body_bytes=config.max_body_bytes,
                claim_check_bucket=self.claim_check.bucket.bucket_name,
                claim_check_threshold_bytes=config.claim_check_threshold_bytes,
                secrets_max_age_seconds=config.secrets_max_age_seconds,
                tracer=config.verifier_tracer,
            ),
        )
        verifier_role = self.verifier.role
        assert verifier_role is not None  # the factory always gives a role
        # Only a deployment with a public-key source carries cryptography (and builds its layer):
        # HMAC sources never import it, so their verifier stays as small and as fast to start.
        self.cryptography: CryptographyLayer | None = None
        needed_by = sources_needing_cryptography(config.sources)
        if needed_by:
            self.cryptography = CryptographyLayer(self, "Cryptography", needed_by=needed_by)
            self.verifier.add_layers(self.cryptography.layer)

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
            sources=[
                ApiSource(source.name, source.throttle_rate, source.throttle_burst, source.methods)
                for source in config.sources
            ],
            verifier=self.verifier,
            stage_name=config.stage_name,
            throttle_rate=config.api_throttle_rate,
            throttle_burst=config.api_throttle_burst,
            log_retention=retention(config.log_retention_days),
            removal_policy=removal,
        )
        self.monitoring = Monitoring(self, "Monitoring", alarm_email=config.alarm_email, removal_policy=removal)

        shared = Shared(
            config=config,
            factory=factory,
            removal_policy=removal,
            api=self.api.api,
            webhooks=self.api.webhooks,
            verifier=self.verifier,
            verifier_role=verifier_role,
            table_name=self.idempotency.table.table_name,
            bucket_name=self.claim_check.bucket.bucket_name,
            alarm_action=self.monitoring.action,
        )
        self.sources: dict[str, SourceStack] = {}
        for source in config.sources:
            self.sources[source.name] = SourceStack(self, f"Source-{source.name}", source=source, shared=shared)
            self.api.wait_for(self.sources[source.name])
        table_parameters.create(self, self.sources)
        self._grant_verifier(table_parameters)

        self.firewall = WebhookFirewall(
            self,
            "Firewall",
            sources=[
                FirewallSource(source.name, source.allowed_cidrs, source.allowed_presets) for source in config.sources
            ],
            metric_name=deployment_name,
            stage_arn=self.api.api.deployment_stage.stage_arn,
            rate_limit=config.waf_rate_limit,
            max_body_bytes=config.max_body_bytes,
            body_inspection_kb=config.waf_body_inspection_kb,
            max_wcu=config.waf_max_wcu,
            max_ip_sets=config.waf_max_ip_sets,
        )
        self.monitoring.watch(
            sources=[
                MonitoredSource(
                    name=name,
                    queue_name=stack.output(contract.OUTPUT_QUEUE_NAME),
                    dead_letter_queue_name=stack.output(contract.OUTPUT_DEAD_LETTER_QUEUE_NAME),
                    processor_name=stack.output(contract.OUTPUT_PROCESSOR_NAME),
                )
                for name, stack in self.sources.items()
            ],
            verifier=self.verifier,
            api=self.api.api,
            web_acl_metric_name=self.firewall.metric_name,
            oldest_message_alarm_seconds=config.oldest_message_alarm_seconds,
            rejection_rate_percent=config.rejection_rate_alarm_percent,
            waf_blocked_threshold=config.waf_blocked_alarm_threshold,
        )
        # Only a deployment whose sources name a preset has sets to keep current.
        self.allowlist_sync: AllowlistSync | None = None
        if self.firewall.preset_ip_sets:
            self.allowlist_sync = AllowlistSync(
                self,
                "AllowlistSync",
                factory=factory,
                ip_sets=self.firewall.preset_ip_sets,
                monitoring=self.monitoring,
                sync_hours=config.allowlist_sync_hours,
                max_change_percent=config.allowlist_max_change_percent,
            )

    def _grant_verifier(self, table_parameters: SourceTableParameters) -> None:
        """The verifier's own policy: the same size for 3 sources or 100 (queues and secrets grant it themselves)."""
        verifier_role = self.verifier.role
        assert verifier_role is not None
        # The bucket holds nothing but claim checks, every source's under its own prefix.
        verifier_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.claim_check.bucket.arn_for_objects("*")])
        )
        verifier_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ssm:GetParameters"], resources=table_parameters.arns(Stack.of(self)))
        )
        NagSuppressions.add_resource_suppressions(
            verifier_role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "The claim-check bucket holds only claim checks: the verifier writes every source's, "
                    "each under its source's prefix, at keys derived from the delivery.",
                    "appliesTo": [{"regex": "/^Resource::<.*ClaimCheckBucket[0-9A-F]+\\.Arn>/\\*$/"}],
                }
            ],
            apply_to_children=True,
        )
