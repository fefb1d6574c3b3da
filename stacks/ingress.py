"""The front door: a regional REST API behind a WAF web ACL, one path per source."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from cdk_nag import NagSuppressions
from constructs import Construct

from shared import contract
from stacks.checkov import LOG_GROUP_SKIPS, skip_checks

WEBHOOK_PATH_PREFIX = contract.WEBHOOK_PATH_PREFIX


@dataclass(frozen=True)
class FirewallSource:
    """What the firewall needs to know of a source."""

    name: str
    allowed_cidrs: Sequence[str] = ()


@dataclass(frozen=True)
class ApiSource:
    """What the API needs to know of a source: its path segment and its own throttle."""

    name: str
    throttle_rate: int
    throttle_burst: int


class WebhookApi(Construct):
    """API Gateway REST API: ``POST /webhooks/{source}`` for each source, and nothing else.

    Binary media type ``*/*`` makes API Gateway hand every body to the verifier
    base64-encoded and untouched, so signatures are checked over the exact bytes
    sent. The stage writes JSON access logs, metrics and X-Ray traces, and
    throttles before the function is reached: each source's POST method has
    a token bucket of its own, so a flood on one source's URL is answered 429
    there and the other sources keep their capacity.

    ``api_name`` must be unique to the deployment: CloudWatch keys the API's
    metrics on it (dimension ``ApiName``), so two APIs of one name in an account
    and region share, and sum, one series. ``create_cloudwatch_role`` makes the
    Region's API Gateway account settings name a CloudWatch Logs role (a role
    and ``AWS::ApiGateway::Account``): REST API stages refuse access-log
    settings until that setting exists.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_name: str,
        create_cloudwatch_role: bool,
        sources: Sequence[ApiSource],
        verifier: lambda_.IFunction,
        stage_name: str,
        throttle_rate: int,
        throttle_burst: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention, removal_policy=removal_policy)
        skip_checks(self.access_logs, LOG_GROUP_SKIPS)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=api_name,
            description="webhook-kit: receives third-party webhooks",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            binary_media_types=["*/*"],
            cloud_watch_role=create_cloudwatch_role,
            # The account setting outlives the stack and other APIs of the account may
            # log through it: deleting the role with the stack would break their logging.
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if create_cloudwatch_role else None,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=throttle_rate,
                throttling_burst_limit=throttle_burst,
                method_options={
                    f"/{WEBHOOK_PATH_PREFIX}/{source.name}/POST": apigw.MethodDeploymentOptions(
                        # A method's own setting replaces the stage's for it, metrics included.
                        metrics_enabled=True,
                        throttling_rate_limit=source.throttle_rate,
                        throttling_burst_limit=source.throttle_burst,
                    )
                    for source in sources
                },
            ),
        )
        # An unknown path would otherwise answer 403 "Missing Authentication Token".
        self.api.add_gateway_response(
            "UnknownPath",
            type=apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
            status_code="404",
            templates={"application/json": '{"message": "not found"}'},
        )
        integration = apigw.LambdaIntegration(verifier, proxy=True, allow_test_invoke=False)
        webhooks = self.api.root.add_resource(WEBHOOK_PATH_PREFIX)
        self.methods: dict[str, apigw.Method] = {}
        for source in sources:
            method = webhooks.add_resource(source.name).add_method("POST", integration)
            self.methods[source.name] = method
            skip_checks(
                method,
                {
                    "CKV_AWS_59": "Providers cannot present AWS credentials; each webhook is authenticated by its "
                    "signature in the verifier, behind the WAF."
                },
            )
            NagSuppressions.add_resource_suppressions(
                method,
                [
                    {
                        "id": "AwsSolutions-APIG4",
                        "reason": "Providers cannot present AWS or Cognito credentials; each webhook is "
                        "authenticated by its signature in the verifier, behind the WAF.",
                    },
                    {
                        "id": "AwsSolutions-COG4",
                        "reason": "Providers cannot use a Cognito user pool; webhooks are authenticated by signature.",
                    },
                ],
            )
        NagSuppressions.add_resource_suppressions(
            self.api,
            [
                {
                    "id": "AwsSolutions-APIG2",
                    "reason": "The body must reach the verifier byte-exact; it validates the request itself.",
                },
            ],
        )
        skip_checks(
            self.api.deployment_stage,
            {
                "CKV_AWS_120": "Each webhook POST must reach the verifier; a cached answer would acknowledge "
                "webhooks that were never stored."
            },
        )
        NagSuppressions.add_resource_suppressions(
            self.api.deployment_stage,
            [
                {
                    "id": "AwsSolutions-APIG6",
                    "reason": "Execution logging stays off: JSON access logs, metrics and X-Ray tracing record "
                    "every request, and execution logs would add a second log line per request.",
                },
            ],
        )
        if create_cloudwatch_role:
            role = self.api.node.find_child("CloudWatchRole")
            NagSuppressions.add_resource_suppressions(
                role,
                [
                    {
                        "id": "AwsSolutions-IAM4",
                        "reason": "API Gateway's account-level CloudWatch Logs role: AWS documents (and the CDK "
                        "attaches) the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs policy for it; only the "
                        "API Gateway service can assume it.",
                        "appliesTo": [
                            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                            "AmazonAPIGatewayPushToCloudWatchLogs"
                        ],
                    }
                ],
            )

    def url_for(self, source_name: str) -> str:
        return self.api.url_for_path(f"/{WEBHOOK_PATH_PREFIX}/{source_name}")


