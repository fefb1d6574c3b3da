"""Monitoring: an alarm topic, the alarms that say a webhook is at risk, and a dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Aws, Duration, NestedStack, RemovalPolicy, Stack
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
# (the alarm's name, `<source>` standing for a source's name and `sources-<n>` for a
# group of sources) as GitHub makes it an anchor.
RUNBOOK = "docs/reliability.md"
# An alarm on metric math reads at most 10 metrics (CloudWatch User Guide, "Limits that
# apply to alarms based on metric math expressions": a hard limit): a group alarm watches
# this many sources with one metric each, or half as many with two (signature rejections).
METRICS_PER_ALARM = 10
# Widgets a dashboard may hold (CloudWatch User Guide, "CloudWatch service quotas").
DASHBOARD_MAX_WIDGETS = 500


def alarm_name(stack_name: str, key: str) -> str:
    # A stack name (128 characters at most) and a key (a source name of 32, or
    # "sources-<n>", and an entry) keep this far below CloudWatch's 255. A named
    # alarm cannot be replaced under the same name: renaming its construct must
    # rename the alarm too.
    return f"{stack_name}-{key}"


def _described(description: str, anchor: str) -> str:
    return f"{description} Runbook: {RUNBOOK}#{anchor}"


class SourceAlarms(Construct):
    """One source's own alarm, in the source's stack: a dead letter pages someone at once.

    One alarm per dead-letter queue, never grouped: a group alarm already in
    ALARM would not notify again when a second source dead-letters.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_name: str,
        dead_letter_queue: sqs.IQueue,
        action: cloudwatch.IAlarmAction,
    ) -> None:
        super().__init__(scope, construct_id)
        key = f"{source_name}-dead-letters"
        self.dead_letters = cloudwatch.Alarm(
            self,
            "DeadLetters",
            alarm_name=alarm_name(_root_stack_name(self), key),
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=_described(
                f"Webhooks of '{source_name}' are in its dead-letter queue: fix, then redrive.", "source-dead-letters"
            ),
        )
        self.dead_letters.add_alarm_action(action)
        self.dead_letters.add_ok_action(action)


def _root_stack_name(scope: Construct) -> str:
    """The deployment's name: the top-level stack's, also from inside a nested stack."""
    stack = Stack.of(scope)
    while stack.nested_stack_parent is not None:
        stack = stack.nested_stack_parent
    return stack.stack_name


@dataclass(frozen=True)
class MonitoredSource:
    """A source as its alarms and graphs see it: the names its metrics are keyed on."""

    name: str
    queue_name: str
    dead_letter_queue_name: str
    processor_name: str

    def oldest_message_age(self) -> cloudwatch.Metric:
        return _metric("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", self.name, QueueName=self.queue_name)

    def dead_letters(self) -> cloudwatch.Metric:
        return _metric(
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", self.name, QueueName=self.dead_letter_queue_name
        )

    def processor_errors(self) -> cloudwatch.Metric:
        return _metric("AWS/Lambda", "Errors", "Sum", self.name, FunctionName=self.processor_name)

    def processor_throttles(self) -> cloudwatch.Metric:
        return _metric("AWS/Lambda", "Throttles", "Sum", self.name, FunctionName=self.processor_name)


def _metric(namespace: str, name: str, statistic: str, label: str, **dimensions: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map=dimensions,
        period=FIVE_MINUTES,
        statistic=statistic,
        label=label,
    )


