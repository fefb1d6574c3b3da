"""Alarms (root, per source, per group of sources), the topic, the dashboard, outputs (see test_alarm_wiring.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from shared.allowlists import PRESETS
from shared.contract import source_stack_logical_id
from stacks import source_alarms
from stacks.aws_limits import MAX_SOURCES
from tests.infrastructure.conftest import ROOT, Synthesized, dashboard_metrics, located_alarms


def _alarms(synth: Synthesized) -> list[dict[str, Any]]:
    return [alarm for _, alarm in located_alarms(synth)]


def _alarms_on(synth: Synthesized, metric_name: str) -> list[dict[str, Any]]:
    return [a for a in _alarms(synth) if a.get("MetricName") == metric_name]


def _group_metrics(alarm: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A metric-math alarm's expression and the metrics it reads."""
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData", True)]
    return expression, [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]


def _groups(synth: Synthesized) -> list[list[str]]:
    """The sources of each alarm group: configuration order, ten at a time."""
    names = [source.name for source in synth.config.sources]
    size = source_alarms.METRICS_PER_ALARM
    return [names[start : start + size] for start in range(0, len(names), size)]


def _watched(synth: Synthesized, where: str, metric: dict[str, Any], dimension: str) -> tuple[str, Any]:
    """The resource a metric's dimension names, followed to the template that defines it."""
    (value,) = [d["Value"] for d in metric["Dimensions"] if d["Name"] == dimension]
    return synth.follow(where, value)


def test_every_alarm_notifies_the_topic(default_stack: Synthesized) -> None:
    (topic_id,) = default_stack.resources("AWS::SNS::Topic")
    alarms = located_alarms(default_stack)
    assert {where for where, _ in alarms} == set(default_stack.templates())  # root, sources, groups
    for where, alarm in alarms:
        for actions in ("AlarmActions", "OKActions"):
            assert [default_stack.follow(where, a) for a in alarm[actions]] == [
                (default_stack.config.stack_name, {"Ref": topic_id})
            ]
        # Quiet without data, but for the allow-list sync's staleness: its absence is the problem.
        stale = re.fullmatch(r".+-allowlist-[a-z0-9]+-stale", alarm["AlarmName"])
        assert alarm["TreatMissingData"] == ("breaching" if stale else "notBreaching"), alarm["AlarmName"]


def test_each_dead_letter_queue_alarms_on_one_visible_message(default_stack: Synthesized) -> None:
    # In the source's own stack, never grouped: a second source dead-lettering must page again.
    for where in [default_stack.config.stack_name, *(g.logical_id for g in default_stack.alarm_groups)]:
        alarms = default_stack.templates()[where]["Resources"].values()
        assert not [a for a in alarms if a["Type"] == "AWS::CloudWatch::Alarm" and "MessagesVisible" in str(a)]
    for source in default_stack.config.sources:
        nested = default_stack.source(source.name)
        (alarm,) = [a["Properties"] for a in nested.resources("AWS::CloudWatch::Alarm").values()]
        (dlq,) = [q for q in nested.resources("AWS::SQS::Queue") if q.startswith("QueuesDeadLetterQueue")]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Statistic"] == "Maximum" and alarm["EvaluationPeriods"] == 1


