"""Monitoring: an alarm topic, the alarms that say a webhook is at risk, and a dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# The verifier's custom metrics: namespace, service dimension, names, and the
# reason dimension of a failed signature or timestamp check.
from shared.contract import (
    METRIC_ACCEPTED,
    METRIC_REJECTED,
    METRIC_STALE_SECRETS,
    METRICS_NAMESPACE,
    VERIFIER_SERVICE,
)
from shared.contract import REASON_UNAUTHORIZED as REJECTED_SIGNATURE_REASON

FIVE_MINUTES = Duration.minutes(5)
# Every alarm's description ends with its entry here: `#<anchor>`, the entry's heading
# (the alarm's name, `<source>` standing for a source's name) as GitHub makes it an anchor.
RUNBOOK = "docs/reliability.md"


@dataclass(frozen=True)
class MonitoredSource:
    name: str
    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    processor: lambda_.IFunction


class Monitoring(Construct):
    """Alarms on everything that puts a webhook at risk, all sent to one SNS topic.

    Per source: a dead letter exists; the oldest queued webhook is getting old;
    the processor fails or is throttled; signatures are being rejected at a high
    rate (a leaked URL, a rotated secret not yet added, or an attack). Globally:
    verifier errors and throttles, API 5XX answers (the provider is being told
    to retry), and a spike of WAF-blocked requests.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sources: Sequence[MonitoredSource],
        verifier: lambda_.IFunction,
        api: apigw.RestApi,
        web_acl_metric_name: str,
        alarm_email: str | None,
        oldest_message_alarm_seconds: int,
        rejection_rate_percent: int,
        waf_blocked_threshold: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS
        # key (its policy cannot be changed), so the topic gets a key of its own.
        self.topic_key = kms.Key(
            self,
            "AlarmTopicKey",
            description="webhook-kit alarm topic encryption",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        cloudwatch_service = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        only_our_alarms = _from_this_accounts_alarms(Stack.of(self))
        # CloudWatch encrypts an alarm's notification with the topic's key itself.
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarms",
                principals=[cloudwatch_service],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions=only_our_alarms,
            )
        )
        self.topic = sns.Topic(self, "AlarmTopic", master_key=self.topic_key, enforce_ssl=True)
        # enforce_ssl gives the topic a policy of its own, which replaces SNS' default
        # one: without this statement no alarm may publish to the topic.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarms",
                principals=[cloudwatch_service],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=only_our_alarms,
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self._action = cloudwatch_actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        for source in sources:
            self._alarm(
                "dead-letters",
                source.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                source=source.name,
                threshold=0,
                description=f"Webhooks of '{source.name}' are in its dead-letter queue: fix, then redrive.",
            )
            self._alarm(
                "oldest-message",
                source.queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
                source=source.name,
                threshold=oldest_message_alarm_seconds,
                description=f"Webhooks of '{source.name}' wait longer than {oldest_message_alarm_seconds} s.",
            )
            self._lambda_alarms("processor", source.processor, source=source.name)
            self._alarm(
                "signature-rejections",
                _rejection_rate(source.name),
                source=source.name,
                threshold=rejection_rate_percent,
                description=f"Over {rejection_rate_percent}% of '{source.name}' webhooks fail signature checks "
                "(at least 10 in 5 minutes).",
            )
        self._lambda_alarms("verifier", verifier)
        # One alarm for every source: the verifier counts this metric without
        # the source dimension (CloudWatch alarms cannot sum a SEARCH).
        self._alarm(
            "secrets-served-stale",
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=METRIC_STALE_SECRETS,
                dimensions_map={"service": VERIFIER_SERVICE},
                period=FIVE_MINUTES,
                statistic="Sum",
            ),
            threshold=0,
            description="Secrets Manager could not be read: the verifier is using the last secrets it read, "
            "and answers 503 once its grace period (15 minutes) runs out.",
        )
        # API Gateway keys its metrics on the API's name (dimension ApiName); the
        # stack gives the API a name of its own, so this counts this API's answers only.
        self._alarm(
            "api-5xx",
            api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            threshold=0,
            description="The API answered 5XX: providers were told to retry (queue or verifier trouble).",
        )
        # AWS WAF names a web ACL in its metrics by the ACL's metric name, not its
        # name, and counts every rule under Rule=ALL (AWS WAF Developer Guide, "AWS
        # WAF metrics and dimensions").
        self.waf_blocked = cloudwatch.Metric(
            namespace="AWS/WAFV2",
            metric_name="BlockedRequests",
            dimensions_map={"WebACL": web_acl_metric_name, "Region": Aws.REGION, "Rule": "ALL"},
            period=FIVE_MINUTES,
            statistic="Sum",
        )
        self._alarm(
            "waf-blocked-spike",
            self.waf_blocked,
            threshold=waf_blocked_threshold,
            description=f"WAF blocked over {waf_blocked_threshold} requests in 5 minutes.",
        )
        self.dashboard = self._dashboard(sources, verifier, api)

    def _lambda_alarms(self, label: str, function: lambda_.IFunction, *, source: str | None = None) -> None:
        function_name = f"{source}-{label}" if source else label
        self._alarm(
            f"{label}-errors",
            function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            source=source,
            threshold=0,
            description=f"The {function_name} function failed (an unhandled error or a timeout).",
        )
        self._alarm(
            f"{label}-throttles",
            function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
            source=source,
            threshold=0,
            description=f"The {function_name} function was throttled.",
        )

    def _alarm(
        self,
        entry: str,
        metric: cloudwatch.IMetric,
        *,
        source: str | None = None,
        threshold: float,
        description: str,
    ) -> None:
        """One alarm, named `<stack>-[<source>-]<entry>` after this deployment and its runbook entry."""
        key = f"{source}-{entry}" if source else entry
        anchor = f"source-{entry}" if source else entry
        alarm = cloudwatch.Alarm(
            self,
            key,
            # A stack name (128 characters at most) and a source name (32) keep this far
            # below CloudWatch's 255. A named alarm cannot be replaced under the same name:
            # renaming this construct (its logical id) must rename the alarm too.
            alarm_name=f"{Stack.of(self).stack_name}-{key}",
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{description} Runbook: {RUNBOOK}#{anchor}",
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms[key] = alarm

    def _dashboard(
        self, sources: Sequence[MonitoredSource], verifier: lambda_.IFunction, api: apigw.RestApi
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[api.metric_count(), api.metric_client_error(), api.metric_server_error()],
                width=8,
            ),
            cloudwatch.GraphWidget(title="API latency (p99)", left=[api.metric_latency(statistic="p99")], width=8),
            cloudwatch.GraphWidget(title="WAF blocked requests", left=[self.waf_blocked], width=8),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Verifier",
                left=[verifier.metric_invocations(), verifier.metric_errors(), verifier.metric_throttles()],
                right=[verifier.metric_duration(statistic="p99")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Accepted / signature-rejected webhooks",
                left=[_verifier_metric(METRIC_ACCEPTED, s.name) for s in sources],
                right=[_signature_rejected(s.name) for s in sources],
                width=12,
            ),
        )
        for source in sources:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{source.name}: queue",
                    left=[source.queue.metric_approximate_number_of_messages_visible()],
                    right=[source.queue.metric_approximate_age_of_oldest_message()],
                    width=8,
                ),
                cloudwatch.GraphWidget(
                    title=f"{source.name}: dead letters",
                    left=[source.dead_letter_queue.metric_approximate_number_of_messages_visible()],
                    width=8,
                ),
                cloudwatch.GraphWidget(
                    title=f"{source.name}: processor",
                    left=[source.processor.metric_invocations(), source.processor.metric_errors()],
                    right=[source.processor.metric_duration(statistic="p99")],
                    width=8,
                ),
            )
        return dashboard