class AlarmGroup(NestedStack):
    """The alarms of up to ten sources, in a stack of their own: each reads ten metrics, and a
    hundred sources' worth would take a fifth of the parent template's 1 MB."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        group: str,
        members: Sequence[MonitoredSource],
        monitoring: Monitoring,
        oldest_message_seconds: int,
        rejection_rate_percent: int,
    ) -> None:
        super().__init__(scope, construct_id, description=f"webhook-kit alarms of {group}")
        names = _names(members)
        monitoring.alarm(
            self,
            "oldest-message",
            _worst("MAX", [m.oldest_message_age() for m in members], "oldest queued webhook (s)"),
            group=group,
            threshold=oldest_message_seconds,
            description=f"Webhooks of {names} wait longer than {oldest_message_seconds} s.",
        )
        monitoring.alarm(
            self,
            "processor-errors",
            _worst("SUM", [m.processor_errors() for m in members], "errors"),
            group=group,
            threshold=0,
            description=f"A processor of {names} failed (an unhandled error or a timeout).",
        )
        monitoring.alarm(
            self,
            "processor-throttles",
            _worst("SUM", [m.processor_throttles() for m in members], "throttles"),
            group=group,
            threshold=0,
            description=f"A processor of {names} was throttled.",
        )
        # Two metrics a source: five sources an alarm, each named by its own sources' positions.
        first = int(group.split("-")[1])
        for start in range(0, len(members), METRICS_PER_ALARM // 2):
            part = members[start : start + METRICS_PER_ALARM // 2]
            monitoring.alarm(
                self,
                "signature-rejections",
                _worst_rejection_rate([m.name for m in part]),
                group=f"sources-{first + start}-{first + start + len(part) - 1}",
                threshold=rejection_rate_percent,
                description=f"Over {rejection_rate_percent}% of one source's webhooks fail signature checks (at least "
                f"10 in 5 minutes), among {_names(part)}.",
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
            for group, members in _groups(sources, METRICS_PER_ALARM)
        ]
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

    def _lambda_alarms(self, label: str, function: lambda_.IFunction) -> None:
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
    ) -> None:
        """One alarm, named `<stack>-[sources-<i>-<j>-]<entry>` after this deployment and its runbook entry."""
        key = f"{group}-{entry}" if group else entry
        anchor = f"sources-i-j-{entry}" if group else entry
        alarm = cloudwatch.Alarm(
            scope,
            key,
            alarm_name=alarm_name(_root_stack_name(scope), key),
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=_described(description, anchor),
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
        for group, members in _groups(sources, METRICS_PER_ALARM):
            label = group.replace("sources-", "sources ", 1).replace("-", " to ")
            rows.append(
                [
                    cloudwatch.GraphWidget(
                        title=f"{label}: accepted / signature-rejected",
                        left=[_verifier_metric(METRIC_ACCEPTED, m.name) for m in members],
                        right=[_signature_rejected(m.name) for m in members],
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
        self.dashboard_widgets = sum(len(row) for row in rows)
        for row in rows:
            dashboard.add_widgets(*row)
        return dashboard


def _groups(sources: Sequence[MonitoredSource], size: int) -> list[tuple[str, Sequence[MonitoredSource]]]:
    """Sources in configuration order, ``size`` at a time, each group named ``sources-<first>-<last>`` (from 1)."""
    return [
        (f"sources-{start + 1}-{min(start + size, len(sources))}", sources[start : start + size])
        for start in range(0, len(sources), size)
    ]


def _names(members: Sequence[MonitoredSource]) -> str:
    return ", ".join(f"'{m.name}'" for m in members)


def _worst(function: str, metrics: Sequence[cloudwatch.IMetric], label: str) -> cloudwatch.MathExpression:
    """``MAX`` or ``SUM`` over up to ``METRICS_PER_ALARM`` metrics, a missing point counted as 0."""
    ids = {f"m{index}": metric for index, metric in enumerate(metrics)}
    return cloudwatch.MathExpression(
        expression=f"{function}([{', '.join(f'FILL({key},0)' for key in ids)}])",
        using_metrics=ids,
        period=FIVE_MINUTES,
        label=label,
    )


def _worst_rejection_rate(source_names: Sequence[str]) -> cloudwatch.MathExpression:
    """The highest of the sources' signature-rejection rates (each 0 below 10 requests, to ignore noise)."""
    rates = {f"r{index}": _rejection_rate(name, suffix=str(index)) for index, name in enumerate(source_names)}
    return cloudwatch.MathExpression(
        expression=f"MAX([{', '.join(rates)}])",
        using_metrics=rates,
        period=FIVE_MINUTES,
        label="worst signature rejections (%)",
    )


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


def _rejection_rate(source_name: str, suffix: str = "") -> cloudwatch.MathExpression:
    """Percent of a source's signed requests rejected; 0 below 10 requests, to ignore noise."""
    accepted, rejected = f"accepted{suffix}", f"rejected{suffix}"
    return cloudwatch.MathExpression(
        expression=f"IF((FILL({accepted},0) + FILL({rejected},0)) >= 10, "
        f"100 * FILL({rejected},0) / (FILL({accepted},0) + FILL({rejected},0)), 0)",
        using_metrics={
            accepted: _verifier_metric(METRIC_ACCEPTED, source_name),
            rejected: _signature_rejected(source_name),
        },
        period=FIVE_MINUTES,
        label=f"{source_name} signature rejections (%)",
    )