@pytest.mark.parametrize(
    ("entry", "function", "metric_name", "dimension", "threshold"),
    [
        ("oldest-message", "MAX", "ApproximateAgeOfOldestMessage", "QueueName", "oldest_message_alarm_seconds"),
        ("processor-errors", "SUM", "Errors", "FunctionName", None),
        ("processor-throttles", "SUM", "Throttles", "FunctionName", None),
    ],
)
def test_each_group_of_ten_sources_alarms_on_the_worst_of_its_sources(
    variant_stack: Synthesized, entry: str, function: str, metric_name: str, dimension: str, threshold: str | None
) -> None:
    synth = variant_stack
    watched: list[tuple[str, Any]] = []
    first = 1
    for group, members in zip(synth.alarm_groups, _groups(synth), strict=True):
        name = f"{synth.config.stack_name}-sources-{first}-{first + len(members) - 1}-{entry}"
        first += len(members)
        (alarm,) = [
            a["Properties"]
            for a in group.resources("AWS::CloudWatch::Alarm").values()
            if a["Properties"]["AlarmName"] == name
        ]
        expression, metrics = _group_metrics(alarm)
        assert expression.startswith(f"{function}([") and expression.count("FILL(") == len(members)
        assert len(metrics) == len(members) <= source_alarms.METRICS_PER_ALARM
        assert {m["MetricName"] for m in metrics} == {metric_name}
        assert alarm["Threshold"] == (getattr(synth.config, threshold) if threshold else 0)
        watched += [_watched(synth, group.logical_id, m, dimension) for m in metrics]
    # Each source's own work queue or processor, once, followed through the parameters into its stack.
    expected: list[tuple[str, Any]] = []
    for source in synth.config.sources:
        nested = synth.source(source.name)
        if dimension == "QueueName":
            (queue,) = [q for q in nested.resources("AWS::SQS::Queue") if q.startswith("QueuesQueue")]
            expected.append((nested.logical_id, {"Fn::GetAtt": [queue, "QueueName"]}))
        else:
            (processor,) = nested.resources("AWS::Lambda::Function")
            expected.append((nested.logical_id, {"Ref": processor}))
    assert watched == expected


def test_lambda_errors_and_throttles_alarm_for_every_function(default_stack: Synthesized) -> None:
    functions = {
        (where, json.dumps({"Ref": logical_id}))
        for (where, logical_id), resource in default_stack.all_resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler", "").endswith(".handler.handler")
    }
    assert len(functions) == 1 + len(default_stack.config.sources) + 1  # verifier, processors, allow-list sync
    for metric_name in ("Errors", "Throttles"):
        watched = set()
        for where, alarm in located_alarms(default_stack):
            for metric in [alarm] if "MetricName" in alarm else _group_metrics(alarm)[1]:
                if (metric["Namespace"], metric["MetricName"]) == ("AWS/Lambda", metric_name):
                    defined_in, function = _watched(default_stack, where, metric, "FunctionName")
                    watched.add((defined_in, json.dumps(function)))
        assert watched == functions, metric_name


def test_api_5xx_and_waf_block_spike_alarms(default_stack: Synthesized) -> None:
    (api_alarm,) = _alarms_on(default_stack, "5XXError")
    assert api_alarm["Namespace"] == "AWS/ApiGateway" and api_alarm["Threshold"] == 0
    (waf_alarm,) = _alarms_on(default_stack, "BlockedRequests")
    assert waf_alarm["Namespace"] == "AWS/WAFV2"
    assert waf_alarm["Threshold"] == default_stack.config.waf_blocked_alarm_threshold
    dimensions = {d["Name"]: d["Value"] for d in waf_alarm["Dimensions"]}
    (acl,) = default_stack.resources("AWS::WAFv2::WebACL").values()
    assert dimensions["WebACL"] == acl["Properties"]["VisibilityConfig"]["MetricName"] and dimensions["Rule"] == "ALL"


