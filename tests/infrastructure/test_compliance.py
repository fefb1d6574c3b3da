"""Compliance checks over the whole template: cdk-nag, cfn-lint, least-privilege IAM."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Annotations, Match
from cfnlint.api import lint_all

from tests.infrastructure.conftest import Synthesized


@pytest.fixture(params=["default_stack", "variant_stack"])
def synth(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


def test_cdk_nag_aws_solutions_has_no_unsuppressed_finding(synth: Synthesized) -> None:
    annotations = Annotations.from_stack(synth.stack)
    errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
    findings = [f"{m.id}: {m.entry.data}" for m in [*errors, *warnings]]
    assert findings == []


def test_every_nag_suppression_is_scoped_to_a_resource_with_a_reason(synth: Synthesized) -> None:
    stack_metadata = synth.json.get("Metadata", {})
    assert "cdk_nag" not in stack_metadata, "no stack-wide suppressions"
    suppressed = 0
    for resource in synth.json["Resources"].values():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            suppressed += 1
            assert len(rule["reason"]) >= 40, rule
    assert suppressed > 0


def test_cfn_lint_reports_no_error(synth: Synthesized) -> None:
    matches = lint_all(json.dumps(synth.json))
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_cfn_lint_would_catch_a_broken_template() -> None:
    broken = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}}}
    assert [m for m in lint_all(json.dumps(broken)) if m.rule.id.startswith("E")]


def _statements(synth: Synthesized) -> list[dict]:
    statements = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for role in synth.resources("AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            statements.extend(inline["PolicyDocument"]["Statement"])
    return statements


def test_no_policy_grants_wildcard_actions(synth: Synthesized) -> None:
    for statement in _statements(synth):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert action != "*" and not action.endswith(":*"), statement


def test_no_role_uses_a_managed_policy_except_the_bucket_cleaner_and_api_gateways_logs_role(
    synth: Synthesized,
) -> None:
    for logical_id, role in synth.resources("AWS::IAM::Role").items():
        managed = role["Properties"].get("ManagedPolicyArns", [])
        if logical_id.startswith("CustomS3AutoDeleteObjects"):
            continue  # the CDK's own object-cleaner, only present when retain_data = false
        if "apigateway.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"]):
            # API Gateway's account-level CloudWatch Logs role (api_gateway_cloudwatch_role = "create"):
            # the one policy AWS documents for it, and nothing else.
            (policy,) = managed
            assert json.dumps(policy).endswith(':iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"]]}')
            continue
        assert managed == [], logical_id


def test_wildcard_resources_are_only_xray_logs_streams_and_bucket_objects(synth: Synthesized) -> None:
    for statement in _statements(synth):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            if resource == "*":
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all(a.startswith("xray:") for a in actions), statement
