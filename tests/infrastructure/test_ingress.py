"""API Gateway: a POST path per source, byte-exact bodies, throttles, the logs role (web ACL: test_firewall.py)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from shared.contract import source_stack_logical_id
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
    api = _logical_id(default_stack, "AWS::ApiGateway::RestApi")
    ((webhooks_id, webhooks),) = default_stack.resources("AWS::ApiGateway::Resource").items()
    assert webhooks["Properties"]["PathPart"] == "webhooks"
    verifier = {"Fn::GetAtt": [_verifier_id(default_stack), "Arn"]}
    for source in default_stack.config.sources:
        nested = default_stack.source(source.name)
        ((resource_id, resource),) = nested.resources("AWS::ApiGateway::Resource").items()
        assert nested.in_root(resource["Properties"]) == {
            "ParentId": {"Ref": webhooks_id},
            "PathPart": source.name,
            "RestApiId": {"Ref": api},
        }
        (method,) = nested.resources("AWS::ApiGateway::Method").values()
        props = nested.in_root(method["Properties"])
        assert props["HttpMethod"] == "POST" and props["ResourceId"] == {"Ref": resource_id}
        assert props["RestApiId"] == {"Ref": api}
        integration = props["Integration"]
        assert (integration["Type"], integration["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST")
        assert verifier in integration["Uri"]["Fn::Join"][1]


def test_the_api_itself_answers_only_get_root_with_404(default_stack: Synthesized) -> None:
    # A REST API needs a method of its own to be deployed: GET /, a mock answering
    # 404 like any unknown path, that reaches nothing.
    api = _logical_id(default_stack, "AWS::ApiGateway::RestApi")
    (method,) = default_stack.resources("AWS::ApiGateway::Method").values()
    props = method["Properties"]
    assert props["HttpMethod"] == "GET"
    assert props["ResourceId"] == {"Fn::GetAtt": [api, "RootResourceId"]}
    assert props["Integration"]["Type"] == "MOCK"
    assert [r["StatusCode"] for r in props["Integration"]["IntegrationResponses"]] == ["404"]
    assert [r["StatusCode"] for r in props["MethodResponses"]] == ["404"]


def test_one_api_wide_permission_lets_api_gateway_invoke_the_verifier_for_post_webhooks(
    default_stack: Synthesized,
) -> None:
    # One permission for every source (the verifier's resource policy is capped at 20 KB):
    # no nested stack adds one of its own. (EventBridge's, for the allow-list sync, are not API Gateway's.)
    permissions = {
        key: permission
        for key, permission in default_stack.all_resources("AWS::Lambda::Permission").items()
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    assert [where for where, _ in permissions] == [default_stack.config.stack_name]
    (permission,) = permissions.values()
    props = permission["Properties"]
    assert props["FunctionName"] == {"Fn::GetAtt": [_verifier_id(default_stack), "Arn"]}
    assert props["Action"] == "lambda:InvokeFunction" and props["Principal"] == "apigateway.amazonaws.com"
    api = _logical_id(default_stack, "AWS::ApiGateway::RestApi")
    source_arn = props["SourceArn"]["Fn::Join"]
    assert source_arn == [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":execute-api:",
            {"Ref": "AWS::Region"},
            ":",
            {"Ref": "AWS::AccountId"},
            ":",
            {"Ref": api},
            "/*/POST/webhooks/*",
        ],
    ]


def test_the_deployment_waits_for_every_sources_method(default_stack: Synthesized) -> None:
    (deployment,) = default_stack.resources("AWS::ApiGateway::Deployment").values()
    # The methods live in the sources' stacks: deployed before them, the stage would serve none.
    sources = {source_stack_logical_id(source.name) for source in default_stack.config.sources}
    assert sources <= set(deployment["DependsOn"]) and sources <= set(default_stack.nested)


def _verifier_id(synth: Synthesized) -> str:
    (verifier_id,) = [
        logical_id
        for logical_id, function in synth.resources("AWS::Lambda::Function").items()
        if function["Properties"].get("Handler") == "verifier.handler.handler"
    ]
    return str(verifier_id)


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
