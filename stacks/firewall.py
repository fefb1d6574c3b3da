"""The firewall: a REGIONAL WAF web ACL in front of the API, its rules generated from configuration."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from shared import contract
from stacks.checkov import skip_checks

WEBHOOK_PATH_PREFIX = contract.WEBHOOK_PATH_PREFIX


@dataclass(frozen=True)
class FirewallSource:
    """What the firewall needs to know of a source."""

    name: str
    allowed_cidrs: Sequence[str] = ()


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