class WebhookFirewall(Construct):
    """A REGIONAL WAF web ACL for the API stage, its rules generated from configuration.

    In priority order: per-source IP allow-lists (one rule labels a request to
    an allow-listed source's path, the next blocks it unless it comes from the
    source's addresses), the AWS managed IP-reputation list, a per-IP rate
    limit, and the body-size cap.

    The rate limit does not count an allow-listed provider's requests to its
    own source's path. A provider sends every delivery from a few addresses,
    so a busy burst trips a per-IP limit meant for single attackers, and some
    providers never retry a refused delivery (GitHub). Those requests stay
    bounded by the source's own API Gateway throttle and still need a valid
    signature. The exemption reuses what the allow-list rule already computes:
    its path match labels the request (the costly part: a regex and two text
    transformations, evaluated once per source), and the rate rule's scope-down
    only matches that label and the same IP sets, a few capacity units a source.

    ``metric_name`` is the web ACL's CloudWatch metric name, which AWS WAF
    reports as the ``WebACL`` dimension of its metrics (AWS WAF Developer Guide,
    "AWS WAF metrics and dimensions": "WebACL: The metric name of the WebACL"):
    it must be unique to the deployment, or every web ACL of that metric name in
    the account and Region feeds one series. The rules' metric names need not
    be: their metrics also carry the ``WebACL`` dimension.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sources: Sequence[FirewallSource],
        metric_name: str,
        stage_arn: str,
        rate_limit: int,
        max_body_bytes: int,
        body_inspection_kb: int,
    ) -> None:
        super().__init__(scope, construct_id)
        rules: list[wafv2.CfnWebACL.RuleProperty] = []
        from_providers: list[wafv2.CfnWebACL.StatementProperty] = []
        for source in sources:
            if not source.allowed_cidrs:
                continue
            label = f"webhook-kit:path:{source.name}"
            rules.append(_label_rule(f"path-{source.name}", len(rules), _path_statement(source.name), label))
            on_path = _label_statement(label)
            from_allowed = self._allowed_addresses(source)
            rules.append(_block_rule(f"allow-list-{source.name}", len(rules), _and(on_path, _not(from_allowed))))
            from_providers.append(_and(on_path, from_allowed))
        rules.append(_managed_rule("AWSManagedRulesAmazonIpReputationList", priority=len(rules)))
        rules.append(
            _block_rule(
                "rate-limit",
                len(rules),
                wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=rate_limit,
                        aggregate_key_type="IP",
                        evaluation_window_sec=300,
                        scope_down_statement=_not(_or(from_providers)) if from_providers else None,
                    )
                ),
            )
        )
        rules.append(_block_rule("body-size", len(rules), _body_size_statement(max_body_bytes, body_inspection_kb)))
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(metric_name),
            association_config=wafv2.CfnWebACL.AssociationConfigProperty(
                request_body={
                    "API_GATEWAY": wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty(
                        default_size_inspection_limit=f"KB_{body_inspection_kb}"
                    )
                }
            ),
            rules=rules,
        )
        skip_checks(
            self.web_acl,
            {
                "CKV_AWS_192": "No Java runs in the request path, and the known-bad-inputs group inspects bodies: it "
                "could block genuine signed webhooks whose content happens to match, losing them after retries."
            },
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        self.metric_name = metric_name

    def _allowed_addresses(self, source: FirewallSource) -> wafv2.CfnWebACL.StatementProperty:
        """A statement matching the source's allow-listed addresses: one IP set per IP version."""
        ip_set_statements = []
        for version, label in ((4, "IPV4"), (6, "IPV6")):
            cidrs = [cidr for cidr in source.allowed_cidrs if ipaddress.ip_network(cidr).version == version]
            if not cidrs:
                continue
            ip_set = wafv2.CfnIPSet(
                self,
                f"AllowList-{source.name}-{label}",
                scope="REGIONAL",
                ip_address_version=label,
                addresses=cidrs,
                description=f"webhook-kit allow-list of source {source.name}",
            )
            ip_set_statements.append(
                wafv2.CfnWebACL.StatementProperty(
                    ip_set_reference_statement=wafv2.CfnWebACL.IPSetReferenceStatementProperty(arn=ip_set.attr_arn)
                )
            )
        return _or(ip_set_statements)


