"""Monitoring: an alarm topic, the alarms that say a webhook is at risk, and a dashboard."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

# The verifier's custom metrics: namespace, service dimension, names, and the
# reason dimension of a failed signature or timestamp check.
from shared.contract import (
    METRIC_ACCEPTED,
    METRIC_STALE_SECRETS,
    METRICS_NAMESPACE,
    VERIFIER_SERVICE,
)
from stacks.source_alarms import (
    FIVE_MINUTES,
    METRICS_PER_ALARM,
    AlarmGroup,
    MonitoredSource,
    alarm_name,
    described,
    groups,
    root_stack_name,
    signature_rejected,
    verifier_metric,
)


class Monitoring(Construct):
    """Alarms on everything that puts a webhook at risk, all sent to one SNS topic.

    Per source, in its own stack: a dead letter exists (``SourceAlarms``). Per
    group of sources (``METRICS_PER_ALARM`` metrics an alarm, so 10 sources, or 5
    for signature rejections), each alarm the worst of its sources: the oldest
    queued webhook is getting old; a processor fails or is throttled; one
    source's signatures are being rejected at a high rate (a leaked URL, a
    rotated secret not yet added, or an attack). Globally: verifier errors and
    throttles, API 5XX answers (the provider is being told to retry), and a
    spike of WAF-blocked requests. 100 sources: 100 + 50 + 6 alarms, not 506.
    With allow-list presets, the sync adds its own (stacks/allowlist_sync.py)
    through ``alarm``, ``lambda_alarms`` and ``dashboard``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_email: str | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        """The alarm topic; ``watch`` adds the alarms and the dashboard once the sources exist."""
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
        self.action = cloudwatch_actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

    def watch(
        self,
        *,
        sources: Sequence[MonitoredSource],
        verifier: lambda_.IFunction,
        api: apigw.RestApi,
        web_acl_metric_name: str,
        oldest_message_alarm_seconds: int,
        rejection_rate_percent: int,
        waf_blocked_threshold: int,
    ) -> None:
        self.groups = [
            AlarmGroup(
                self,
                f"Alarms-{group}",
                group=group,
                members=members,
                monitoring=self,
                oldest_message_seconds=oldest_message_alarm_seconds,
                rejection_rate_percent=rejection_rate_percent,
            )
            for group, members in groups(sources, METRICS_PER_ALARM)
        ]
        self.lambda_alarms("verifier", verifier)
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

    def lambda_alarms(self, label: str, function: lambda_.IFunction) -> None:
        """``<label>-errors`` and ``<label>-throttles``: each function of the kit that no source owns has both."""
        self._alarm(
            f"{label}-errors",
            function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            threshold=0,
            description=f"The {label} function failed (an unhandled error or a timeout).",
        )
        self._alarm(
            f"{label}-throttles",
            function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
            threshold=0,
            description=f"The {label} function was throttled.",
        )

    def _alarm(self, entry: str, metric: cloudwatch.IMetric, *, threshold: float, description: str) -> None:
        self.alarm(self, entry, metric, threshold=threshold, description=description)

    def alarm(
        self,
        scope: Construct,
        entry: str,
        metric: cloudwatch.IMetric,
        *,
        group: str | None = None,
        threshold: float,
        description: str,
        runbook: str | None = None,
        below: bool = False,
        missing_breaches: bool = False,
    ) -> None:
        """One alarm, named `<stack>-[sources-<i>-<j>-]<entry>` after this deployment and its runbook entry.

        By default it fires above ``threshold`` and stays quiet without data; ``below``
        fires under it, ``missing_breaches`` also fires without data (for a metric
        whose absence is the problem). ``runbook``: the entry's anchor when the entry
        is not the key itself (an entry per preset, `allowlist-<preset>-stale`).
        """
        key = f"{group}-{entry}" if group else entry
        anchor = runbook or (f"sources-i-j-{entry}" if group else entry)
        alarm = cloudwatch.Alarm(
            scope,
            key,
            alarm_name=alarm_name(root_stack_name(scope), key),
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=(
                cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
                if below
                else cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
            ),
            treat_missing_data=(
                cloudwatch.TreatMissingData.BREACHING if missing_breaches else cloudwatch.TreatMissingData.NOT_BREACHING
            ),
            alarm_description=described(description, anchor),
        )
        alarm.add_alarm_action(self.action)
        alarm.add_ok_action(self.action)
        self.alarms[key] = alarm

    def _dashboard(
        self, sources: Sequence[MonitoredSource], verifier: lambda_.IFunction, api: apigw.RestApi
    ) -> cloudwatch.Dashboard:
        """Shared rows first, then one row per ten sources: each graph one line a source, whatever their number."""
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        rows: list[list[cloudwatch.IWidget]] = [
            [
                cloudwatch.GraphWidget(
                    title="API requests and errors",
                    left=[api.metric_count(), api.metric_client_error(), api.metric_server_error()],
                    width=8,
                ),
                cloudwatch.GraphWidget(title="API latency (p99)", left=[api.metric_latency(statistic="p99")], width=8),
                cloudwatch.GraphWidget(title="WAF blocked requests", left=[self.waf_blocked], width=8),
            ],
            [
                cloudwatch.GraphWidget(
                    title="Verifier",
                    left=[verifier.metric_invocations(), verifier.metric_errors(), verifier.metric_throttles()],
                    right=[verifier.metric_duration(statistic="p99")],
                    width=24,
                )
            ],
        ]
        for group, members in groups(sources, METRICS_PER_ALARM):
            label = group.replace("sources-", "sources ", 1).replace("-", " to ")
            rows.append(
                [
                    cloudwatch.GraphWidget(
                        title=f"{label}: accepted / signature-rejected",
                        left=[verifier_metric(METRIC_ACCEPTED, m.name) for m in members],
                        right=[signature_rejected(m.name) for m in members],
                        width=6,
                    ),
                    cloudwatch.GraphWidget(
                        title=f"{label}: oldest queued webhook (s)",
                        left=[m.oldest_message_age() for m in members],
                        width=6,
                    ),
                    cloudwatch.GraphWidget(
                        title=f"{label}: dead letters",
                        left=[m.dead_letters() for m in members],
                        width=6,
                    ),
                    cloudwatch.GraphWidget(
                        title=f"{label}: processor errors",
                        left=[m.processor_errors() for m in members],
                        width=6,
                    ),
                ]
            )
        for row in rows:
            dashboard.add_widgets(*row)
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
