"""The web ACL: the canonical-path guard, per-source allow-lists, the rate and body-size rules."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest

from stacks.firewall import (
    CANONICAL_PATH_REGEX,
    PATH_LABEL_NAMESPACE,
    FirewallSource,
    integer_greater_than_regex,
    source_path_regex,
)
from tests.infrastructure.conftest import Synthesized, build_firewall


def _logical_id(synth: Synthesized, type_: str) -> str:
    (logical_id,) = synth.resources(type_).keys()
    return logical_id


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


def test_only_allow_listed_sources_get_allow_list_rules(default_stack: Synthesized) -> None:
    # The shipped configuration allow-lists stripe and github by preset, not orders.
    rules = _rules(default_stack)
    allow_listed = {source.name for source in default_stack.config.sources if source.allow_listed}
    assert allow_listed == {"stripe", "github"}
    assert {name for name in rules if name.startswith(("allow-list-", "path-"))} == {
        f"{kind}-{name}" for name in allow_listed for kind in ("allow-list", "path")
    }


def test_body_cap_within_waf_inspection_is_measured_on_the_body(variant_stack: Synthesized) -> None:
    body = _rules(variant_stack)["body-size"]["Statement"]["SizeConstraintStatement"]
    assert body["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    assert body["ComparisonOperator"] == "GT"
    assert body["Size"] == 8192


@pytest.mark.parametrize(
    ("stack", "expected"), [("default_stack", ["stripe", "github"]), ("variant_stack", ["stripe", "erp"])]
)
def test_each_allow_listed_source_is_blocked_on_its_path_unless_from_its_addresses(
    stack: str, expected: list[str], request: pytest.FixtureRequest
) -> None:
    # The variant's sources list CIDRs, the default's name presets (their IP sets hold the snapshots at synth).
    synth: Synthesized = request.getfixturevalue(stack)
    rules = _rules(synth)
    assert "allow-list-orders" not in rules and "allow-list-twilio-sms" not in rules
    allow_listed = [source for source in synth.config.sources if source.allow_listed]
    assert [source.name for source in allow_listed] == expected
    for source in allow_listed:
        rule = rules[f"allow-list-{source.name}"]
        assert rule["Action"] == {"Block": {}}
        on_path, negated = rule["Statement"]["AndStatement"]["Statements"]
        labelled = _labelling_rules(synth, before=f"allow-list-{source.name}")
        path_rule = labelled[on_path["LabelMatchStatement"]["Key"]]
        assert path_rule["Statement"]["RegexMatchStatement"]["RegexString"] == source_path_regex(source.name)
        admitted = _addresses_of(synth, negated["NotStatement"]["Statement"], before=f"allow-list-{source.name}")
        assert admitted == set(source.snapshot_ranges)


def test_allow_lists_are_ip_sets_one_per_ip_version_each_referenced_once(variant_stack: Synthesized) -> None:
    ip_sets = variant_stack.resources("AWS::WAFv2::IPSet")
    assert {(p["IPAddressVersion"], tuple(p["Addresses"])) for p in (r["Properties"] for r in ip_sets.values())} == {
        ("IPV4", ("3.18.12.63/32", "3.130.192.231/32")),
        ("IPV6", ("2600:1f18::/36",)),
        ("IPV4", ("203.0.113.0/24",)),
    }
    references = json.dumps(_rules(variant_stack))
    for logical_id in ip_sets:
        assert references.count(json.dumps({"Fn::GetAtt": [logical_id, "Arn"]})) == 1, logical_id


def test_canonical_path_guard_runs_first_and_path_rules_read_the_raw_path(variant_stack: Synthesized) -> None:
    rules = _rules(variant_stack)
    guard = rules["canonical-path"]
    assert guard["Priority"] == 0 and guard["Action"] == {"Block": {}}
    regex = guard["Statement"]["NotStatement"]["Statement"]["RegexMatchStatement"]
    assert regex["RegexString"] == CANONICAL_PATH_REGEX
    assert regex["FieldToMatch"] == {"UriPath": {}}
    assert [t["Type"] for t in regex["TextTransformations"]] == ["NONE"]
    for name in ("path-stripe", "path-erp"):
        rule = rules[name]
        assert rule["Action"] == {"Count": {}}  # labels the request, decides nothing
        statement = rule["Statement"]["RegexMatchStatement"]
        assert statement["FieldToMatch"] == {"UriPath": {}}
        # No decoding or normalising: the guard has already refused every path they could change.
        assert [t["Type"] for t in statement["TextTransformations"]] == ["NONE"]


def test_default_stack_has_the_canonical_path_guard_too(default_stack: Synthesized) -> None:
    guard = _rules(default_stack)["canonical-path"]
    assert guard["Priority"] == 0
    assert guard["Statement"]["NotStatement"]["Statement"]["RegexMatchStatement"]["RegexString"] == CANONICAL_PATH_REGEX


def _labelling_rules(synth: Synthesized, *, before: str) -> dict[str, dict]:
    """Label -> the rule that adds it, for rules that run before rule ``before``."""
    rules = _rules(synth)
    return {
        label["Name"]: rule
        for rule in rules.values()
        if rule["Priority"] < rules[before]["Priority"]
        for label in rule.get("RuleLabels", [])
    }


def _addresses_of(synth: Synthesized, statement: dict, *, before: str) -> set[str]:
    """The CIDRs a statement (a ``from`` label match, or an OR of them) admits, via the IP sets behind the labels."""
    if "OrStatement" in statement:
        return set().union(*(_addresses_of(synth, s, before=before) for s in statement["OrStatement"]["Statements"]))
    labelling = _labelling_rules(synth, before=before)[statement["LabelMatchStatement"]["Key"]]
    ip_set_id = labelling["Statement"]["IPSetReferenceStatement"]["Arn"]["Fn::GetAtt"][0]
    return set(synth.resources("AWS::WAFv2::IPSet")[ip_set_id]["Properties"]["Addresses"])


def test_source_path_regex_matches_the_source_path_with_or_without_stage() -> None:
    pattern = re.compile(source_path_regex("stripe"))
    for path in (
        "/webhooks/stripe",
        "/prod/webhooks/stripe",
        "/prod/webhooks/stripe/",
        "/v1_base-path/webhooks/stripe",
    ):
        assert pattern.match(path), path
    for path in ("/prod/webhooks/stripe2", "/prod/webhooks/github", "/a/b/webhooks/stripe", "/prod/webhooks/stripe/x"):
        assert not pattern.match(path), path


# What the web ACL does with a URI path, by rule: "blocked" by the canonical-path
# guard, checked against the named allow-listed source's addresses, or "open" (no
# allow-list applies; API Gateway routes it or answers 404). Sources "stripe" and
# "erp" are allow-listed, "github" is not.
ALLOW_LISTED = ("stripe", "erp")
PATH_TABLE = [
    ("/prod/webhooks/stripe", "stripe"),
    ("/prod/webhooks/stripe/", "stripe"),  # trailing slash
    ("/webhooks/stripe", "stripe"),  # custom domain without a base path
    ("/hooks/webhooks/stripe", "stripe"),  # custom domain with a base path
    ("/prod/webhooks/erp", "erp"),
    ("/prod/webhooks/github", "open"),  # another source's path
    ("/prod/webhooks/stripe2", "open"),  # a name that only starts like an allow-listed one
    ("/prod/webhooks/%73tripe", "blocked"),  # percent-encoded letter
    ("/prod/webhooks/stripe%2F", "blocked"),  # encoded slash
    ("/prod/%77ebhooks/stripe", "blocked"),
    ("//webhooks/stripe", "blocked"),  # empty segment
    ("/prod//webhooks/stripe", "blocked"),
    ("/prod/webhooks//stripe", "blocked"),
    ("/prod/webhooks/stripe//", "blocked"),
    ("/x/../webhooks/stripe", "blocked"),  # dot segments
    ("/prod/./webhooks/stripe", "blocked"),
    ("/prod/webhooks/./stripe", "blocked"),
    ("/prod/webhooks/github/../stripe", "blocked"),
    ("/../webhooks/stripe", "blocked"),
    ("/prod/webhooks/Stripe", "blocked"),  # uppercase: not a source name
    ("/prod/WEBHOOKS/stripe", "blocked"),
    ("/prod/webhooks/stripe;a=b", "blocked"),  # path parameter
    ("/prod/webhooks/stripe%0A", "blocked"),  # encoded newline before the end anchor
    ("/prod/webhooks/stripe ", "blocked"),
    ("/prod/webhooks/stripe\\", "blocked"),
    ("/a/b/webhooks/stripe", "blocked"),  # two segments before /webhooks
    ("/prod/webhooks/stripe/x", "blocked"),
    ("/prod/webhooks", "blocked"),
    ("/", "blocked"),
]


def _waf_verdict(path: str) -> str:
    """The web ACL's rules, in order, on ``path``: the guard, then the allow-listed sources' path rules."""
    if not re.search(CANONICAL_PATH_REGEX, path):
        return "blocked"
    checked = [name for name in ALLOW_LISTED if re.search(source_path_regex(name), path)]
    assert len(checked) <= 1, (path, checked)  # a canonical path names one source
    return checked[0] if checked else "open"


@pytest.mark.parametrize(("path", "verdict"), PATH_TABLE)
def test_canonical_path_guard_and_path_rules_on_a_table_of_paths(path: str, verdict: str) -> None:
    assert _waf_verdict(path) == verdict


def _lenient_route(path: str) -> str | None:
    """The source a forgiving server would route ``path`` to: decoded, slashes merged, dot segments resolved.

    Lenient on purpose: an upper bound on what API Gateway or any proxy in front of
    it might do to a path, so the property below holds for all of them.
    """
    previous = None
    while previous != path:  # decode until nothing changes (double encoding)
        previous, path = path, unquote(path)
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    if len(segments) in (2, 3) and segments[-2].lower() == "webhooks":
        return segments[-1].lower()
    return None


def _path_variants(name: str) -> list[str]:
    """Ways to spell a path to ``name`` that a lenient server would still route there."""
    variants = set()
    for prefix in ("", "/prod", "/x/..", "/prod/.", "//", "/prod/", "/%70rod"):
        for middle in ("/webhooks/", "//webhooks//", "/webhooks/./", "/%77ebhooks/", "/WEBHOOKS/", "/webhooks/x/../"):
            for spelled in (
                name,
                name.upper(),
                "".join(f"%{ord(c):02x}" for c in name),
                f"%25{ord(name[0]):02x}{name[1:]}",
            ):
                for suffix in ("", "/", "//", "/.", "%2f"):
                    variants.add(f"{prefix}{middle}{spelled}{suffix}")
    return sorted(variants)


def test_no_spelling_of_an_allow_listed_path_reaches_its_source_without_its_address_check() -> None:
    # Every variant a lenient server routes to an allow-listed source is either blocked
    # by the guard or checked against that same source's addresses; none is "open" or
    # checked against another source's list.
    for name in ALLOW_LISTED:
        variants = [path for path in _path_variants(name) if _lenient_route(path) == name]
        assert len(variants) > 500
        wrong = [(path, _waf_verdict(path)) for path in variants if _waf_verdict(path) not in ("blocked", name)]
        assert wrong == [], wrong[:5]
        assert _waf_verdict(f"/prod/webhooks/{name}") == name  # and the genuine path is checked, not blocked


def test_integer_regex_is_exactly_greater_than() -> None:
    for limit in (1, 8, 9, 10, 99, 100, 1999, 65536, 1048576):
        pattern = re.compile(integer_greater_than_regex(limit))
        wrong = [n for n in range(0, 3 * limit + 100) if bool(pattern.match(str(n))) != (n > limit)]
        assert wrong == [], (limit, wrong[:5])
        assert pattern.match("0" + str(limit + 1)) and not pattern.match("0" + str(limit))


def test_rate_rule_does_not_count_allow_listed_providers_on_their_own_path(variant_stack: Synthesized) -> None:
    rules = _rules(variant_stack)
    rate = rules["rate-limit"]
    scope_down = rate["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    # One label match for every source: the path labels, as a namespace.
    assert scope_down == {
        "NotStatement": {"Statement": {"LabelMatchStatement": {"Scope": "NAMESPACE", "Key": PATH_LABEL_NAMESPACE}}}
    }
    # Which is "a provider on its own path" only because every rule adding a label in
    # that namespace is followed, before the rate rule, by one blocking the label from
    # any other address.
    path_labellers = {
        label["Name"]: rule
        for rule in rules.values()
        for label in rule.get("RuleLabels", [])
        if label["Name"].startswith(PATH_LABEL_NAMESPACE)
    }
    allow_listed = {source.name for source in variant_stack.config.sources if source.allow_listed}
    assert set(path_labellers) == {f"{PATH_LABEL_NAMESPACE}{name}" for name in allow_listed}
    for label, labeller in path_labellers.items():
        name = label.removeprefix(PATH_LABEL_NAMESPACE)
        block = rules[f"allow-list-{name}"]
        assert labeller["Priority"] < block["Priority"] < rate["Priority"]
        on_path, _ = block["Statement"]["AndStatement"]["Statements"]
        assert on_path == {"LabelMatchStatement": {"Scope": "LABEL", "Key": label}}


def test_rate_rule_counts_everything_when_no_source_is_allow_listed() -> None:
    _, template = build_firewall([FirewallSource("orders")])
    (acl,) = (r for r in template["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL")
    rules = {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}
    assert "ScopeDownStatement" not in rules["rate-limit"]["Statement"]["RateBasedStatement"]
    assert not [rule for rule in rules.values() if rule.get("RuleLabels")]


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
    # canonical-path guard + body size + a path rule per allow-listed source
    expected = 2 + sum(1 for source in synth.config.sources if source.allow_listed)
    if synth.config.max_body_bytes <= synth.config.waf_body_inspection_kb * 1024:
        expected -= 1  # the body is measured, not matched by regex
    assert len(regexes) == expected > 0
    for regex in regexes:
        assert re.compile(regex).groups == 0, regex  # Python counts capturing groups, named ones included
