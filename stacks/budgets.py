"""AWS limits checked on the synthesized templates, so a deployment that would fail does so at synth.

``cdk synth`` (app.py) and the tests run ``check_assembly`` on every template
of the cloud assembly, the sources' nested stacks included. Each problem names
the limit, where it comes from, the count, and the fix. The configuration
refuses earlier what it can see alone (stacks/config.py: sources per API, the
source table's parameters); the web ACL's capacity and IP sets are checked as
it is built (stacks/waf_budget.py).

Values CloudFormation fills in at deploy time (a ``Ref``, ``Fn::GetAtt``, ...)
are counted at ``TOKEN_BOUND`` characters each (the pseudo parameters at their
longest): longer than any name or ARN this kit makes, so a check that passes
here passes in the account.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# CloudFormation User Guide, "CloudFormation quotas".
STACK_MAX_RESOURCES = 500
STACK_MAX_OUTPUTS = 200
STACK_MAX_PARAMETERS = 200
TEMPLATE_MAX_BYTES = 1_000_000  # a template in S3, as the CDK deploys them
# Lambda Developer Guide, "Lambda quotas": 4 KB of environment variables a function (names
# and values), and 20 KB for its resource-based policy.
LAMBDA_MAX_ENVIRONMENT_BYTES = 4 * 1024
LAMBDA_MAX_RESOURCE_POLICY_BYTES = 20 * 1024
# A lambda:InvokeFunction statement for one API method, as AddPermission writes it (measured).
LAMBDA_PERMISSION_STATEMENT_BYTES = 400
# IAM User Guide, "IAM and AWS STS quotas": a role's inline policies, together, 10,240
# characters (white space not counted).
IAM_ROLE_MAX_INLINE_POLICY_CHARS = 10_240
# CloudWatch User Guide, "Limits that apply to alarms based on metric math expressions" and
# PutMetricAlarm: 10 metrics and 10 expressions an alarm, a hard limit.
ALARM_MAX_METRICS = 10
ALARM_MAX_EXPRESSIONS = 10
# PutMetricAlarm, Period: "Period multiplied by EvaluationPeriods can't be more than 604,800
# seconds"; one day for a period under an hour.
ALARM_MAX_EVALUATION_SECONDS = 7 * 24 * 3600
ALARM_MAX_SHORT_PERIOD_EVALUATION_SECONDS = 24 * 3600
# CloudWatch User Guide, "CloudWatch service quotas": a dashboard holds 500 widgets, a
# widget 500 metrics, a dashboard 2,500 metrics.
DASHBOARD_MAX_WIDGETS = 500
DASHBOARD_MAX_METRICS_PER_WIDGET = 500
DASHBOARD_MAX_METRICS = 2_500

TOKEN_BOUND = 256
# The pseudo parameters are shorter: "aws-us-gov", "ap-southeast-5", "amazonaws.com.cn".
PSEUDO_PARAMETER_BOUNDS = {"AWS::Partition": 12, "AWS::Region": 20, "AWS::AccountId": 12, "AWS::URLSuffix": 20}


class BudgetError(ValueError):
    """Synthesized templates that AWS would refuse; the message lists every limit passed."""


@dataclass(frozen=True)
class Usage:
    """What the deployment uses of each budget, for the tests and the README's numbers."""

    templates: int
    largest_resources: int
    largest_outputs: int
    largest_parameters: int
    largest_template_bytes: int
    alarms: int
    dashboard_widgets: int
    dashboard_metrics: int


