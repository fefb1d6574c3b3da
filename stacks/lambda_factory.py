"""One place that says how every Lambda function of the kit is built."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.checkov import FUNCTION_SKIPS, LOG_GROUP_SKIPS, skip_checks

# The Lambda asset: runtime code only (no tests, no caches).
LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
_ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache"]

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
# Powertools' AWS-published layer account (docs.powertools.aws.dev, "Lambda Layer").
_POWERTOOLS_ACCOUNT = "017000801446"


def powertools_layer_arn(version: int) -> str:
    """The ARN of the AWS-published Powertools v3 layer for this runtime and architecture."""
    return (
        f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{_POWERTOOLS_ACCOUNT}:"
        f"layer:AWSLambdaPowertoolsPythonV3-python313-arm64:{version}"
    )


class LambdaFactory(Construct):
    """Builds the kit's functions with one set of defaults.

    Every function gets: python3.13 on arm64, the shared code asset, the pinned
    Powertools layer, active X-Ray tracing, logs in its own log group with the
    configured retention (Powertools writes JSON lines itself; the function keeps
    Lambda's text log format so those lines, and the metrics embedded in them,
    reach CloudWatch unchanged), and a role of its own that starts with
    nothing but permission to write to that log group (no managed policies).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        powertools_layer_version: int,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self._retention = retention(log_retention_days)
        self._removal_policy = removal_policy
        self._code = lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=_ASSET_EXCLUDES)
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "PowertoolsLayer", powertools_layer_arn(powertools_layer_version)
        )

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        service: str,
        description: str,
        memory_mb: int,
        timeout_seconds: int,
        environment: dict[str, str],
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}Logs",
            retention=self._retention,
            removal_policy=self._removal_policy,
        )
        skip_checks(log_group, LOG_GROUP_SKIPS)
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"webhook-kit {service}",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self._code,
            handler=handler,
            description=description,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_seconds),
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            layers=[self.powertools_layer],
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": "WebhookKit",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **environment,
            },
        )
        skip_checks(function, FUNCTION_SKIPS)
        NagSuppressions.add_resource_suppressions(
            function,
            [
                {
                    "id": "AwsSolutions-L1",
                    "reason": "python3.13 is the runtime the kit is tested on and the pinned Powertools layer targets.",
                }
            ],
        )
        NagSuppressions.add_resource_suppressions(
            role,
            [
                {
                    "id": "AwsSolutions-IAM5",
                    "reason": "X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level permissions; "
                    "the log-stream wildcard is confined to this function's own log group.",
                    "appliesTo": [
                        "Resource::*",
                        {"regex": "/^Resource::<.*Logs[0-9A-F]+\\.Arn>:\\*$/"},
                    ],
                }
            ],
            apply_to_children=True,
        )
        return function


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention for ``days`` (config validates the value first)."""
    return _RETENTION[days]
