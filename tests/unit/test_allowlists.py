"""Allow-list presets (shared.allowlists): the shipped snapshots, and what the kit accepts as a
provider's published list. Feed bodies in tests/unit/feeds/ are in the providers' documented shapes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from shared.allowlists import (
    MAX_FEED_BYTES,
    PRESETS,
    FeedRejected,
    by_version,
    difference,
    get_preset,
    load_snapshot,
    read_snapshot,
    snapshot_document,
    validate_ranges,
)

FEEDS = Path(__file__).parent / "feeds"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_ships_a_dated_valid_snapshot_of_its_feed(name: str) -> None:
    snapshot = load_snapshot(name)
    assert snapshot.source == PRESETS[name].feed
    assert date(2026, 1, 1) <= snapshot.taken <= date.today()
    assert snapshot.via.strip()
    assert snapshot.ranges, "a snapshot is never empty"
    assert all(not cidr.endswith("/0") for cidr in snapshot.ranges)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_preset_reads_its_providers_documented_feed_shape(name: str) -> None:
    ranges = PRESETS[name].parse((FEEDS / f"{name}.json").read_bytes())
    assert ranges == load_snapshot(name).ranges


def test_stripe_lists_bare_addresses_which_become_single_address_networks() -> None:
    ranges = PRESETS["stripe"].parse((FEEDS / "stripe.json").read_bytes())
    assert len(ranges) == 15 and all(cidr.endswith("/32") for cidr in ranges)


def test_github_hooks_hold_both_ip_versions_and_nothing_from_the_other_lists() -> None:
    split = by_version(PRESETS["github"].parse((FEEDS / "github.json").read_bytes()))
    assert set(split) == {4, 6}
    assert split[6] == ("2606:50c0::/32", "2a0a:a440::/29")


def _snapshot_file(tmp_path: Path, **changes: object) -> Path:
    document = json.loads(snapshot_document("stripe", ["192.0.2.1"], taken=date(2026, 12, 2), via="a test"))
    document.update(changes)
    path = tmp_path / "stripe.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ranges": []}, "empty"),
        ({"ranges": ["0.0.0.0/0"]}, "too-wide"),
        ({"ranges": ["::/0"]}, "too-wide"),
        ({"ranges": ["192.0.2.0/33"]}, "malformed"),
        ({"ranges": ["192.0.2.1/24"]}, "malformed"),  # host bits: not what the provider meant to publish
        ({"ranges": "192.0.2.1/32"}, "malformed"),
        ({"taken": "yesterday"}, "malformed"),
        ({"source": "https://example.com/ips.json"}, "malformed"),
        ({"via": None, "extra": 1}, "malformed"),
        ({"ranges": ["198.51.100.0/24", "192.0.2.0/24"]}, "malformed"),  # not in the kit's order
    ],
)
def test_a_snapshot_that_is_empty_malformed_or_catch_all_is_refused(
    tmp_path: Path, changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(FeedRejected) as refused:
        read_snapshot(_snapshot_file(tmp_path, **changes), "stripe")
    assert refused.value.reason == reason


def test_a_snapshot_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stripe.json"
    path.write_text("WEBHOOKS = 3.18.12.63")
    with pytest.raises(FeedRejected, match=r"stripe\.json"):
        read_snapshot(path, "stripe")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>maintenance</html>", "malformed"),
        (b'{"WEBHOOKS": "3.18.12.63"}', "malformed"),
        (b'{"webhooks": ["3.18.12.63"]}', "malformed"),
        (b'{"WEBHOOKS": [63]}', "malformed"),
        (b'{"WEBHOOKS": ["3.18.12.63 or so"]}', "malformed"),
        (b'{"WEBHOOKS": []}', "empty"),
        (b'{"WEBHOOKS": ["3.18.12.63", "0.0.0.0/0"]}', "too-wide"),
        (b'{"WEBHOOKS": ["3.0.0.0/8"]}', "too-wide"),
        (b'{"WEBHOOKS": ["2600::/16"]}', "too-wide"),
        (b'\xff\xfe{"WEBHOOKS": ["3.18.12.63"]}', "malformed"),
    ],
)
def test_a_feed_that_is_not_a_usable_list_is_refused_with_its_reason(body: bytes, reason: str) -> None:
    with pytest.raises(FeedRejected) as refused:
        PRESETS["stripe"].parse(body)
    assert refused.value.reason == reason


def test_a_feed_over_the_size_cap_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(FeedRejected) as refused:
        PRESETS["stripe"].parse(b" " * (MAX_FEED_BYTES + 1))
    assert refused.value.reason == "oversized"


def test_a_list_longer_than_the_bound_is_refused() -> None:
    with pytest.raises(FeedRejected) as refused:
        validate_ranges([f"10.0.{i // 256}.{i % 256}" for i in range(11)], label="test", max_ranges=10)
    assert refused.value.reason == "too-many"


def test_the_widest_accepted_ranges_pass_and_duplicates_collapse() -> None:
    assert validate_ranges(["10.0.0.0/12", "2600::/24", "10.0.0.0/12"], label="test") == ("10.0.0.0/12", "2600::/24")


def test_difference_compares_networks_not_spellings() -> None:
    change = difference(["192.0.2.1/32", "198.51.100.0/24"], ["192.0.2.1", "203.0.113.0/24"])
    assert change.added == ("203.0.113.0/24",)
    assert change.removed == ("198.51.100.0/24",)
    assert not difference(["192.0.2.1/32"], ["192.0.2.1"])


def test_an_unknown_preset_is_named_with_the_presets_there_are() -> None:
    with pytest.raises(KeyError, match="github, stripe"):
        get_preset("stripe-test")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_is_the_list_its_catalogue_entry_names(name: str) -> None:
    from webhook_verify.providers import PROVIDERS

    assert PROVIDERS[PRESETS[name].provider].ip_ranges == PRESETS[name].feed
