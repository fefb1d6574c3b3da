"""GET routes for providers' handshakes: only where a source's provider needs one, throttled, invoked, behind the WAF.

A deployment of four sources: Meta (allow-listed), Okta and Dropbox answer a GET challenge
(docs/handshakes.md); GitHub has none, so its path answers POST only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from stacks.config import parse_config
from stacks.firewall import CANONICAL_PATH_REGEX, source_path_regex
from stacks.ingress import ApiSource, WebhookApi, add_source_methods
from tests.infrastructure.compliance import cfn_lint_errors, checkov_report
from tests.infrastructure.conftest import Synthesized, synthesize

HANDSHAKES = {
    "stack_name": "WebhookKitHandshakes",
    "sources": [
        {"name": "meta", "provider": "meta", "allowed_cidrs": ["198.51.100.0/24"]},
        {"name": "okta", "provider": "okta"},
        {"name": "dropbox", "provider": "dropbox", "throttle_rate": 5, "throttle_burst": 10},
        {"name": "github", "scheme": "github"},
    ],
}
WITH_GET = {"meta", "okta", "dropbox"}


@pytest.fixture(scope="module")
def stack() -> Synthesized:
    return synthesize(parse_config(HANDSHAKES))


def _methods(stack: Synthesized, source: str) -> dict[str, dict[str, Any]]:
    nested = stack.source(source)
    return {
        method["Properties"]["HttpMethod"]: nested.in_root(method["Properties"])
        for method in nested.resources("AWS::ApiGateway::Method").values()
    }


def test_the_configuration_gives_get_exactly_to_the_sources_whose_provider_sends_one(stack: Synthesized) -> None:
    assert {source.name: source.methods for source in stack.config.sources} == {
        "meta": ("POST", "GET"),
        "okta": ("POST", "GET"),
        "dropbox": ("POST", "GET"),
        "github": ("POST",),
    }


def test_a_get_method_exists_only_on_the_paths_of_sources_with_a_get_handshake(stack: Synthesized) -> None:
    for source in stack.config.sources:
        methods = _methods(stack, source.name)
        assert set(methods) == ({"POST", "GET"} if source.name in WITH_GET else {"POST"}), source.name
        # The root's own GET / (a mock answering 404) is the only other method.
    (root_method,) = stack.resources("AWS::ApiGateway::Method").values()
    assert root_method["Properties"]["Integration"]["Type"] == "MOCK"


@pytest.mark.parametrize("source", sorted(WITH_GET))
def test_the_get_is_on_the_sources_path_and_proxied_to_the_verifier_like_its_post(
    stack: Synthesized, source: str
) -> None:
    methods = _methods(stack, source)
    get, post = methods["GET"], methods["POST"]
    assert get["ResourceId"] == post["ResourceId"] and get["RestApiId"] == post["RestApiId"]
    assert get["Integration"] == post["Integration"]
    assert (get["Integration"]["Type"], get["Integration"]["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST")
    assert get["AuthorizationType"] == "NONE"


def test_each_get_has_its_sources_own_throttle(stack: Synthesized) -> None:
    (stage,) = stack.resources("AWS::ApiGateway::Stage").values()
    settings = {(m["ResourcePath"], m["HttpMethod"]): m for m in stage["Properties"]["MethodSettings"]}
    for source in stack.config.sources:
        for method in source.methods:
            setting = settings.pop((f"/~1webhooks~1{source.name}", method))
            assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (
                source.throttle_rate,
                source.throttle_burst,
            )
    assert set(settings) == {("/*", "*")}  # the stage's ceiling, and nothing for a GET that does not exist


def test_api_gateway_may_invoke_the_verifier_for_post_and_get_on_webhooks_only(stack: Synthesized) -> None:
    permissions = stack.all_resources("AWS::Lambda::Permission")
    arns = sorted(p["Properties"]["SourceArn"]["Fn::Join"][1][-1] for p in permissions.values())
    assert arns == ["/*/GET/webhooks/*", "/*/POST/webhooks/*"]


def test_a_deployment_without_handshake_sources_grants_post_only(default_stack: Synthesized) -> None:
    assert all(source.methods == ("POST",) for source in default_stack.config.sources)
    permissions = default_stack.all_resources("AWS::Lambda::Permission").values()
    from_api = [p for p in permissions if p["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert [p["Properties"]["SourceArn"]["Fn::Join"][1][-1] for p in from_api] == ["/*/POST/webhooks/*"]


# --------------------------------------------------------------------------- the web ACL covers the GETs


def _rules(stack: Synthesized) -> dict[str, dict[str, Any]]:
    (acl,) = stack.resources("AWS::WAFv2::WebACL").values()
    return {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}


def _fields_to_match(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [found for item in node for found in _fields_to_match(item)]
    if not isinstance(node, dict):
        return []
    here = [node["FieldToMatch"]] if "FieldToMatch" in node else []
    return here + [found for value in node.values() for found in _fields_to_match(value)]


def test_no_web_acl_rule_reads_the_method_so_every_rule_covers_the_gets(stack: Synthesized) -> None:
    fields = _fields_to_match(list(_rules(stack).values()))
    assert fields and all("Method" not in field for field in fields)
    assert {key for field in fields for key in field} <= {"UriPath", "SingleHeader", "Body"}


def test_the_canonical_path_guard_and_the_allow_list_match_the_get_paths_as_they_match_the_posts(
    stack: Synthesized,
) -> None:
    rules = _rules(stack)
    assert min(rules.values(), key=lambda rule: rule["Priority"])["Name"] == "canonical-path"
    for source in WITH_GET:
        for path in (f"/prod/webhooks/{source}", f"/webhooks/{source}"):
            assert re.fullmatch(CANONICAL_PATH_REGEX, path)
    # Meta is allow-listed: its path rule (and so its block unless from its addresses) matches its path.
    path_rule = rules["path-meta"]["Statement"]["RegexMatchStatement"]
    assert path_rule["RegexString"] == source_path_regex("meta")
    assert path_rule["FieldToMatch"] == {"UriPath": {}}
    assert re.fullmatch(path_rule["RegexString"], "/prod/webhooks/meta")
    assert "allow-list-meta" in rules and "allow-list-okta" not in rules


# --------------------------------------------------------------------------- compliance of the new methods


def test_cdk_nag_has_no_unsuppressed_finding(stack: Synthesized) -> None:
    assert stack.nag_findings == []


def test_cfn_lint_reports_no_error(stack: Synthesized) -> None:
    assert cfn_lint_errors(stack.templates()) == []


def test_checkov_reports_nothing_unskipped(stack: Synthesized, tmp_path: Path) -> None:
    report = checkov_report(stack.templates(), tmp_path)
    assert [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]] == []
    summary = report["summary"]  # --quiet with nothing failed prints the bare summary
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0
    assert summary["passed"] >= 50, summary  # it really scanned the templates


def test_a_head_handshake_gets_its_head_method_throttle_and_permission_as_a_get_does() -> None:
    # No catalogue entry names a HEAD handshake yet (Trello's has no official vector): the
    # constructs are checked on their own, with one source answering HEAD.
    app = cdk.App()
    stack = cdk.Stack(app, "Head")
    verifier = lambda_.Function(
        stack,
        "Verifier",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="x.handler",
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
    )
    api = WebhookApi(
        stack,
        "Ingress",
        api_name="head",
        create_cloudwatch_role=False,
        sources=[ApiSource("trello", 3, 6, ("POST", "HEAD")), ApiSource("github", 4, 8)],
        verifier=verifier,
        stage_name="prod",
        throttle_rate=10,
        throttle_burst=20,
        log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    for source, methods in (("trello", ("POST", "HEAD")), ("github", ("POST",))):
        add_source_methods(
            cdk.NestedStack(stack, f"Source-{source}"),
            source,
            methods=methods,
            api=api.api,
            webhooks=api.webhooks,
            verifier=verifier,
        )
    template = Template.from_stack(stack).to_json()
    stage = next(r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage")
    settings = {(m["ResourcePath"], m["HttpMethod"]) for m in stage["Properties"]["MethodSettings"]}
    assert settings == {
        ("/*", "*"),
        ("/~1webhooks~1trello", "POST"),
        ("/~1webhooks~1trello", "HEAD"),
        ("/~1webhooks~1github", "POST"),
    }
    permissions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
    assert sorted(p["Properties"]["SourceArn"]["Fn::Join"][1][-1] for p in permissions) == [
        "/*/HEAD/webhooks/*",
        "/*/POST/webhooks/*",
    ]
    nested = {
        node.node.id: Template.from_stack(node).to_json()
        for node in stack.node.children
        if isinstance(node, cdk.NestedStack)
    }
    methods_of = {
        name: sorted(
            r["Properties"]["HttpMethod"] for r in body["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"
        )
        for name, body in nested.items()
    }
    assert methods_of == {"Source-trello": ["HEAD", "POST"], "Source-github": ["POST"]}
