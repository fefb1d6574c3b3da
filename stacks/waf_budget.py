"""What a web ACL costs in AWS WAF capacity units (WCU) and quotas, so synth fails before a deploy would.

The rules are read in CloudFormation's shape, as the template holds them or as
``Stack.resolve`` returns them (key case does not matter), so the same model
prices what the construct builds and what a test reads back from the template.
The model is an upper bound: AWS WAF may charge less when rules share work
("Web ACL capacity units (WCUs) in AWS WAF": "processing optimizations").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# ---- prices, from the AWS WAF Developer Guide (docs.aws.amazon.com/waf/latest/developerguide/)

# "Using match rule statements in AWS WAF" (waf-rule-statements-match) and each statement's page.
IP_SET_WCU = 1  # "IP set match rule statement": 1 (+4 with a forwarded-IP header at position ANY, not used here)
LABEL_MATCH_WCU = 1  # "Label match rule statement": 1
REGEX_WCU = 3  # "Regex match rule statement": 3 as a base cost
SIZE_CONSTRAINT_WCU = 1  # "Size constraint rule statement": 1 as a base cost
# "String match rule statement": by positional constraint.
BYTE_MATCH_WCU = {"EXACTLY": 2, "STARTS_WITH": 2, "ENDS_WITH": 2, "CONTAINS": 10, "CONTAINS_WORD": 10}
# Same pages, for every statement that inspects a request component: "For each text
# transformation that you apply, add 10 WCUs" (and "Using text transformations in AWS WAF":
# "Each text transformation is 10 WCUs"). NONE applies no transformation and is not counted.
TEXT_TRANSFORMATION_WCU = 10
ALL_QUERY_ARGUMENTS_WCU = 10  # "If you use the request component All query parameters, add 10 WCUs"
# "If you use the request component JSON body, double the base cost WCUs".
# "Using logical rule statements in AWS WAF": AND, OR, NOT cost what they contain.
# "Using rate-based rule statements in AWS WAF": 2 as a base cost, 30 per custom
# aggregation key, plus the scope-down statement.
RATE_BASED_WCU = 2
CUSTOM_AGGREGATION_KEY_WCU = 30
# Managed rule groups have a fixed capacity: "IP reputation rule groups" lists
# "AWSManagedRulesAmazonIpReputationList, WCU: 25".
MANAGED_RULE_GROUP_WCU = {"AWSManagedRulesAmazonIpReputationList": 25}

# ---- budgets and quotas

# "Web ACL capacity units (WCUs) in AWS WAF" and "Creating a protection pack (web ACL)":
# a web ACL above 1,500 WCU costs extra; 5,000 is the fixed maximum ("AWS WAF quotas").
DEFAULT_MAX_WCU = 1500
WEB_ACL_MAX_WCU = 5000
# "AWS WAF quotas", default quota per account per Region (adjustable): IP sets.
DEFAULT_MAX_IP_SETS = 100
# "AWS WAF quotas", fixed: reference statements (to IP sets, regex pattern sets and
# rule groups) per web ACL, and addresses in CIDR notation per IP set.
WEB_ACL_MAX_REFERENCE_STATEMENTS = 50
IP_SET_MAX_ADDRESSES = 10_000
# AWS WAF API Reference, CreateIPSet: Name, 1 to 128 characters.
IP_SET_MAX_NAME_LENGTH = 128

# The quota names references to rule groups; a managed rule group is counted too, to err on the safe side.
_REFERENCE_STATEMENTS = (
    "ipsetreferencestatement",
    "regexpatternsetreferencestatement",
    "rulegroupreferencestatement",
    "managedrulegroupstatement",
)


class FirewallBudgetError(ValueError):
    """The web ACL would exceed an AWS WAF budget or quota: the message names it, the count and the fix."""


def web_acl_capacity(rules: Iterable[Mapping[str, Any]]) -> int:
    """The WCU the web ACL's rules need, by the documented prices above."""
    return sum(statement_capacity(_get(rule, "statement")) for rule in rules)


def statement_capacity(statement: Mapping[str, Any]) -> int:
    (kind, body), *others = ((key.lower(), value) for key, value in statement.items())
    if others:
        raise ValueError(f"a rule statement holds exactly one statement, not {sorted(statement)}")
    if kind in ("andstatement", "orstatement"):
        return sum(statement_capacity(nested) for nested in _get(body, "statements"))
    if kind == "notstatement":
        return statement_capacity(_get(body, "statement"))
    if kind == "ratebasedstatement":
        scope_down = _find(body, "scopedownstatement")
        keys = _find(body, "customkeys") or ()
        return (
            RATE_BASED_WCU
            + CUSTOM_AGGREGATION_KEY_WCU * len(keys)
            + (statement_capacity(scope_down) if scope_down else 0)
        )
    if kind == "managedrulegroupstatement":
        name = _get(body, "name")
        if name not in MANAGED_RULE_GROUP_WCU:
            raise ValueError(
                f"no documented capacity for managed rule group {name!r}: add it to MANAGED_RULE_GROUP_WCU"
            )
        return MANAGED_RULE_GROUP_WCU[name]
    if kind == "ipsetreferencestatement":
        return IP_SET_WCU
    if kind == "labelmatchstatement":
        return LABEL_MATCH_WCU
    if kind == "regexmatchstatement":
        return _inspection(body, REGEX_WCU)
    if kind == "sizeconstraintstatement":
        return _inspection(body, SIZE_CONSTRAINT_WCU)
    if kind == "bytematchstatement":
        return _inspection(body, BYTE_MATCH_WCU[_get(body, "positionalconstraint")])
    raise ValueError(f"no documented capacity for a {kind}: add its price to stacks/waf_budget.py")


