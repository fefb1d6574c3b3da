"""Allow-list presets in the web ACL: one IP set per preset and IP version, shared, stable, within budget."""

from __future__ import annotations

from typing import Any

import pytest

from shared import contract
from shared.allowlists import MAX_RANGES, by_version, load_snapshot
from stacks import firewall as firewall_module
from stacks.firewall import FROM_LABEL_NAMESPACE, FirewallSource
from stacks.waf_budget import FirewallBudgetError
from tests.infrastructure.conftest import build_firewall

EXTRA = "203.0.113.0/24"


def _rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (acl,) = (r for r in template["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL")
    return {rule["Name"]: rule for rule in acl["Properties"]["Rules"]}


def _ip_sets(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i: r["Properties"] for i, r in template["Resources"].items() if r["Type"] == "AWS::WAFv2::IPSet"}


def _admitting_sets(template: dict[str, Any], source: str) -> set[str]:
    """The IP sets (logical ids) whose ``from`` label lets a request through the source's allow-list rule."""
    rules = _rules(template)
    _, negated = rules[f"allow-list-{source}"]["Statement"]["AndStatement"]["Statements"]
    admitted = negated["NotStatement"]["Statement"]
    matches = admitted["OrStatement"]["Statements"] if "OrStatement" in admitted else [admitted]
    labels = {match["LabelMatchStatement"]["Key"] for match in matches}
    labelling = {
        label["Name"]: rule
        for rule in rules.values()
        if rule["Priority"] < rules[f"allow-list-{source}"]["Priority"]
        for label in rule.get("RuleLabels", [])
    }
    return {labelling[label]["Statement"]["IPSetReferenceStatement"]["Arn"]["Fn::GetAtt"][0] for label in labels}


def _preset_sets(template: dict[str, Any], stack_name: str = "FirewallOnly") -> dict[tuple[str, int], str]:
    """(preset, IP version) -> logical id, found by the IP sets' names."""
    names = {properties.get("Name"): logical_id for logical_id, properties in _ip_sets(template).items()}
    return {
        (preset, version): names[contract.preset_ip_set_name(stack_name, preset, version)]
        for preset in ("stripe", "github")
        for version in by_version(load_snapshot(preset).ranges)
        if contract.preset_ip_set_name(stack_name, preset, version) in names
    }


def test_a_source_with_a_preset_and_extra_cidrs_admits_either() -> None:
    _, template = build_firewall([FirewallSource("stripe", (EXTRA,), ("stripe",))])
    sets = _ip_sets(template)
    admitting = _admitting_sets(template, "stripe")
    assert admitting == set(sets) and len(admitting) == 2  # the preset's IPv4 set and the static one
    (preset_set,) = _preset_sets(template).values()
    assert sets[preset_set]["Addresses"] == list(load_snapshot("stripe").ranges)
    (static,) = admitting - {preset_set}
    assert sets[static]["Addresses"] == [EXTRA] and "Name" not in sets[static]


def test_sources_naming_one_preset_share_its_ip_sets_each_referenced_once() -> None:
    _, template = build_firewall(
        [
            FirewallSource("github", (), ("github",)),
            FirewallSource("github-enterprise", (EXTRA,), ("github",)),
            FirewallSource("stripe", (), ("stripe",)),
            FirewallSource("orders"),
        ]
    )
    preset_sets = _preset_sets(template)
    # github publishes IPv4 and IPv6 ranges, stripe IPv4 only.
    assert set(preset_sets) == {("github", 4), ("github", 6), ("stripe", 4)}
    github = {preset_sets["github", 4], preset_sets["github", 6]}
    assert _admitting_sets(template, "github") == github
    assert github < _admitting_sets(template, "github-enterprise")  # and its own CIDRs' set
    assert _admitting_sets(template, "stripe") == {preset_sets["stripe", 4]}
    assert "allow-list-orders" not in _rules(template)
    references = str(_rules(template))
    for logical_id in preset_sets.values():
        assert references.count(f"'Fn::GetAtt': ['{logical_id}', 'Arn']") == 1, logical_id
    for (preset, version), logical_id in preset_sets.items():
        rule = _rules(template)[f"from-preset-{preset}-ipv{version}"]
        assert rule["RuleLabels"] == [{"Name": f"{FROM_LABEL_NAMESPACE}preset-{preset}-ipv{version}"}]
        assert rule["Action"] == {"Count": {}}
        assert rule["Statement"] == {"IPSetReferenceStatement": {"Arn": {"Fn::GetAtt": [logical_id, "Arn"]}}}


def test_a_preset_ip_set_is_the_same_resource_whichever_sources_name_it() -> None:
    # The sync rewrites the addresses in place: a deploy that adds a source naming the
    # preset must neither replace the set nor rewrite it (same id, same properties).
    _, alone = build_firewall([FirewallSource("github", (), ("github",))])
    _, shared = build_firewall(
        [
            FirewallSource("acme", (EXTRA,)),
            FirewallSource("gh-a", (), ("github",)),
            FirewallSource("github", (), ("github",)),
        ]
    )
    before = {key: _ip_sets(alone)[i] for key, i in _preset_sets(alone).items()}
    after = {key: _ip_sets(shared)[i] for key, i in _preset_sets(shared).items()}
    assert _preset_sets(alone) == _preset_sets(shared) and before == after
    for properties in after.values():
        assert "gh-a" not in properties["Description"] and "acme" not in properties["Description"]


def test_preset_ip_sets_count_towards_the_ip_set_quota() -> None:
    sources = [FirewallSource("github", (), ("github",)), FirewallSource("stripe", (EXTRA,), ("stripe",))]
    with pytest.raises(FirewallBudgetError, match=r"^AWS WAF IP sets: this firewall needs 4 IP sets, over the 3 "):
        build_firewall(sources, max_ip_sets=3)
    firewall, _ = build_firewall(sources, max_ip_sets=4)
    assert firewall.ip_set_count == 4


def test_a_preset_ip_set_is_budgeted_at_the_syncs_bound_not_its_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_RANGES <= 10_000  # what the shipped bound fits
    monkeypatch.setattr(firewall_module, "MAX_RANGES", 10_001)
    with pytest.raises(FirewallBudgetError) as error:
        build_firewall([FirewallSource("stripe", (), ("stripe",))])
    message = str(error.value)
    assert message.startswith("AWS WAF IP set size: the IPv4 set of preset 'stripe' may hold up to 10,001 ranges")
    assert "shared.allowlists.MAX_RANGES" in message and "not the snapshot's size" in message
    assert message.endswith("lower MAX_RANGES")


def test_a_stack_name_too_long_for_a_preset_ip_set_name_fails_at_synth() -> None:
    stack_name = "S" * (128 - len("-allow-github-ipv4"))
    _, template = build_firewall([FirewallSource("github", (), ("github",))], stack_name=stack_name)
    assert max(len(p["Name"]) for p in _ip_sets(template).values()) == 128
    with pytest.raises(FirewallBudgetError, match=r"^AWS WAF IP set name: .* has 129 characters, over the 128 .*"):
        build_firewall([FirewallSource("github", (), ("github",))], stack_name=stack_name + "S")
