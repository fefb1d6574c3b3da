"""The web ACL at scale: 100 sources fit AWS WAF's budgets, and a configuration past them fails at synth."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from stacks.firewall import FirewallSource, WebhookFirewall
from stacks.waf_budget import (
    FirewallBudgetError,
    reference_statements,
    web_acl_capacity,
)
from tests.infrastructure.conftest import build_firewall as build


def _provider_lists(count: int) -> list[tuple[str, ...]]:
    """``count`` distinct providers' address lists: even ones IPv4 only, odd ones IPv4 and IPv6."""
    lists = []
    for index in range(count):
        ipv4 = (f"198.51.{index}.0/24", f"203.0.{index}.16/28")
        lists.append(ipv4 if index % 2 == 0 else (*ipv4, f"2001:db8:{index:x}::/48"))
    return lists


def hundred_sources() -> list[FirewallSource]:
    """100 sources, the even half allow-listed: 50 sources over 20 providers' lists (some sources share one)."""
    lists = _provider_lists(20)
    return [
        FirewallSource(f"src-{index:03d}", lists[(index // 2) % 20] if index % 2 == 0 else ()) for index in range(100)
    ]


def _rules(template: dict[str, Any]) -> list[dict[str, Any]]:
    (acl,) = (r for r in template["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL")
    return acl["Properties"]["Rules"]


def _ip_sets(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::WAFv2::IPSet"
    }


@pytest.fixture(scope="module")
def hundred() -> tuple[WebhookFirewall, dict[str, Any]]:
    return build(hundred_sources())


def test_100_sources_half_allow_listed_fit_the_default_1500_wcu(hundred: tuple[WebhookFirewall, dict]) -> None:
    firewall, template = hundred
    sources = hundred_sources()
    allow_listed = [source for source in sources if source.allowed_cidrs]
    distinct = {(version, cidrs) for s in allow_listed for version, cidrs in _lists_by_version(s.allowed_cidrs)}
    # The documented prices, rule by rule (stacks/waf_budget.py names the pages).
    expected = (
        3  # canonical-path guard: one regex, no transformation
        + len(distinct)  # a "from" rule per IP set: one IP set reference each
        + sum(3 + 1 + len(_lists_by_version(s.allowed_cidrs)) for s in allow_listed)  # path regex, labels
        + 25  # AWSManagedRulesAmazonIpReputationList
        + 2
        + 1  # rate-based rule, its scope-down a single label match
        + 3  # body size: a regex on Content-Length
    )
    assert len(allow_listed) == 50
    assert firewall.capacity == web_acl_capacity(_rules(template)) == expected == 339
    assert firewall.capacity <= 1500


def test_100_sources_share_ip_sets_between_identical_lists(hundred: tuple[WebhookFirewall, dict]) -> None:
    firewall, template = hundred
    ip_sets = _ip_sets(template)
    # 20 providers, half of them dual-stack: 20 IPv4 sets and 10 IPv6 ones, for 50 sources.
    assert firewall.ip_set_count == len(ip_sets) == 30
    assert len({(p["IPAddressVersion"], tuple(p["Addresses"])) for p in ip_sets.values()}) == 30
    # Each IP set is referenced once (a "from" rule labels its addresses), whatever the
    # number of sources using it: within AWS WAF's 50 reference statements per web ACL.
    assert reference_statements(_rules(template)) == 30 + 1  # and the managed rule group
    assert sorted(p["Description"] for p in ip_sets.values())[0].startswith("webhook-kit allow-list of src-")


def test_sources_with_the_same_list_use_the_same_ip_set(hundred: tuple[WebhookFirewall, dict]) -> None:
    _, template = hundred
    rules = {rule["Name"]: rule for rule in _rules(template)}
    # src-000 and src-040 have provider 0's list; src-002 has provider 1's.
    assert _from_labels(rules, "src-000") == _from_labels(rules, "src-040")
    assert _from_labels(rules, "src-000").isdisjoint(_from_labels(rules, "src-002"))
    assert len(_from_labels(rules, "src-002")) == 2  # IPv4 and IPv6


def test_an_unchanged_list_keeps_its_ip_set_when_other_sources_change() -> None:
    first, second, third = _provider_lists(3)
    _, before = build([FirewallSource("stripe", first), FirewallSource("github", second)])
    # github's list changes, a new source shares stripe's list, another source arrives.
    _, after = build(
        [
            FirewallSource("stripe", first),
            FirewallSource("github", third),
            FirewallSource("stripe-eu", first),
            FirewallSource("acme", second[:1]),
        ]
    )
    stripe_before = {i for i, p in _ip_sets(before).items() if tuple(p["Addresses"]) == first}
    stripe_after = {i for i, p in _ip_sets(after).items() if tuple(p["Addresses"]) == first}
    assert stripe_before == stripe_after and len(stripe_before) == 1
    github_before = {i for i, p in _ip_sets(before).items() if "github" in p["Description"]}
    github_after = {i for i, p in _ip_sets(after).items() if "github" in p["Description"]}
    assert github_before.isdisjoint(github_after)  # an edited list is a new IP set


def test_too_many_allow_listed_sources_for_1500_wcu_fail_at_synth_naming_the_limit() -> None:
    # One shared list keeps the IP sets and references low: capacity alone is over.
    shared = _provider_lists(1)[0]
    sources = [FirewallSource(f"src-{index:03d}", shared) for index in range(300)]
    firewall, _ = build(sources[:293])  # 34 + 1 for the IP set + 5 a source
    assert firewall.capacity == 1500
    with pytest.raises(FirewallBudgetError) as error:
        build(sources)
    message = str(error.value)
    assert message.startswith("AWS WAF web ACL capacity: these rules need 1,535 WCU, over the 1,500 WCU a web ACL")
    assert "without extra charge (AWS WAF Developer Guide, 'Web ACL capacity units (WCUs) in AWS WAF')" in message
    assert message.endswith("allow-list fewer sources, or share lists between sources")


def test_a_lower_max_wcu_is_the_budget(hundred: tuple[WebhookFirewall, dict]) -> None:
    with pytest.raises(FirewallBudgetError, match=r"need 339 WCU, over the 300 WCU this firewall's max_wcu allows"):
        build(hundred_sources(), max_wcu=300)
    firewall, _ = build(hundred_sources(), max_wcu=339)
    assert firewall.capacity == 339


def test_max_wcu_above_what_aws_waf_allows_is_refused() -> None:
    with pytest.raises(FirewallBudgetError, match=r"max_wcu 6,000 is outside 1 to 5,000"):
        build(hundred_sources(), max_wcu=6000)


def test_more_distinct_lists_than_50_references_fail_at_synth() -> None:
    sources = [FirewallSource(f"src-{index:03d}", (f"198.51.100.{index}/32",)) for index in range(60)]
    with pytest.raises(FirewallBudgetError) as error:
        build(sources)
    assert str(error.value) == (
        "AWS WAF web ACL references: these rules hold 61 statements that reference an IP set or a rule group, over "
        "the 50 a web ACL may hold (AWS WAF Developer Guide, 'AWS WAF quotas', a fixed quota; each distinct "
        "allow-list takes one per IP version): allow-list fewer sources, or give sources of one provider the same "
        "allowed_cidrs"
    )


def test_more_ip_sets_than_max_ip_sets_fail_at_synth() -> None:
    sources = [FirewallSource(f"src-{index:03d}", (f"198.51.100.{index}/32",)) for index in range(12)]
    with pytest.raises(FirewallBudgetError, match=r"^AWS WAF IP sets: this firewall needs 12 IP sets, over the 10 "):
        build(sources, max_ip_sets=10)
    firewall, _ = build(sources, max_ip_sets=12)
    assert firewall.ip_set_count == 12


def test_an_ip_set_over_10000_entries_fails_at_synth() -> None:
    cidrs = tuple(f"10.{index // 256 // 256}.{index // 256 % 256}.{index % 256}/32" for index in range(10_001))
    with pytest.raises(FirewallBudgetError) as error:
        build([FirewallSource("big", cidrs)])
    assert str(error.value).startswith(
        "AWS WAF IP set size: the IPv4 allow-list of big holds 10,001 addresses and ranges, over the 10,000 an IP set"
    )


def test_the_budget_error_is_a_value_error() -> None:
    assert issubclass(FirewallBudgetError, ValueError)


def test_still_within_1500_wcu_if_aws_charged_for_the_none_transformation(
    hundred: tuple[WebhookFirewall, dict],
) -> None:
    # The guide prices each transformation applied; NONE applies none. Were it charged
    # 10 WCU like the others, the 100-source layout would still fit.
    _, template = hundred
    nones = json.dumps(_rules(template)).count('"Type": "NONE"')
    assert nones == 1 + 50 + 1  # guard, path rules, body size
    assert web_acl_capacity(_rules(template)) + 10 * nones == 859 <= 1500


def _lists_by_version(cidrs: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    ipv4 = tuple(c for c in cidrs if ":" not in c)
    ipv6 = tuple(c for c in cidrs if ":" in c)
    return [(version, group) for version, group in (("IPV4", ipv4), ("IPV6", ipv6)) if group]


def _from_labels(rules: dict[str, dict], source: str) -> set[str]:
    """The ``from`` labels whose presence lets a request through the source's allow-list rule."""
    _, negated = rules[f"allow-list-{source}"]["Statement"]["AndStatement"]["Statements"]
    admitted = negated["NotStatement"]["Statement"]
    matches = admitted["OrStatement"]["Statements"] if "OrStatement" in admitted else [admitted]
    return {match["LabelMatchStatement"]["Key"] for match in matches}