def test_signature_rejection_rate_alarms_watch_every_source_five_at_a_time(default_stack: Synthesized) -> None:
    rate_alarms = [alarm for alarm in _alarms(default_stack) if alarm["AlarmName"].endswith("-signature-rejections")]
    assert len(rate_alarms) == sum(-(-len(group) // 5) for group in _groups(default_stack))
    watched = []
    for alarm in rate_alarms:
        assert alarm["Threshold"] == default_stack.config.rejection_rate_alarm_percent
        expression, metrics = _group_metrics(alarm)
        assert expression.startswith("MAX([")  # the worst source's rate
        assert {m["Namespace"] for m in metrics} == {"WebhookKit"}
        per_source: dict[str, set[str]] = {}
        for metric in metrics:
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            assert dimensions["service"] == "webhook-verifier"
            if metric["MetricName"] == "Rejected":
                assert dimensions["reason"] == "unauthorized"
            per_source.setdefault(dimensions["source"], set()).add(metric["MetricName"])
        assert len(per_source) <= source_alarms.METRICS_PER_ALARM // 2
        assert all(names == {"Accepted", "Rejected"} for names in per_source.values())
        watched += list(per_source)
    assert watched == [source.name for source in default_stack.config.sources]


def test_the_verifier_publishes_under_the_namespace_the_alarms_read() -> None:
    from stacks import source_alarms
    from verifier import handler

    assert handler.metrics.namespace == source_alarms.METRICS_NAMESPACE


def test_one_alarm_watches_every_source_for_secrets_served_stale(default_stack: Synthesized) -> None:
    [alarm] = _alarms_on(default_stack, "SecretsServedStale")
    assert alarm["Namespace"] == "WebhookKit"
    # Exactly the dimensions the verifier emits this metric with (no source: one series for all).
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "webhook-verifier"}]
    assert alarm["AlarmActions"] and alarm["Threshold"] == 0


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(default_stack: Synthesized) -> None:
    (key_id,) = default_stack.resources("AWS::KMS::Key")
    default_stack.template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )
    key = default_stack.resources("AWS::KMS::Key")[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = json.dumps([s.get("Principal") for s in key["KeyPolicy"]["Statement"]])
    assert "cloudwatch.amazonaws.com" in principals


def test_email_subscription_only_when_configured(default_stack: Synthesized, variant_stack: Synthesized) -> None:
    assert not default_stack.resources("AWS::SNS::Subscription")
    variant_stack.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


def test_dashboard_shows_every_source(default_stack: Synthesized) -> None:
    metrics = dashboard_metrics(default_stack)
    on_queues = {(name, json.dumps(d["QueueName"])) for namespace, name, d in metrics if namespace == "AWS/SQS"}
    for source in default_stack.config.sources:
        nested_id = source_stack_logical_id(source.name)
        for name, output in (
            ("ApproximateAgeOfOldestMessage", "QueueName"),
            ("ApproximateNumberOfMessagesVisible", "DeadLetterQueueName"),
        ):
            assert (name, json.dumps({"Fn::GetAtt": [nested_id, f"Outputs.{output}"]})) in on_queues, (source, name)
        assert [d for _, name, d in metrics if name == "Accepted" and d.get("source") == source.name], source


def test_outputs_name_urls_secrets_queues_table_and_dashboard(default_stack: Synthesized) -> None:
    outputs = default_stack.json["Outputs"]
    for name in ("IdempotencyTableName", "ClaimCheckBucketName", "AlarmTopicArn", "DashboardName"):
        assert name in outputs
    # CloudFormation allows 200 outputs a stack: each source's are in its own stack, none in the root.
    assert not [name for name in outputs if any(k in name for k in ("WebhookUrl", "SecretArn", "QueueUrl"))]
    (api,) = default_stack.resources("AWS::ApiGateway::RestApi")
    for source in default_stack.config.sources:
        nested = default_stack.source(source.name)
        for name in ("WebhookUrl", "SecretArn", "QueueUrl", "DeadLetterQueueUrl"):
            assert nested.json["Outputs"][name]["Description"], (source.name, name)
        queues = nested.resources("AWS::SQS::Queue")
        (queue,) = [q for q in queues if q.startswith("QueuesQueue")]
        (dlq,) = [q for q in queues if q.startswith("QueuesDeadLetterQueue")]
        assert nested.output("QueueUrl") == {"Ref": queue} and nested.output("DeadLetterQueueUrl") == {"Ref": dlq}
        _, parts = nested.in_root(nested.output("WebhookUrl"))["Fn::Join"]
        assert parts[:2] == ["https://", {"Ref": api}] and ".execute-api." in parts
        assert parts[-1] == f"/{default_stack.config.stage_name}/webhooks/{source.name}"


def _runbook_headings() -> dict[str, str]:
    """Anchor -> entry (the heading without its backticks) of each runbook entry."""
    return {
        _github_anchor(line): line.removeprefix("### ").strip("`")
        for line in (ROOT / source_alarms.RUNBOOK).read_text().splitlines()
        if line.startswith("### `")
    }


def _runbook_entry(alarm_key: str, source_names: list[str]) -> str:
    """The runbook entry of an alarm key: a group's range as `sources-<i>-<j>` (both halves of a group's
    signature-rejection alarms share one entry), a source's name (the longest that fits) as `<source>`."""
    group = re.fullmatch(r"sources-\d+-\d+-(?:[ab]-(?=signature-rejections$))?(.+)", alarm_key)
    if group:
        return f"sources-<i>-<j>-{group[1]}"
    preset = re.fullmatch(rf"allowlist-(?:{'|'.join(PRESETS)})-(.+)", alarm_key)
    if preset:
        return f"allowlist-<preset>-{preset[1]}"
    for name in sorted(source_names, key=len, reverse=True):
        if alarm_key.startswith(f"{name}-"):
            return "<source>" + alarm_key[len(name) :]
    return alarm_key


def _expected_alarm_count(synth: Synthesized) -> int:
    """One a source and one more if it has enforce = false; a group of ten: three, and one per five
    sources (signature rejections); five global; with presets, two per preset and the sync's errors
    and throttles."""
    own = sum(1 if source.enforce else 2 for source in synth.config.sources)
    presets = {preset for source in synth.config.sources for preset in source.allowed_presets}
    sync = 2 * len(presets) + 2 if presets else 0
    return own + sum(3 + -(-len(group) // 5) for group in _groups(synth)) + 5 + sync


def test_every_alarm_has_a_runbook_entry(default_stack: Synthesized) -> None:
    entries = set(_runbook_headings().values())
    prefix = f"{default_stack.config.stack_name}-"
    keys = [alarm["AlarmName"].removeprefix(prefix) for alarm in _alarms(default_stack)]
    assert len(keys) == _expected_alarm_count(default_stack)
    source_names = [source.name for source in default_stack.config.sources]
    for key in keys:
        entry = _runbook_entry(key, source_names)
        assert entry in entries, f"no runbook entry ### `{entry}` for alarm {key}"


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation but hyphens dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_every_alarm_is_named_after_its_deployment_and_links_its_runbook_entry(
    stack: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stack)
    entries = _runbook_headings()
    source_names = [source.name for source in synth.config.sources]
    alarms = _alarms(synth)
    # Every alarm, the nested stacks' too, is named after the deployment (the root stack).
    assert len(alarms) == _expected_alarm_count(synth)
    prefix = f"{synth.config.stack_name}-"
    for alarm in alarms:
        name = alarm["AlarmName"]
        assert name.startswith(prefix), name
        entry = _runbook_entry(name.removeprefix(prefix), source_names)
        anchor = _github_anchor(f"### `{entry}`")
        assert entries.get(anchor) == entry, f"no runbook heading ### `{entry}` for alarm {name}"
        assert alarm["AlarmDescription"].endswith(f" Runbook: {source_alarms.RUNBOOK}#{anchor}"), name
    assert len({alarm["AlarmName"] for alarm in alarms}) == len(alarms)
    # The longest stack name (128), source name (32) and group range the configuration
    # allows stay within CloudWatch's 255-character alarm names.
    widest = {
        "<source>": "x" * 32,
        "sources-<i>-<j>": f"sources-{MAX_SOURCES}-{MAX_SOURCES}-a",
        "<preset>": max(PRESETS, key=len),
    }
    for entry in entries.values():
        for placeholder, value in widest.items():
            entry = entry.replace(placeholder, value)
        assert 128 + 1 + len(entry) <= 255, entry


# Stand-ins for the pseudo parameters of the environment-agnostic template.
