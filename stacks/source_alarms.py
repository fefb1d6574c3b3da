"""The alarms of the sources: each source's own dead-letter alarm, and alarms over groups of sources.

A dead letter must page someone, so every dead-letter queue keeps an alarm of
its own (in its source's stack). The other per-source signals are watched by
metric-math alarms over groups of sources, each the worst of its group: an
alarm may read ten metrics, so ten sources with one metric each, five with two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_cdk import Duration, NestedStack, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# The verifier's custom metrics: namespace, service dimension, names, and the
# reason dimension of a failed signature or timestamp check.
from shared.contract import (
    METRIC_ACCEPTED,
    METRIC_ENFORCEMENT_OFF,
    METRIC_REJECTED,
    METRICS_NAMESPACE,
    VERIFIER_SERVICE,
)
from shared.contract import REASON_UNAUTHORIZED as REJECTED_SIGNATURE_REASON

if TYPE_CHECKING:
    from stacks.monitoring import Monitoring  # which imports this module

FIVE_MINUTES = Duration.minutes(5)
# Every alarm's description ends with its entry here: `#<anchor>`, the entry's heading
# (the alarm's name, `<source>` standing for a source's name and `sources-<n>` for a
# group of sources) as GitHub makes it an anchor.
RUNBOOK = "docs/reliability.md"
# An alarm on metric math reads at most 10 metrics (CloudWatch User Guide, "Limits that
# apply to alarms based on metric math expressions": a hard limit): a group alarm watches
# this many sources with one metric each, or half as many with two (signature rejections).
METRICS_PER_ALARM = 10


def alarm_name(stack_name: str, key: str) -> str:
    # A stack name (128 characters at most) and a key (a source name of 32, or
    # "sources-<n>", and an entry) keep this far below CloudWatch's 255. A named
    # alarm cannot be replaced under the same name: renaming its construct must
    # rename the alarm too.
    return f"{stack_name}-{key}"


def described(description: str, anchor: str) -> str:
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
        enforce: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        key = f"{source_name}-dead-letters"
        self.dead_letters = cloudwatch.Alarm(
            self,
            "DeadLetters",
            alarm_name=alarm_name(root_stack_name(self), key),
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=described(
                f"Webhooks of '{source_name}' are in its dead-letter queue: fix, then redrive.", "source-dead-letters"
            ),
        )
        self.dead_letters.add_alarm_action(action)
        self.dead_letters.add_ok_action(action)
        self.enforcement_off: cloudwatch.Alarm | None = None
        if not enforce:
            # Onboarding mode accepts forgeries: an alarm for as long as requests arrive under it.
            self.enforcement_off = cloudwatch.Alarm(
                self,
                "EnforcementOff",
                alarm_name=alarm_name(root_stack_name(self), f"{source_name}-enforcement-off"),
                metric=verifier_metric(METRIC_ENFORCEMENT_OFF, source_name),
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=described(
                    f"'{source_name}' has enforce = false: requests that fail verification are accepted. "
                    "Set enforce = true once the secret is right.",
                    "source-enforcement-off",
                ),
            )
            self.enforcement_off.add_alarm_action(action)
            self.enforcement_off.add_ok_action(action)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        return [alarm for alarm in (self.dead_letters, self.enforcement_off) if alarm is not None]


def root_stack_name(scope: Construct) -> str:
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
        return metric("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", self.name, QueueName=self.queue_name)

    def dead_letters(self) -> cloudwatch.Metric:
        return metric(
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", self.name, QueueName=self.dead_letter_queue_name
        )

    def processor_errors(self) -> cloudwatch.Metric:
        return metric("AWS/Lambda", "Errors", "Sum", self.name, FunctionName=self.processor_name)

    def processor_throttles(self) -> cloudwatch.Metric:
        return metric("AWS/Lambda", "Throttles", "Sum", self.name, FunctionName=self.processor_name)


def metric(namespace: str, name: str, statistic: str, label: str, **dimensions: str) -> cloudwatch.Metric:
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
        names = quoted_names(members)
        for entry, function, metric, label, threshold, description in (
            (
                "oldest-message",
                "MAX",
                MonitoredSource.oldest_message_age,
                "oldest queued webhook (s)",
                oldest_message_seconds,
                f"Webhooks of {names} wait longer than {oldest_message_seconds} s.",
            ),
            (
                "processor-errors",
                "SUM",
                MonitoredSource.processor_errors,
                "errors",
                0,
                f"A processor of {names} failed (an unhandled error or a timeout).",
            ),
            (
                "processor-throttles",
                "SUM",
                MonitoredSource.processor_throttles,
                "throttles",
                0,
                f"A processor of {names} was throttled.",
            ),
        ):
            monitoring.alarm(
                self,
                entry,
                worst(function, [metric(m) for m in members], label),
                group=group,
                threshold=threshold,
                description=description,
            )
        # Two metrics a source: five sources an alarm, each named by its own sources' positions.
        first = int(group.split("-")[1])
        for start in range(0, len(members), METRICS_PER_ALARM // 2):
            part = members[start : start + METRICS_PER_ALARM // 2]
            monitoring.alarm(
                self,
                "signature-rejections",
                worst_rejection_rate([m.name for m in part]),
                group=f"sources-{first + start}-{first + start + len(part) - 1}",
                threshold=rejection_rate_percent,
                description=f"Over {rejection_rate_percent}% of one source's webhooks fail signature checks (at least "
                f"10 in 5 minutes), among {quoted_names(part)}.",
            )


def groups(sources: Sequence[MonitoredSource], size: int) -> list[tuple[str, Sequence[MonitoredSource]]]:
    """Sources in configuration order, ``size`` at a time, each group named ``sources-<first>-<last>`` (from 1)."""
    return [
        (f"sources-{start + 1}-{min(start + size, len(sources))}", sources[start : start + size])
        for start in range(0, len(sources), size)
    ]


def quoted_names(members: Sequence[MonitoredSource]) -> str:
    return ", ".join(f"'{m.name}'" for m in members)


def worst(function: str, metrics: Sequence[cloudwatch.IMetric], label: str) -> cloudwatch.MathExpression:
    """``MAX`` or ``SUM`` over up to ``METRICS_PER_ALARM`` metrics, a missing point counted as 0."""
    ids = {f"m{index}": metric for index, metric in enumerate(metrics)}
    return cloudwatch.MathExpression(
        expression=f"{function}([{', '.join(f'FILL({key},0)' for key in ids)}])",
        using_metrics=ids,
        period=FIVE_MINUTES,
        label=label,
    )


def worst_rejection_rate(source_names: Sequence[str]) -> cloudwatch.MathExpression:
    """The highest of the sources' signature-rejection rates (each 0 below 10 requests, to ignore noise)."""
    rates = {f"r{index}": rejection_rate(name, suffix=str(index)) for index, name in enumerate(source_names)}
    return cloudwatch.MathExpression(
        expression=f"MAX([{', '.join(rates)}])",
        using_metrics=rates,
        period=FIVE_MINUTES,
        label="worst signature rejections (%)",
    )


def verifier_metric(name: str, source_name: str, **dimensions: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": VERIFIER_SERVICE, "source": source_name, **dimensions},
        period=FIVE_MINUTES,
        statistic="Sum",
        label=f"{source_name} {name}",
    )


def signature_rejected(source_name: str) -> cloudwatch.Metric:
    return verifier_metric(METRIC_REJECTED, source_name, reason=REJECTED_SIGNATURE_REASON)


def rejection_rate(source_name: str, suffix: str = "") -> cloudwatch.MathExpression:
    """Percent of a source's signed requests rejected; 0 below 10 requests, to ignore noise."""
    accepted, rejected = f"accepted{suffix}", f"rejected{suffix}"
    return cloudwatch.MathExpression(
        expression=f"IF((FILL({accepted},0) + FILL({rejected},0)) >= 10, "
        f"100 * FILL({rejected},0) / (FILL({accepted},0) + FILL({rejected},0)), 0)",
        using_metrics={
            accepted: verifier_metric(METRIC_ACCEPTED, source_name),
            rejected: signature_rejected(source_name),
        },
        period=FIVE_MINUTES,
        label=f"{source_name} signature rejections (%)",
    )