def check_assembly(directory: str | Path) -> Usage:
    """Check every template in a cloud assembly directory; BudgetError lists each problem."""
    templates = {path.name: path for path in sorted(Path(directory).glob("*.template.json"))}
    if not templates:
        raise BudgetError(f"no templates in {directory}: synthesize first")
    problems: list[str] = []
    counts: dict[str, list[int]] = defaultdict(list)
    alarms = widgets = metrics = 0
    for name, path in templates.items():
        size = path.stat().st_size
        template = json.loads(path.read_text())
        resources = template.get("Resources", {})
        for what, count, limit in (
            ("resources", len(resources), STACK_MAX_RESOURCES),
            ("outputs", len(template.get("Outputs", {})), STACK_MAX_OUTPUTS),
            ("parameters", len(template.get("Parameters", {})), STACK_MAX_PARAMETERS),
        ):
            counts[what].append(count)
            if count > limit:
                problems.append(
                    f"{name}: {count} {what}, over CloudFormation's {limit} a stack (CloudFormation quotas): "
                    "fewer sources in this deployment"
                )
        counts["bytes"].append(size)
        if size > TEMPLATE_MAX_BYTES:
            problems.append(
                f"{name}: {size:,} bytes, over CloudFormation's {TEMPLATE_MAX_BYTES:,} for a template (CloudFormation "
                "quotas): fewer sources in this deployment"
            )
        problems += _functions(name, resources)
        problems += _role_policies(name, resources)
        found, alarm_problems = _alarms(name, resources)
        alarms += found
        problems += alarm_problems
        for widget_count, metric_count, dashboard_problems in _dashboards(name, resources):
            widgets += widget_count
            metrics += metric_count
            problems += dashboard_problems
    if problems:
        raise BudgetError("the synthesized stacks exceed AWS limits:\n  - " + "\n  - ".join(problems))
    return Usage(
        templates=len(templates),
        largest_resources=max(counts["resources"]),
        largest_outputs=max(counts["outputs"]),
        largest_parameters=max(counts["parameters"]),
        largest_template_bytes=max(counts["bytes"]),
        alarms=alarms,
        dashboard_widgets=widgets,
        dashboard_metrics=metrics,
    )


def bounded_length(value: Any) -> int:
    """Characters of ``value`` once deployed, compact JSON, each deploy-time value at ``TOKEN_BOUND``."""
    if isinstance(value, Mapping):
        if len(value) == 1 and "Ref" in value and value["Ref"] in PSEUDO_PARAMETER_BOUNDS:
            return PSEUDO_PARAMETER_BOUNDS[value["Ref"]]
        if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::ImportValue", "Fn::Select"):
            return TOKEN_BOUND
        if len(value) == 1 and next(iter(value)) == "Fn::Join":
            separator, parts = value["Fn::Join"]
            return sum(_string_length(part) for part in parts) + len(separator) * max(0, len(parts) - 1)
        if len(value) == 1 and next(iter(value)) == "Fn::Sub":
            return len(json.dumps(value["Fn::Sub"])) + TOKEN_BOUND
        inner = sum(len(json.dumps(key)) + 1 + bounded_length(item) for key, item in value.items())
        return 2 + inner + max(0, len(value) - 1)
    if isinstance(value, list):
        return 2 + sum(bounded_length(item) for item in value) + max(0, len(value) - 1)
    return len(json.dumps(value))


def _string_length(part: Any) -> int:
    return len(part) if isinstance(part, str) else bounded_length(part)


