"""The allow-list sync: a scheduled function that keeps the presets' WAF IP sets equal to the providers' lists."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from shared import contract
from stacks.lambda_factory import LambdaFactory
from stacks.monitoring import Monitoring

# The function's time budget per preset: two fetches of its feed (the second only to
# confirm a large change), each allowed this long (the sync gives up on a feed after
# allowlist_sync.adapters.FEED_TOTAL_SECONDS), and the pause between them.
_FETCH_SECONDS = 20
_BASE_SECONDS = 30  # a cold start, and reading and writing the IP sets
_LAMBDA_MAX_TIMEOUT_SECONDS = 900  # Lambda quotas: 15 minutes
_MEMORY_MB = 256  # a JSON feed of a few KB and two AWS clients


class AllowlistSync(Construct):
    """Runs ``lambdas/allowlist_sync`` every ``sync_hours``, and once after every deploy of the stack.

    The function reads each preset's published list and rewrites the preset's
    IP sets (``WebhookFirewall.preset_ip_sets``) with their lock tokens; on any
    failure it leaves them as they are and counts it (docs/security.md,
    "Allow-lists"). Its role may read and update those IP sets and nothing else
    (besides the factory's logs and traces).

    The run after each deploy: a first deployment's sets hold the shipped
    snapshot, and a deploy that ships a newer snapshot writes it back over what
    the sync had put there; neither should wait up to ``sync_hours`` for the
    published list. It is an EventBridge rule on CloudFormation's own "Stack
    Status Change" event for this stack (CREATE_COMPLETE, UPDATE_COMPLETE), so
    no custom resource holds up or fails a deploy.

    Alarms, through ``Monitoring`` (so they reach the alarm topic), per preset:
    ``allowlist-<preset>-sync-failed`` (a run failed), ``allowlist-<preset>-stale``
    (no successful run for two intervals, missing data breaching: also a
    function that never runs); and the function's own errors and throttles.
    The dashboard gets a row: per preset, runs synced and failed, ranges added
    and removed.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        ip_sets: Mapping[str, Mapping[int, wafv2.CfnIPSet]],
        monitoring: Monitoring,
        sync_hours: int,
        max_change_percent: int,
    ) -> None:
        super().__init__(scope, construct_id)
        confirm_seconds = contract.DEFAULT_ALLOWLIST_CONFIRM_SECONDS
        self.function = factory.function(
            self,
            "Function",
            handler=contract.ALLOWLIST_SYNC_HANDLER,
            service=contract.ALLOWLIST_SYNC_SERVICE,
            description="webhook-kit: keeps the allow-list presets' WAF IP sets equal to the providers' lists",
            memory_mb=_MEMORY_MB,
            timeout_seconds=min(
                _LAMBDA_MAX_TIMEOUT_SECONDS, _BASE_SECONDS + len(ip_sets) * (2 * _FETCH_SECONDS + confirm_seconds)
            ),
            environment=contract.allowlist_sync_environment(
                targets={
                    preset: {version: ip_set.ref for version, ip_set in sets.items()}
                    for preset, sets in ip_sets.items()
                },
                max_change_percent=max_change_percent,
                confirm_seconds=confirm_seconds,
            ),
        )
        role = self.function.role
        assert role is not None  # the factory always gives a role
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["wafv2:GetIPSet", "wafv2:UpdateIPSet"],
                resources=[ip_set.attr_arn for sets in ip_sets.values() for ip_set in sets.values()],
            )
        )

        # A run that cannot start within the hour is dropped: the next one reads the lists anew.
        target = targets.LambdaFunction(self.function, retry_attempts=2, max_event_age=Duration.hours(1))
        self.schedule = events.Rule(
            self,
            "Schedule",
            description=f"webhook-kit: the allow-list sync, every {sync_hours} h",
            schedule=events.Schedule.rate(Duration.hours(sync_hours)),
            targets=[target],
        )
        self.after_deploy = events.Rule(
            self,
            "AfterDeploy",
            description="webhook-kit: the allow-list sync, once each deploy of this stack completes",
            event_pattern=events.EventPattern(
                source=["aws.cloudformation"],
                detail_type=["CloudFormation Stack Status Change"],
                detail={
                    "stack-id": [Stack.of(self).stack_id],
                    "status-details": {"status": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]},
                },
            ),
            targets=[target],
        )

        monitoring.lambda_alarms("allowlist-sync", self.function)
        interval = Duration.hours(sync_hours)
        for preset in ip_sets:
            monitoring.alarm(
                self,
                f"allowlist-{preset}-sync-failed",
                sync_metric(contract.METRIC_ALLOWLIST_SYNC_FAILED, preset, interval),
                threshold=0,
                runbook="allowlist-preset-sync-failed",
                description=f"The allow-list sync could not update preset '{preset}': its IP sets keep their "
                "addresses. The sync's log line names the reason.",
            )
            monitoring.alarm(
                self,
                f"allowlist-{preset}-stale",
                sync_metric(contract.METRIC_ALLOWLIST_SYNCED, preset, Duration.hours(2 * sync_hours)),
                threshold=1,
                below=True,
                missing_breaches=True,
                runbook="allowlist-preset-stale",
                description=f"No successful allow-list sync of preset '{preset}' in {2 * sync_hours} hours: its IP "
                "sets may fall behind the provider's list.",
            )
        period = Duration.hours(1)
        monitoring.dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=f"Allow-list {preset}: synced / failed runs, ranges added / removed",
                    left=[
                        sync_metric(contract.METRIC_ALLOWLIST_SYNCED, preset, period),
                        sync_metric(contract.METRIC_ALLOWLIST_SYNC_FAILED, preset, period),
                    ],
                    right=[
                        sync_metric(contract.METRIC_ALLOWLIST_RANGES_ADDED, preset, period),
                        sync_metric(contract.METRIC_ALLOWLIST_RANGES_REMOVED, preset, period),
                    ],
                    width=max(6, 24 // len(ip_sets)),
                )
                for preset in ip_sets
            )
        )


def sync_metric(name: str, preset: str, period: Duration) -> cloudwatch.Metric:
    """One of the sync's metrics for one preset, as its handler records them (dimensions service and preset)."""
    return cloudwatch.Metric(
        namespace=contract.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": contract.ALLOWLIST_SYNC_SERVICE, contract.DIMENSION_PRESET: preset},
        period=period,
        statistic="Sum",
    )