def reference_statements(rules: Iterable[Mapping[str, Any]]) -> int:
    """How many statements reference an IP set, a regex pattern set or a (managed) rule group."""
    return sum(_count_references(rule) for rule in rules)


def check_web_acl_budget(
    rules: Sequence[Mapping[str, Any]],
    *,
    ip_sets: Mapping[str, int],
    preset_ip_sets: Mapping[str, int],
    max_wcu: int,
    max_ip_sets: int,
) -> int:
    """Raise ``FirewallBudgetError`` naming every budget the rules and IP sets exceed; return the WCU.

    ``ip_sets``: how many addresses and ranges (CIDRs) each static IP set the
    firewall creates holds, by a name the message can show. ``preset_ip_sets``:
    the presets' sets, each with the most ranges the allow-list sync may put in it.
    """
    if not 0 < max_wcu <= WEB_ACL_MAX_WCU:
        raise FirewallBudgetError(
            f"AWS WAF web ACL capacity: max_wcu {max_wcu:,} is outside 1 to {WEB_ACL_MAX_WCU:,}, the most a web ACL "
            "may use (AWS WAF Developer Guide, 'AWS WAF quotas', a fixed quota)"
        )
    problems = [
        f"AWS WAF IP set size: {name} holds {count:,} addresses and ranges, over the {IP_SET_MAX_ADDRESSES:,} "
        "an IP set may hold (AWS WAF Developer Guide, 'AWS WAF quotas', a fixed quota): merge adjacent ranges "
        "into wider CIDRs"
        for name, count in ip_sets.items()
        if count > IP_SET_MAX_ADDRESSES
    ]
    problems += [
        f"AWS WAF IP set size: {name} may hold up to {bound:,} ranges (shared.allowlists.MAX_RANGES, the most the "
        "allow-list sync puts in a preset's set: the sync grows the set as the provider publishes more, so the "
        f"budget is this bound, not the snapshot's size), over the {IP_SET_MAX_ADDRESSES:,} an IP set may hold "
        "(AWS WAF Developer Guide, 'AWS WAF quotas', a fixed quota): lower MAX_RANGES"
        for name, bound in preset_ip_sets.items()
        if bound > IP_SET_MAX_ADDRESSES
    ]
    count = len(ip_sets) + len(preset_ip_sets)
    if count > max_ip_sets:
        problems.append(
            f"AWS WAF IP sets: this firewall needs {count:,} IP sets, over the {max_ip_sets:,} it may use "
            "(AWS WAF Developer Guide, 'AWS WAF quotas': 100 IP sets per account and Region by default, shared "
            "with every other web ACL there): allow-list fewer sources, or give sources of one provider the same "
            "allowed_cidrs (identical lists share an IP set per IP version) or the same allowed_presets"
        )
    references = reference_statements(rules)
    if references > WEB_ACL_MAX_REFERENCE_STATEMENTS:
        problems.append(
            f"AWS WAF web ACL references: these rules hold {references:,} statements that reference an IP set or a "
            f"rule group, over "
            f"the {WEB_ACL_MAX_REFERENCE_STATEMENTS:,} a web ACL may hold (AWS WAF Developer Guide, 'AWS WAF "
            "quotas', a fixed quota; each distinct allow-list takes one per IP version): allow-list fewer sources, "
            "or give sources of one provider the same allowed_cidrs"
        )
    capacity = web_acl_capacity(rules)
    if capacity > max_wcu:
        problems.append(
            f"AWS WAF web ACL capacity: these rules need {capacity:,} WCU, over the {max_wcu:,} WCU "
            + (
                "a web ACL has without extra charge (AWS WAF Developer Guide, 'Web ACL capacity units (WCUs) in "
                "AWS WAF')"
                if max_wcu == DEFAULT_MAX_WCU
                else "this firewall's max_wcu allows"
            )
            + ": allow-list fewer sources, or share lists between sources"
        )
    if problems:
        raise FirewallBudgetError("\n".join(problems))
    return capacity


def _inspection(body: Mapping[str, Any], base: int) -> int:
    """A statement that inspects a request component: base cost, component surcharge, transformations."""
    field = {key.lower() for key in _get(body, "fieldtomatch")}
    if "jsonbody" in field:
        base *= 2
    if "allqueryarguments" in field:
        base += ALL_QUERY_ARGUMENTS_WCU
    applied = [t for t in _get(body, "texttransformations") if _get(t, "type") != "NONE"]
    return base + TEXT_TRANSFORMATION_WCU * len(applied)


def _count_references(node: Any) -> int:
    if isinstance(node, Mapping):
        return sum(
            (1 if key.lower() in _REFERENCE_STATEMENTS else 0) + _count_references(value) for key, value in node.items()
        )
    if isinstance(node, list | tuple):
        return sum(_count_references(item) for item in node)
    return 0


def _find(mapping: Mapping[str, Any], key: str) -> Any:
    return next((value for name, value in mapping.items() if name.lower() == key), None)


def _get(mapping: Mapping[str, Any], key: str) -> Any:
    value = _find(mapping, key)
    if value is None:
        raise ValueError(f"expected {key!r} in {sorted(mapping)}")
    return value