def _of_type(resources: Mapping[str, Any], type_: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for logical_id, resource in resources.items():
        if resource.get("Type") == type_:
            yield logical_id, resource.get("Properties", {})


def _functions(name: str, resources: Mapping[str, Any]) -> list[str]:
    problems = []
    for logical_id, properties in _of_type(resources, "AWS::Lambda::Function"):
        variables = properties.get("Environment", {}).get("Variables", {})
        size = sum(len(key) + _value_length(value) for key, value in variables.items())
        if size > LAMBDA_MAX_ENVIRONMENT_BYTES:
            problems.append(
                f"{name} {logical_id}: about {size:,} bytes of environment, over Lambda's 4 KB (Lambda quotas)"
            )
    permissions: dict[str, int] = defaultdict(int)
    for _logical_id, properties in _of_type(resources, "AWS::Lambda::Permission"):
        permissions[json.dumps(properties.get("FunctionName"), sort_keys=True)] += 1
    for function, count in permissions.items():
        if count * LAMBDA_PERMISSION_STATEMENT_BYTES > LAMBDA_MAX_RESOURCE_POLICY_BYTES:
            problems.append(
                f"{name}: {count} invoke permissions on {function}, about {count * LAMBDA_PERMISSION_STATEMENT_BYTES:,}"
                " bytes, over the 20 KB of a function's resource-based policy (Lambda quotas)"
            )
    return problems


def _value_length(value: Any) -> int:
    return len(value) if isinstance(value, str) else bounded_length(value)


def _role_policies(name: str, resources: Mapping[str, Any]) -> list[str]:
    by_role: dict[str, int] = defaultdict(int)
    for _logical_id, properties in _of_type(resources, "AWS::IAM::Policy"):
        size = bounded_length(properties.get("PolicyDocument", {}))
        for role in properties.get("Roles", []):
            by_role[json.dumps(role, sort_keys=True)] += size
    return [
        f"{name}: the inline policies of role {role} take about {size:,} characters, over IAM's "
        f"{IAM_ROLE_MAX_INLINE_POLICY_CHARS:,} a role (IAM and AWS STS quotas)"
        for role, size in by_role.items()
        if size > IAM_ROLE_MAX_INLINE_POLICY_CHARS
    ]


def _alarms(name: str, resources: Mapping[str, Any]) -> tuple[int, list[str]]:
    problems = []
    count = 0
    for logical_id, properties in _of_type(resources, "AWS::CloudWatch::Alarm"):
        count += 1
        queries = properties.get("Metrics", [])
        metrics = sum(1 for query in queries if "MetricStat" in query)
        expressions = sum(1 for query in queries if "Expression" in query)
        if metrics > ALARM_MAX_METRICS or expressions > ALARM_MAX_EXPRESSIONS:
            problems.append(
                f"{name} {logical_id}: {metrics} metrics and {expressions} expressions, over the 10 and 10 an alarm "
                "may read (CloudWatch, metric math alarms)"
            )
        periods = [properties.get("Period", 0)] + [
            q["MetricStat"].get("Period", 0) for q in queries if "MetricStat" in q
        ]
        period = max(p for p in periods if isinstance(p, int))
        window = period * properties.get("EvaluationPeriods", 1)
        most = ALARM_MAX_EVALUATION_SECONDS if period >= 3600 else ALARM_MAX_SHORT_PERIOD_EVALUATION_SECONDS
        if window > most:
            problems.append(
                f"{name} {logical_id}: evaluates {window:,} seconds (period x evaluation periods), over the {most:,} "
                "an alarm may (CloudWatch PutMetricAlarm, Period: 7 days, or 1 day for a period under an hour)"
            )
    return count, problems


def _dashboards(name: str, resources: Mapping[str, Any]) -> Iterator[tuple[int, int, list[str]]]:
    for logical_id, properties in _of_type(resources, "AWS::CloudWatch::Dashboard"):
        body = properties.get("DashboardBody", "")
        if isinstance(body, Mapping) and "Fn::Join" in body:
            separator, parts = body["Fn::Join"]
            body = separator.join(part if isinstance(part, str) else "deploy-time" for part in parts)
        widgets = json.loads(body).get("widgets", [])
        per_widget = [len(widget.get("properties", {}).get("metrics", [])) for widget in widgets]
        problems = []
        if len(widgets) > DASHBOARD_MAX_WIDGETS:
            problems.append(f"{name} {logical_id}: {len(widgets)} widgets, over CloudWatch's 500 a dashboard")
        if any(count > DASHBOARD_MAX_METRICS_PER_WIDGET for count in per_widget):
            problems.append(f"{name} {logical_id}: a widget has over CloudWatch's 500 metrics a widget")
        if sum(per_widget) > DASHBOARD_MAX_METRICS:
            problems.append(f"{name} {logical_id}: {sum(per_widget)} metrics, over CloudWatch's 2,500 a dashboard")
        yield len(widgets), sum(per_widget), problems
