"""API Gateway and WAF: one POST path per source, byte-exact bodies, a firewall in front."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from stacks.firewall import integer_greater_than_regex, source_path_regex
from tests.infrastructure.conftest import Synthesized


def _logical_id(synth: Synthesized, type_: str) -> str:
    (logical_id,) = synth.resources(type_).keys()
    return logical_id


def test_api_is_regional_and_passes_every_body_through_as_binary(default_stack: Synthesized) -> None:
    default_stack.template.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {"EndpointConfiguration": {"Types": ["REGIONAL"]}, "BinaryMediaTypes": ["*/*"]},
    )


def test_api_has_exactly_post_webhooks_source_for_each_source(default_stack: Synthesized) -> None:
    resources = default_stack.resources("AWS::ApiGateway::Resource")
    parts = {r["Properties"]["PathPart"] for r in resources.values()}
    assert parts == {"webhooks", "stripe", "github", "orders"}
    methods = default_stack.resources("AWS::ApiGateway::Method")
    assert {m["Properties"]["HttpMethod"] for m in methods.values()} == {"POST"}
    assert len(methods) == len(default_stack.config.sources)
    for method in methods.values():
        integration = method["Properties"]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert "Verifier" in json.dumps(integration["Uri"])


def test_stage_has_access_logs_metrics_tracing_and_throttling(default_stack: Synthesized) -> None:
    config = default_stack.config
    default_stack.template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": config.stage_name,
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("status")},
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "ResourcePath": "/*",
                            "HttpMethod": "*",
                            "MetricsEnabled": True,
                            "ThrottlingRateLimit": config.api_throttle_rate,
                            "ThrottlingBurstLimit": config.api_throttle_burst,
                        }
                    )
                ]
            ),
        },
    )


def test_unknown_paths_answer_404(default_stack: Synthesized) -> None:
    default_stack.template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {"ResponseType": "MISSING_AUTHENTICATION_TOKEN", "StatusCode": "404"},
    )


def test_web_acl_is_regional_and_associated_with_the_stage(default_stack: Synthesized) -> None:
    default_stack.template.has_resource_properties(
        "AWS::WAFv2::WebACL", {"Scope": "REGIONAL", "DefaultAction": {"Allow": {}}}
    )
    acl = _logical_id(default_stack, "AWS::WAFv2::WebACL")
    stage = _logical_id(default_stack, "AWS::ApiGateway::Stage")
    association = default_stack.template.find_resources("AWS::WAFv2::WebACLAssociation")
    assert len(association) == 1
    properties = next(iter(association.values()))["Properties"]
    assert properties["WebACLArn"] == {"Fn::GetAtt": [acl, "Arn"]}
    assert stage in json.dumps(properties["ResourceArn"])


def _rules(synth: Synthesized) -> dict[str, dict]:
    acl = next(iter(synth.resources("AWS::WAFv2::WebACL").values()))
    return {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}


def test_web_acl_has_ip_reputation_rate_and_body_size_rules(default_stack: Synthesized) -> None:
    rules = _rules(default_stack)
    reputation = rules["AWSManagedRulesAmazonIpReputationList"]["Statement"]["ManagedRuleGroupStatement"]
    assert reputation == {"VendorName": "AWS", "Name": "AWSManagedRulesAmazonIpReputationList"}
    rate = rules["rate-limit"]
    assert rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == default_stack.config.waf_rate_limit
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    body = rules["body-size"]
    assert body["Action"] == {"Block": {}}
    # 1 MiB is beyond what WAF reads of a body: it compares the declared length.
    regex = body["Statement"]["RegexMatchStatement"]
    assert regex["FieldToMatch"] == {"SingleHeader": {"Name": "content-length"}}
    assert re.fullmatch(regex["RegexString"], str(default_stack.config.max_body_bytes + 1))
    assert not re.fullmatch(regex["RegexString"], str(default_stack.config.max_body_bytes))
    priorities = sorted(rule["Priority"] for rule in rules.values())
    assert priorities == list(range(len(rules)))


def test_default_sources_without_cidrs_get_no_allow_list(default_stack: Synthesized) -> None:
    assert not default_stack.resources("AWS::WAFv2::IPSet")
    assert not [name for name in _rules(default_stack) if name.startswith("allow-list")]


def test_body_cap_within_waf_inspection_is_measured_on_the_body(variant_stack: Synthesized) -> None:
    body = _rules(variant_stack)["body-size"]["Statement"]["SizeConstraintStatement"]
    assert body["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    assert body["ComparisonOperator"] == "GT"
    assert body["Size"] == 8192


def test_each_allow_listed_source_gets_ip_sets_and_a_blocking_rule(variant_stack: Synthesized) -> None:
    ip_sets = variant_stack.resources("AWS::WAFv2::IPSet")
    addresses = {
        (props["IPAddressVersion"], tuple(props["Addresses"])) for props in (r["Properties"] for r in ip_sets.values())
    }
    assert addresses == {
        ("IPV4", ("3.18.12.63/32", "3.130.192.231/32")),
        ("IPV6", ("2600:1f18::/36",)),
        ("IPV4", ("203.0.113.0/24",)),
    }
    rules = _rules(variant_stack)
    assert "allow-list-twilio-sms" not in rules
    for source in ("stripe", "erp"):
        rule = rules[f"allow-list-{source}"]
        assert rule["Action"] == {"Block": {}}
        on_path, negated = rule["Statement"]["AndStatement"]["Statements"]
        labelled_paths = _labelled_paths(variant_stack, before=f"allow-list-{source}")
        assert labelled_paths[on_path["LabelMatchStatement"]["Key"]] == source_path_regex(source)
        assert _ip_set_refs(negated["NotStatement"]["Statement"]) == _ip_set_ids_of(variant_stack, source)
    assert len(_ip_set_ids_of(variant_stack, "stripe")) == 2  # IPv4 and IPv6


def test_path_rules_only_label_and_decode_the_path_first(variant_stack: Synthesized) -> None:
    for name in ("path-stripe", "path-erp"):
        rule = _rules(variant_stack)[name]
        assert rule["Action"] == {"Count": {}}  # labels the request, decides nothing
        transformations = rule["Statement"]["RegexMatchStatement"]["TextTransformations"]
        assert [t["Type"] for t in transformations] == ["URL_DECODE", "NORMALIZE_PATH"]


def _labelled_paths(synth: Synthesized, *, before: str) -> dict[str, str]:
    """Label -> the path regex of the rule that adds it, for rules that run before rule ``before``."""
    rules = _rules(synth)
    return {
        label["Name"]: rule["Statement"]["RegexMatchStatement"]["RegexString"]
        for rule in rules.values()
        if rule["Priority"] < rules[before]["Priority"]
        for label in rule.get("RuleLabels", [])
    }


def test_source_path_regex_matches_the_source_path_with_or_without_stage() -> None:
    pattern = re.compile(source_path_regex("stripe"))
    for path in ("/webhooks/stripe", "/prod/webhooks/stripe", "/prod/webhooks/stripe/"):
        assert pattern.match(path), path
    for path in ("/prod/webhooks/stripe2", "/prod/webhooks/github", "/a/b/webhooks/stripe", "/prod/webhooks/stripe/x"):
        assert not pattern.match(path), path


def test_integer_regex_is_exactly_greater_than() -> None:
    for limit in (1, 8, 9, 10, 99, 100, 1999, 65536, 1048576):
        pattern = re.compile(integer_greater_than_regex(limit))
        wrong = [n for n in range(0, 3 * limit + 100) if bool(pattern.match(str(n))) != (n > limit)]
        assert wrong == [], (limit, wrong[:5])
        assert pattern.match("0" + str(limit + 1)) and not pattern.match("0" + str(limit))


def _stage_method_settings(synth: Synthesized) -> dict[tuple[str, str], dict]:
    (stage,) = synth.resources("AWS::ApiGateway::Stage").values()
    return {(m["ResourcePath"], m["HttpMethod"]): m for m in stage["Properties"]["MethodSettings"]}


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_each_source_has_its_own_method_throttle_under_the_stage_ceiling(
    stack: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stack)
    config = synth.config
    settings = _stage_method_settings(synth)
    ceiling = settings.pop(("/*", "*"))
    assert (ceiling["ThrottlingRateLimit"], ceiling["ThrottlingBurstLimit"]) == (
        config.api_throttle_rate,
        config.api_throttle_burst,
    )
    # API Gateway escapes the resource path's slashes as "~1".
    expected = {(f"/~1webhooks~1{source.name}", "POST"): source for source in config.sources}
    assert set(settings) == set(expected)
    for key, source in expected.items():
        assert settings[key]["ThrottlingRateLimit"] == source.throttle_rate
        assert settings[key]["ThrottlingBurstLimit"] == source.throttle_burst
        assert settings[key]["MetricsEnabled"] is True
    if stack == "variant_stack":
        stripe = settings[("/~1webhooks~1stripe", "POST")]
        assert (stripe["ThrottlingRateLimit"], stripe["ThrottlingBurstLimit"]) == (20, 40)


def _ip_set_ids_of(synth: Synthesized, source: str) -> set[str]:
    return {
        logical_id
        for logical_id, ip_set in synth.resources("AWS::WAFv2::IPSet").items()
        if ip_set["Properties"]["Description"].endswith(f"source {source}")
    }


def _ip_set_refs(statement: dict) -> set[str]:
    """The IP sets a statement (an IP set reference, or an OR of them) matches."""
    if "IPSetReferenceStatement" in statement:
        return {statement["IPSetReferenceStatement"]["Arn"]["Fn::GetAtt"][0]}
    refs = [_ip_set_refs(s) for s in statement["OrStatement"]["Statements"]]
    return set().union(*refs)


def test_rate_rule_does_not_count_allow_listed_providers_on_their_own_path(variant_stack: Synthesized) -> None:
    rate = _rules(variant_stack)["rate-limit"]
    labelled_paths = _labelled_paths(variant_stack, before="rate-limit")
    scope_down = rate["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    # Capacity units: the costly regex and text transformations run once, in the labelling rules.
    assert "Regex" not in json.dumps(scope_down) and "TextTransformations" not in json.dumps(scope_down)
    excluded = scope_down["NotStatement"]["Statement"]
    exempt: dict[str, set[str]] = {}
    for pair in excluded["OrStatement"]["Statements"]:
        label, addresses = pair["AndStatement"]["Statements"]
        assert label["LabelMatchStatement"]["Scope"] == "LABEL"
        path = labelled_paths[label["LabelMatchStatement"]["Key"]]
        exempt[path] = _ip_set_refs(addresses)
    allow_listed = [source for source in variant_stack.config.sources if source.allowed_cidrs]
    assert len(allow_listed) == 2
    assert exempt == {source_path_regex(s.name): _ip_set_ids_of(variant_stack, s.name) for s in allow_listed}
    assert all(exempt.values())


def test_rate_rule_counts_everything_when_no_source_is_allow_listed(default_stack: Synthesized) -> None:
    rate = _rules(default_stack)["rate-limit"]["Statement"]["RateBasedStatement"]
    assert "ScopeDownStatement" not in rate


def _waf_regexes(node: Any) -> list[str]:
    """Every regular expression WAF is given anywhere in the template."""
    if isinstance(node, list):
        return [regex for item in node for regex in _waf_regexes(item)]
    if not isinstance(node, dict):
        return []
    found = [node["RegexString"]] if isinstance(node.get("RegexString"), str) else []
    found += node.get("RegularExpressionList", []) if isinstance(node.get("RegularExpressionList"), list) else []
    return found + [regex for key, value in node.items() if key != "RegexString" for regex in _waf_regexes(value)]


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_no_waf_regex_has_a_capturing_group(stack: str, request: pytest.FixtureRequest) -> None:
    # AWS WAF Developer Guide, "Supported regular expression syntax in AWS WAF": it
    # does not support "backreferences and capturing subexpressions"; (?:...) groups.
    synth: Synthesized = request.getfixturevalue(stack)
    regexes = _waf_regexes(synth.json["Resources"])
    expected = 1 + sum(1 for source in synth.config.sources if source.allowed_cidrs)  # body size + path rules
    if synth.config.max_body_bytes <= synth.config.waf_body_inspection_kb * 1024:
        expected -= 1  # the body is measured, not matched by regex
    assert len(regexes) == expected > 0
    for regex in regexes:
        assert re.compile(regex).groups == 0, regex  # Python counts capturing groups, named ones included


def _push_to_cloudwatch_logs_policy() -> dict:
    return {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"],
        ]
    }


def _roles_assumed_by_api_gateway(synth: Synthesized) -> dict[str, dict]:
    return {
        logical_id: role
        for logical_id, role in synth.resources("AWS::IAM::Role").items()
        if "apigateway.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    }


def test_created_cloudwatch_role_is_set_for_the_account_before_the_stage_logs(default_stack: Synthesized) -> None:
    # A REST API stage with access logs fails to deploy ("CloudWatch Logs role ARN must be
    # set in account settings to enable logging") until AWS::ApiGateway::Account names a role.
    assert default_stack.config.api_gateway_cloudwatch_role == "create"
    (role_id, role), *others = _roles_assumed_by_api_gateway(default_stack).items()
    assert others == []
    assert role["Properties"]["ManagedPolicyArns"] == [_push_to_cloudwatch_logs_policy()]
    assert "Policies" not in role["Properties"]
    statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statements == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}}
    ]
    ((account_id, account),) = default_stack.resources("AWS::ApiGateway::Account").items()
    assert account["Properties"] == {"CloudWatchRoleArn": {"Fn::GetAtt": [role_id, "Arn"]}}
    # Shared by every API of the account and Region: kept when this stack is deleted.
    assert role["DeletionPolicy"] == "Retain" and account["DeletionPolicy"] == "Retain"
    (stage,) = default_stack.resources("AWS::ApiGateway::Stage").values()
    assert "AccessLogSetting" in stage["Properties"]
    assert account_id in stage["DependsOn"]
    nag = role["Metadata"]["cdk_nag"]["rules_to_suppress"]
    assert [rule["id"] for rule in nag] == ["AwsSolutions-IAM4"]
    assert nag[0]["applies_to"] == [
        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    ]


def test_existing_cloudwatch_role_leaves_the_account_setting_alone(variant_stack: Synthesized) -> None:
    assert variant_stack.config.api_gateway_cloudwatch_role == "existing"
    assert not variant_stack.resources("AWS::ApiGateway::Account")
    assert not _roles_assumed_by_api_gateway(variant_stack)
    (stage,) = variant_stack.resources("AWS::ApiGateway::Stage").values()
    assert "AccessLogSetting" in stage["Properties"]  # logs through the role the account already names