def _from_this_accounts_alarms(stack: Stack) -> dict[str, dict[str, str]]:
    """Conditions that let CloudWatch act only for this account's alarms in this region (no confused deputy)."""
    return {
        "StringEquals": {"aws:SourceAccount": stack.account},
        "ArnLike": {
            "aws:SourceArn": stack.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name="*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
        },
    }


def _verifier_metric(name: str, source_name: str, **dimensions: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": VERIFIER_SERVICE, "source": source_name, **dimensions},
        period=FIVE_MINUTES,
        statistic="Sum",
        label=f"{source_name} {name}",
    )


def _signature_rejected(source_name: str) -> cloudwatch.Metric:
    return _verifier_metric(METRIC_REJECTED, source_name, reason=REJECTED_SIGNATURE_REASON)


def _rejection_rate(source_name: str) -> cloudwatch.MathExpression:
    """Percent of a source's signed requests rejected; 0 below 10 requests, to ignore noise."""
    return cloudwatch.MathExpression(
        expression="IF((FILL(accepted,0) + FILL(rejected,0)) >= 10, "
        "100 * FILL(rejected,0) / (FILL(accepted,0) + FILL(rejected,0)), 0)",
        using_metrics={
            "accepted": _verifier_metric(METRIC_ACCEPTED, source_name),
            "rejected": _signature_rejected(source_name),
        },
        period=FIVE_MINUTES,
        label=f"{source_name} signature rejections (%)",
    )
