"""One place that says how every Lambda function of the kit is built."""

from __future__ import annotations

import re
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from cdk_nag import NagSuppressions
from constructs import Construct

from shared import contract
from stacks.checkov import FUNCTION_SKIPS, LOG_GROUP_SKIPS, skip_checks

ROOT = Path(__file__).resolve().parent.parent
# The Lambda asset: runtime code only (no tests, no caches).
LAMBDAS_DIR = ROOT / "lambdas"
_ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache"]
# What the runtime and the Powertools layer provide, pinned: the tests run against
# these releases, and the stack deploys the layer of the same Powertools release.
LAMBDA_RUNTIME_REQUIREMENTS = ROOT / "requirements-lambda-runtime.txt"

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;#]+)")


def pinned_version(package: str, requirements: Path = LAMBDA_RUNTIME_REQUIREMENTS) -> str:
    """The release ``package`` is pinned to (``name==X.Y.Z``) in a requirements file."""
    wanted = _normalized(package)
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match and _normalized(match["name"]) == wanted:
            return match["version"]
    raise ValueError(f"{requirements.name}: no '{package}==<version>' line; pin the release the tests run")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def powertools_layer_parameter(version: str) -> str:
    """The public SSM parameter holding the ARN of Powertools ``version``'s layer for this runtime and architecture.

    Powertools publishes one per release, ``/aws/service/powertools/python/{arch}/{python}/{release}``
    (also ``.../latest``), in each commercial Region it publishes the layer to (Powertools docs,
    "Installation" > "Using SSM Parameter Store"; aws-powertools/powertools-lambda-python
    .github/workflows/update_ssm.yml writes them). The release, not ``latest``: the deployed layer
    is the release the tests ran against, and a new Powertools release changes nothing until the
    pin moves (README, "Powertools, Python 3.13 and Regions").
    """
    if not re.fullmatch(r"3\.\d+\.\d+", version):
        raise ValueError(
            f"aws-lambda-powertools {version!r} in {LAMBDA_RUNTIME_REQUIREMENTS.name}: pin a Powertools v3 release, "
            "X.Y.Z with X = 3 (the layer parameters exist per release of the v3 layer)"
        )
    return f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{version}"


class LambdaFactory(Construct):
    """Builds the kit's functions with one set of defaults.

    Every function gets: python3.13 on arm64, the shared code asset, the layer of
    the Powertools release the tests run (requirements-lambda-runtime.txt), active
    X-Ray tracing, logs in its own log group with the configured retention
    (Powertools writes JSON lines itself; the function keeps Lambda's text log
    format so those lines, and the metrics embedded in them, reach CloudWatch
    unchanged), and a role of its own that starts with
    nothing but permission to write to that log group (no managed policies).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self._retention = retention(log_retention_days)
        self._removal_policy = removal_policy
        # One Code per stack: the CDK binds an asset to the stack that first uses it, and
        # the sources' nested stacks each hold functions (the asset itself is published once).
        self._codes: dict[str, lambda_.Code] = {}
        self.powertools_version = pinned_version("aws-lambda-powertools")
        self._layers: dict[str, lambda_.ILayerVersion] = {}

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
            code=self._code_for(scope),
            handler=handler,
            description=description,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_seconds),
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            layers=[self._layer_for(scope)],
            environment={**contract.powertools_environment(service), **environment},
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

    def _layer_for(self, scope: Construct) -> lambda_.ILayerVersion:
        """The Powertools layer, looked up by each stack itself (a nested stack too: no parameter to pass down)."""
        stack = Stack.of(scope)
        if stack.node.path not in self._layers:
            # Resolved by CloudFormation at deploy time (a template parameter of type
            # AWS::SSM::Parameter::Value<String>), so synth stays offline and the template names the
            # release, not a layer number or account. The layer rather than Powertools bundled into
            # the asset: DESIGN.md's choice, a small asset, and AWS' build of the compiled
            # dependencies (pydantic-core, wrapt) for arm64. The cost: a Region where Powertools
            # publishes no parameter cannot deploy (README, "Powertools, Python 3.13 and Regions").
            layer_arn = ssm.StringParameter.value_for_string_parameter(
                stack, powertools_layer_parameter(self.powertools_version)
            )
            self._layers[stack.node.path] = lambda_.LayerVersion.from_layer_version_arn(
                stack, "PowertoolsLayer", layer_arn
            )
        return self._layers[stack.node.path]

    def _code_for(self, scope: Construct) -> lambda_.Code:
        stack = Stack.of(scope).node.path
        if stack not in self._codes:
            self._codes[stack] = lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=_ASSET_EXCLUDES)
        return self._codes[stack]


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