def source_path_regex(source_name: str) -> str:
    """A regex for the URI paths that reach a source: with or without the stage prefix."""
    # The execute-api URL carries the stage ("/prod/webhooks/x"), a custom domain may not.
    # Non-capturing: AWS WAF refuses capturing subexpressions (AWS WAF Developer Guide,
    # "Supported regular expression syntax in AWS WAF").
    return rf"^(?:/[^/]+)?/{WEBHOOK_PATH_PREFIX}/{re.escape(source_name)}/?$"


def _path_statement(source_name: str) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            regex_string=source_path_regex(source_name),
            # Decode and normalise first, so "/webhooks/%73tripe" or "//webhooks/stripe"
            # cannot slip past an allow-list.
            text_transformations=[
                wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="URL_DECODE"),
                wafv2.CfnWebACL.TextTransformationProperty(priority=1, type="NORMALIZE_PATH"),
            ],
        )
    )


def integer_greater_than_regex(limit: int) -> str:
    """A regex matching exactly the decimal integers (leading zeros allowed) above ``limit``."""
    digits = str(limit)
    alternatives = [rf"[1-9]\d{{{len(digits)},}}"]  # more digits than the limit
    for index, digit in enumerate(digits):
        if digit == "9":
            continue
        rest = len(digits) - index - 1
        higher = str(int(digit) + 1) if digit == "8" else f"[{int(digit) + 1}-9]"
        alternatives.append(digits[:index] + higher + (rf"\d{{{rest}}}" if rest else ""))
    return rf"^0*(?:{'|'.join(alternatives)})$"


def _body_size_statement(max_body_bytes: int, body_inspection_kb: int) -> wafv2.CfnWebACL.StatementProperty:
    """Block bodies above the cap, as exactly as WAF can see them.

    WAF reads at most ``body_inspection_kb`` of a body. When the cap fits in
    that window the body itself is measured (and anything WAF cannot fully
    read is over the cap). Above it, WAF compares the declared Content-Length
    with the cap numerically, by regex; the verifier enforces the exact cap
    (413) on what actually arrives, whatever a client declared.
    """
    if max_body_bytes <= body_inspection_kb * 1024:
        return wafv2.CfnWebACL.StatementProperty(
            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                ),
                comparison_operator="GT",
                size=max_body_bytes,
                text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
            )
        )
    return wafv2.CfnWebACL.StatementProperty(
        regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(single_header={"Name": "content-length"}),
            regex_string=integer_greater_than_regex(max_body_bytes),
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
        )
    )


def _and(*statements: wafv2.CfnWebACL.StatementProperty) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        and_statement=wafv2.CfnWebACL.AndStatementProperty(statements=list(statements))
    )


def _or(statements: Sequence[wafv2.CfnWebACL.StatementProperty]) -> wafv2.CfnWebACL.StatementProperty:
    # WAF wants at least two statements in an OR.
    if len(statements) == 1:
        return statements[0]
    return wafv2.CfnWebACL.StatementProperty(or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=statements))


def _not(statement: wafv2.CfnWebACL.StatementProperty) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=statement))


def _label_statement(label: str) -> wafv2.CfnWebACL.StatementProperty:
    return wafv2.CfnWebACL.StatementProperty(
        label_match_statement=wafv2.CfnWebACL.LabelMatchStatementProperty(scope="LABEL", key=label)
    )


def _label_rule(
    name: str, priority: int, statement: wafv2.CfnWebACL.StatementProperty, label: str
) -> wafv2.CfnWebACL.RuleProperty:
    """A rule that only labels what it matches (Count still adds the rule's labels), for later rules to reuse."""
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(count={}),
        rule_labels=[wafv2.CfnWebACL.LabelProperty(name=label)],
        statement=statement,
        visibility_config=_visibility(name),
    )


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def _block_rule(name: str, priority: int, statement: wafv2.CfnWebACL.StatementProperty) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        statement=statement,
        visibility_config=_visibility(name),
    )


def _managed_rule(name: str, *, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(vendor_name="AWS", name=name)
        ),
        visibility_config=_visibility(name),
    )
