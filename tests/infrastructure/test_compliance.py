"""Compliance checks over every template, the root's and each nested stack's: cdk-nag, cfn-lint, least-privilege IAM."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_all

from tests.infrastructure.conftest import Synthesized, nag_findings
from tests.infrastructure.iam import actions_of, all_statements, resources_of


@pytest.fixture(params=["default_stack", "variant_stack"])
def synth(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


def test_cdk_nag_aws_solutions_has_no_unsuppressed_finding(synth: Synthesized) -> None:
    assert synth.nested, "the sources' and alarm groups' nested stacks are checked too"
    assert synth.nag_findings == []


def test_cdk_nag_findings_inside_a_nested_stack_are_reported() -> None:
    # The harness reads findings as test_cdk_nag_aws_solutions_has_no_unsuppressed_finding does:
    # a queue without a DLQ or TLS-only policy, one stack down, must not go unseen.
    app = cdk.App()
    root = cdk.Stack(app, "Root")
    sqs.Queue(cdk.NestedStack(root, "Inner"), "Bare")
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    findings = nag_findings(app.synth(), root)
    assert [f for f in findings if f.startswith("/Root/Inner/Bare/Resource: AwsSolutions-SQS4")], findings


def test_every_nag_suppression_is_scoped_to_a_resource_with_a_reason(synth: Synthesized) -> None:
    suppressed = 0
    for where, template in synth.templates().items():
        assert "cdk_nag" not in template.get("Metadata", {}), f"no stack-wide suppressions ({where})"
        for resource in template["Resources"].values():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                suppressed += 1
                assert len(rule["reason"]) >= 40, rule
    assert suppressed > 0


def test_cfn_lint_reports_no_error(synth: Synthesized) -> None:
    errors = [
        f"{where}: {m.rule.id} {m.message}"
        for where, template in synth.templates().items()
        for m in lint_all(json.dumps(template))
        if m.rule.id.startswith("E")
    ]
    assert errors == []


def test_cfn_lint_would_catch_a_broken_template() -> None:
    broken = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}}}
    assert [m for m in lint_all(json.dumps(broken)) if m.rule.id.startswith("E")]


def test_no_policy_grants_wildcard_actions(synth: Synthesized) -> None:
    statements = all_statements(synth)
    assert len(statements) > len(synth.config.sources)  # every processor's policy is read, in its own stack
    for statement in statements:
        for action in actions_of(statement):
            assert action != "*" and not action.endswith(":*"), statement


def test_no_role_uses_a_managed_policy_except_the_bucket_cleaner_and_api_gateways_logs_role(
    synth: Synthesized,
) -> None:
    roles = synth.all_resources("AWS::IAM::Role")
    assert len(roles) > len(synth.config.sources)
    for (_, logical_id), role in roles.items():
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
    for statement in all_statements(synth):
        for resource in resources_of(statement):
            if resource == "*":
                assert all(a.startswith("xray:") for a in actions_of(statement)), statement
