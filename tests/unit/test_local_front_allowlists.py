"""The local front's allow-list stand-in: a source's CIDRs or its presets' IP sets as WAFv2 holds them now."""

from __future__ import annotations

import ipaddress
from typing import Any

from webhook_kit.local.allowlists import LocalIpSet, PresetAllowLists
from webhook_kit.local.events import PipelineEvent
from webhook_kit.local.resources import LocalSource

STRIPE = (LocalIpSet(preset="stripe", version=4, name="Kit-allow-stripe-ipv4", id="s4"),)


class _Waf:
    """GetIPSet in memory; ``broken`` makes it fail as a stopped moto would."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.reads = 0
        self.broken = False

    def get_ip_set(self, *, Name: str, Scope: str, Id: str) -> dict[str, Any]:
        self.reads += 1
        if self.broken:
            raise ConnectionError("moto is gone")
        assert (Name, Scope, Id) == ("Kit-allow-stripe-ipv4", "REGIONAL", "s4")
        return {"IPSet": {"Addresses": list(self.addresses)}, "LockToken": "t"}


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _source(cidrs: tuple[str, ...] = (), presets: tuple[str, ...] = ()) -> LocalSource:
    return LocalSource(
        name="s",
        scheme="stripe",
        secret="x",
        secret_arn="arn",
        queue_url="q",
        queue_arn="qa",
        dead_letter_queue_url="d",
        visibility_timeout=1,
        max_receive_count=1,
        batch_size=1,
        max_concurrency=1,
        timeout_seconds=1,
        allowed_networks=tuple(ipaddress.ip_network(cidr) for cidr in cidrs),
        allowed_presets=presets,
    )


def test_a_source_is_allowed_from_its_cidrs_or_its_presets_networks_and_from_anywhere_without_either() -> None:
    preset_networks = [ipaddress.ip_network("3.18.12.63/32")]

    assert _source().allows("203.0.113.9")
    assert not _source(presets=("stripe",)).allows("127.0.0.1")  # a preset alone allows only its networks
    assert _source(presets=("stripe",)).allows("3.18.12.63", preset_networks)
    assert _source(presets=("stripe",)).allows("::ffff:3.18.12.63", preset_networks)
    assert _source(("127.0.0.1/32",), ("stripe",)).allows("127.0.0.1", preset_networks)
    assert not _source(("127.0.0.1/32",), ("stripe",)).allows("127.0.0.2", preset_networks)


def test_the_ip_sets_are_read_again_at_most_every_refresh_period() -> None:
    waf, clock = _Waf(["3.18.12.63/32"]), _Clock()
    lists = PresetAllowLists("unused", {"stripe": STRIPE}, client=waf, clock=clock, refresh_seconds=1.0)

    assert lists.networks(["stripe"]) == (ipaddress.ip_network("3.18.12.63/32"),)
    waf.addresses = ["3.18.12.63/32", "127.0.0.1/32"]
    clock.now = 0.9
    assert len(lists.networks(["stripe"])) == 1
    clock.now = 1.0
    assert ipaddress.ip_network("127.0.0.1/32") in lists.networks(["stripe"])
    assert waf.reads == 2
    assert lists.networks([]) == ()


def test_a_failed_read_keeps_applying_the_addresses_read_last_and_says_so() -> None:
    waf, clock, seen = _Waf(["3.18.12.63/32"]), _Clock(), []
    lists = PresetAllowLists("unused", {"stripe": STRIPE}, client=waf, clock=clock, report=seen.append)
    lists.networks(["stripe"])

    waf.broken, clock.now = True, 5.0

    assert lists.networks(["stripe"]) == (ipaddress.ip_network("3.18.12.63/32"),)
    assert [(event.source, event.stage) for event in seen] == [("stripe", "error")]
    assert isinstance(seen[0], PipelineEvent)
    assert "cannot read the stripe IP sets" in seen[0].detail


def test_with_allow_loopback_a_preset_also_lets_this_machine_through_and_nothing_else_does() -> None:
    lists = PresetAllowLists("unused", {"stripe": STRIPE}, client=_Waf(["3.18.12.63/32"]), allow_loopback=True)
    stripe = _source(presets=("stripe",))

    assert stripe.allows("127.0.0.1", lists.networks(["stripe"]))
    assert stripe.allows("::1", lists.networks(["stripe"]))
    assert not stripe.allows("10.0.0.1", lists.networks(["stripe"]))
    # A source's own CIDRs are its owner's list: loopback passes them only if they hold it.
    assert lists.networks([]) == ()
    assert not _source(("10.0.0.0/8",)).allows("127.0.0.1", lists.networks([]))
