"""The allow-list sync in the template: schedule, least-privilege IAM, environment, alarms, dashboard.

The shipped configuration names the stripe and github presets; the variant names none.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from allowlist_sync.adapters import FEED_TOTAL_SECONDS
from shared import contract
from shared.allowlists import by_version, load_snapshot
from stacks.budgets import (
    ALARM_MAX_EVALUATION_SECONDS,
    LAMBDA_MAX_ENVIRONMENT_BYTES,
    TOKEN_BOUND,
    BudgetError,
    bounded_length,
    check_assembly,
)
from stacks.config import parse_config
from tests.infrastructure.conftest import Synthesized, dashboard_metrics, joined_json, located_alarms
from tests.infrastructure.iam import actions_of, function_by_handler, resources_of, role_statements


def _presets(synth: Synthesized) -> list[str]:
    return list(dict.fromkeys(preset for source in synth.config.sources for preset in source.allowed_presets))


def _preset_sets(synth: Synthesized) -> dict[str, dict[int, str]]:
    """preset -> IP version -> logical id of its IP set, found by the name the contract gives it."""
    by_name = {r["Properties"].get("Name"): i for i, r in synth.resources("AWS::WAFv2::IPSet").items()}
    return {
        preset: {
            version: by_name[contract.preset_ip_set_name(synth.config.stack_name, preset, version)]
            for version in by_version(load_snapshot(preset).ranges)
        }
        for preset in _presets(synth)
    }


def _sync_function(synth: Synthesized) -> tuple[str, dict[str, Any]]:
    return function_by_handler(synth, contract.ALLOWLIST_SYNC_HANDLER)


def _rate_hours(expression: str) -> int:
    match = re.fullmatch(r"rate\((\d+) (hour|hours|day|days)\)", expression)
    assert match, expression
    return int(match[1]) * (24 if match[2].startswith("day") else 1)


def test_the_preset_ip_sets_hold_the_snapshots_under_the_contracts_names(default_stack: Synthesized) -> None:
    sets = _preset_sets(default_stack)
    assert {preset: set(versions) for preset, versions in sets.items()} == {"stripe": {4}, "github": {4, 6}}
    for preset, versions in sets.items():
        for version, logical_id in versions.items():
            properties = default_stack.resources("AWS::WAFv2::IPSet")[logical_id]["Properties"]
            assert properties["IPAddressVersion"] == f"IPV{version}" and properties["Scope"] == "REGIONAL"
            assert properties["Addresses"] == list(by_version(load_snapshot(preset).ranges)[version])


def test_the_sync_runs_at_the_configured_rate_and_after_each_deploy(default_stack: Synthesized) -> None:
    function_id, _ = _sync_function(default_stack)
    rules = [r["Properties"] for r in default_stack.resources("AWS::Events::Rule").values()]
    (schedule,) = [rule for rule in rules if "ScheduleExpression" in rule]
    assert _rate_hours(schedule["ScheduleExpression"]) == default_stack.config.allowlist_sync_hours
    (after_deploy,) = [rule for rule in rules if "EventPattern" in rule]
    assert after_deploy["EventPattern"] == {
        "source": ["aws.cloudformation"],
        "detail-type": ["CloudFormation Stack Status Change"],
        "detail": {
            "stack-id": [{"Ref": "AWS::StackId"}],
            "status-details": {"status": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]},
        },
    }
    for rule in (schedule, after_deploy):
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
    # EventBridge may invoke the function, from these two rules only.
    permissions = [
        p["Properties"]
        for p in default_stack.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert sorted(p["SourceArn"]["Fn::GetAtt"][0] for p in permissions) == sorted(
        i for i, r in default_stack.resources("AWS::Events::Rule").items()
    )
    assert {p["Principal"] for p in permissions} == {"events.amazonaws.com"}


def test_the_sync_may_only_read_and_update_the_preset_ip_sets(default_stack: Synthesized) -> None:
    _, function = _sync_function(default_stack)
    statements = role_statements(default_stack, function)
    beyond_logs = [s for s in statements if not all(action.startswith(("logs:", "xray:")) for action in actions_of(s))]
    (waf,) = beyond_logs
    assert waf["Effect"] == "Allow" and "Condition" not in waf
    assert sorted(actions_of(waf)) == ["wafv2:GetIPSet", "wafv2:UpdateIPSet"]
    arns = [{"Fn::GetAtt": [i, "Arn"]} for versions in _preset_sets(default_stack).values() for i in versions.values()]
    assert sorted(map(str, resources_of(waf))) == sorted(map(str, arns)) and len(arns) == 3
    # The factory's own statements: the function's log group, and X-Ray (which has no resource-level permissions).
    for statement in statements:
        if statement is waf:
            continue
        for resource in resources_of(statement):
            assert resource == "*" if actions_of(statement)[0].startswith("xray:") else "Logs" in str(resource)


def test_the_sync_environment_names_each_presets_ip_sets(default_stack: Synthesized) -> None:
    _, function = _sync_function(default_stack)
    variables = function["Properties"]["Environment"]["Variables"]
    targets = joined_json(variables[contract.ENV_ALLOWLIST_TARGETS])
    assert targets == {
        preset: {str(version): {"Ref": logical_id} for version, logical_id in versions.items()}
        for preset, versions in _preset_sets(default_stack).items()
    }
    assert variables[contract.ENV_ALLOWLIST_MAX_CHANGE_PERCENT] == str(
        default_stack.config.allowlist_max_change_percent
    )
    assert variables[contract.ENV_ALLOWLIST_CONFIRM_SECONDS] == str(contract.DEFAULT_ALLOWLIST_CONFIRM_SECONDS)
    assert variables["POWERTOOLS_SERVICE_NAME"] == contract.ALLOWLIST_SYNC_SERVICE
    # The synth's budget check counts each IP set's Ref at its bound, and the whole fits Lambda's 4 KB.
    assert bounded_length(variables[contract.ENV_ALLOWLIST_TARGETS]) > 3 * TOKEN_BOUND
    assert sum(len(k) + bounded_length(v) for k, v in variables.items()) < LAMBDA_MAX_ENVIRONMENT_BYTES / 2
    check_assembly(default_stack.stack.node.root.outdir)  # raises on any budget passed
    # Per preset, two fetches as long as the sync lets one take and the confirming pause fit the timeout.
    per_preset = 2 * FEED_TOTAL_SECONDS + contract.DEFAULT_ALLOWLIST_CONFIRM_SECONDS
    assert function["Properties"]["Timeout"] > len(_presets(default_stack)) * per_preset


def _alarm(synth: Synthesized, key: str) -> dict[str, Any]:
    (alarm,) = [a for _, a in located_alarms(synth) if a["AlarmName"] == f"{synth.config.stack_name}-{key}"]
    return alarm


def test_each_preset_alarms_on_a_failed_sync_and_on_no_successful_one_for_two_intervals(
    default_stack: Synthesized,
) -> None:
    (topic,) = default_stack.resources("AWS::SNS::Topic")
    hours = default_stack.config.allowlist_sync_hours
    for preset in _presets(default_stack):
        dimensions = [
            {"Name": "preset", "Value": preset},
            {"Name": "service", "Value": contract.ALLOWLIST_SYNC_SERVICE},
        ]
        failed = _alarm(default_stack, f"allowlist-{preset}-sync-failed")
        stale = _alarm(default_stack, f"allowlist-{preset}-stale")
        for alarm in (failed, stale):
            assert alarm["Namespace"] == contract.METRICS_NAMESPACE and alarm["Statistic"] == "Sum"
            assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == dimensions
            assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": topic}]
        assert failed["MetricName"] == contract.METRIC_ALLOWLIST_SYNC_FAILED
        assert (failed["ComparisonOperator"], failed["Threshold"]) == ("GreaterThanThreshold", 0)  # >= 1 failure
        assert failed["TreatMissingData"] == "notBreaching"
        assert stale["MetricName"] == contract.METRIC_ALLOWLIST_SYNCED
        assert (stale["ComparisonOperator"], stale["Threshold"]) == ("LessThanThreshold", 1)
        assert stale["Period"] == 2 * hours * 3600 and stale["EvaluationPeriods"] == 1
        # No data is the alarm: a function that never runs reports nothing at all.
        assert stale["TreatMissingData"] == "breaching"
    # And the function's own errors and throttles, as every function of the kit has.
    function_id, _ = _sync_function(default_stack)
    for key, metric in (("allowlist-sync-errors", "Errors"), ("allowlist-sync-throttles", "Throttles")):
        alarm = _alarm(default_stack, key)
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", metric)
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
        assert alarm["AlarmActions"] == [{"Ref": topic}]


def test_the_dashboard_shows_each_presets_runs_and_changes(default_stack: Synthesized) -> None:
    shown = {
        (name, dimensions.get("preset"))
        for namespace, name, dimensions in dashboard_metrics(default_stack)
        if namespace == contract.METRICS_NAMESPACE and dimensions.get("service") == contract.ALLOWLIST_SYNC_SERVICE
    }
    assert shown == {
        (name, preset)
        for preset in _presets(default_stack)
        for name in (
            contract.METRIC_ALLOWLIST_SYNCED,
            contract.METRIC_ALLOWLIST_SYNC_FAILED,
            contract.METRIC_ALLOWLIST_RANGES_ADDED,
            contract.METRIC_ALLOWLIST_RANGES_REMOVED,
        )
    }


def test_a_deployment_naming_no_preset_has_no_sync(variant_stack: Synthesized) -> None:
    assert not _presets(variant_stack)
    assert not [
        f
        for f in variant_stack.all_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == contract.ALLOWLIST_SYNC_HANDLER
    ]
    assert not variant_stack.all_resources("AWS::Events::Rule")
    assert not [a for _, a in located_alarms(variant_stack) if "-allowlist-" in a["AlarmName"]]
    # Its allow-lists are static IP sets, named by CloudFormation.
    assert not [r for r in variant_stack.resources("AWS::WAFv2::IPSet").values() if "Name" in r["Properties"]]


def test_the_staleness_alarm_of_the_longest_interval_fits_what_cloudwatch_evaluates(tmp_path: Path) -> None:
    # Two intervals in one period: at the configuration's most (72 hours), within PutMetricAlarm's 7 days.
    longest = parse_config({"allowlist_sync_hours": 72, "sources": [{"name": "gh", "scheme": "github"}]})
    assert 2 * longest.allowlist_sync_hours * 3600 <= ALARM_MAX_EVALUATION_SECONDS
    # And synth's budget check refuses an alarm that looks back further.
    alarm = {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Period": 2 * 85 * 3600, "EvaluationPeriods": 1}}
    (tmp_path / "Kit.template.json").write_text(json.dumps({"Resources": {"Stale": alarm}}))
    with pytest.raises(BudgetError, match=r"Stale: evaluates 612,000 seconds .* over the 604,800 .*PutMetricAlarm"):
        check_assembly(tmp_path)
