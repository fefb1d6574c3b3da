"""Allow-list presets: the address ranges a provider publishes for its webhook deliveries.

A source names a preset (``allowed_presets = ["stripe"]`` in webhook-kit.toml);
synth puts the preset's shipped snapshot (``snapshots/<preset>.json``) in the
preset's WAF IP sets, and the allow-list sync (``allowlist_sync``) keeps those
sets equal to what the provider publishes now. One module for both sides, and
for the local pipeline and the ``ipsets`` command: what a feed looks like, what
a valid list is, and how two lists differ are written once, here.

Only providers that publish a machine-readable list are presets: a list that
lives on a web page cannot be read safely by a program, so it is pinned with
``allowed_cidrs`` instead (docs/security.md, "Allow-lists").

Every check here treats the feed as hostile: it is parsed with a size and
shape the kit chose, every entry must be an address or a network (no host
bits), and a list is refused when it is empty, holds a range wider than
``WIDEST_PREFIX`` (a catch-all such as ``0.0.0.0/0`` is the extreme case), or
has more ranges than ``MAX_RANGES``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"

# The widest range a published list may hold, per IP version. A provider sends
# webhooks from a handful of addresses or a few /20s; a /12 (a million IPv4
# addresses) or an IPv6 /24 is already far more than any list below needs, and
# anything wider (a catch-all, half the Internet) is refused as a list that
# would no longer identify the provider.
WIDEST_PREFIX = {4: 12, 6: 24}
# At most this many ranges per preset. AWS WAF holds 10,000 addresses per IP set
# (AWS WAF Developer Guide, "AWS WAF quotas"); the lists here hold tens.
MAX_RANGES = 1000
# A feed is JSON of a few KB (GitHub's whole meta document, which also lists
# every Actions range, is a few hundred KB); more is not a list of webhook senders.
MAX_FEED_BYTES = 2 * 1024 * 1024


class FeedRejected(ValueError):
    """A published list the kit will not use; ``reason`` is a short code for the metric and the log."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Preset:
    """A provider's published list: where it is and how to read it."""

    name: str
    provider: str
    feed: str
    # The JSON keys leading to the list of ranges, from the document's root.
    path: tuple[str, ...]
    # The hosts the feed may be fetched from (the sync fetches https only, no redirect).
    hosts: tuple[str, ...]
    docs: str

    def parse(self, body: bytes) -> tuple[str, ...]:
        """The ranges in a feed's body, normalised and sorted; ``FeedRejected`` if it is not a valid list."""
        if len(body) > MAX_FEED_BYTES:
            raise FeedRejected("oversized", f"{self.name}: the feed is over {MAX_FEED_BYTES} bytes")
        try:
            document: Any = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise FeedRejected("malformed", f"{self.name}: the feed is not JSON") from None
        for key in self.path:
            if not isinstance(document, dict) or key not in document:
                raise FeedRejected("malformed", f"{self.name}: the feed has no {'.'.join(self.path)} list")
            document = document[key]
        if not isinstance(document, list):
            raise FeedRejected("malformed", f"{self.name}: {'.'.join(self.path)} is not a list")
        return validate_ranges(document, label=self.name)


def validate_ranges(entries: Iterable[object], *, label: str, max_ranges: int = MAX_RANGES) -> tuple[str, ...]:
    """``entries`` as CIDRs (a bare address is one address), sorted; ``FeedRejected`` unless it is a usable list."""
    networks: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for entry in entries:
        if not isinstance(entry, str) or len(entry) > 64:
            raise FeedRejected("malformed", f"{label}: an entry is not an address or a CIDR")
        try:
            network = ipaddress.ip_network(entry.strip(), strict=True)
        except ValueError:
            raise FeedRejected("malformed", f"{label}: {entry[:64]!r} is not an address or a CIDR") from None
        if network.prefixlen < WIDEST_PREFIX[network.version]:
            raise FeedRejected(
                "too-wide",
                f"{label}: {network} is wider than /{WIDEST_PREFIX[network.version]}, the widest range the kit "
                "accepts from a published list",
            )
        networks.add(network)
        if len(networks) > max_ranges:
            raise FeedRejected("too-many", f"{label}: more than {max_ranges} ranges")
    if not networks:
        raise FeedRejected("empty", f"{label}: the list is empty")
    return sort_ranges(str(network) for network in networks)


def sort_ranges(ranges: Iterable[str]) -> tuple[str, ...]:
    """CIDRs in address order, IPv4 first: the order every list is kept and compared in."""
    networks = {ipaddress.ip_network(cidr) for cidr in ranges}
    return tuple(str(n) for n in sorted(networks, key=lambda n: (n.version, int(n.network_address), n.prefixlen)))


def by_version(ranges: Iterable[str]) -> dict[int, tuple[str, ...]]:
    """``ranges`` split by IP version (an AWS WAF IP set holds one version); versions without a range are absent."""
    split: dict[int, list[str]] = {}
    for cidr in ranges:
        split.setdefault(ipaddress.ip_network(cidr).version, []).append(cidr)
    return {version: sort_ranges(cidrs) for version, cidrs in sorted(split.items())}


@dataclass(frozen=True)
class Change:
    """What turns one list into another."""

    added: tuple[str, ...]
    removed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def difference(current: Iterable[str], published: Iterable[str]) -> Change:
    """The ranges ``published`` adds to ``current`` and the ranges it removes (compared as networks)."""
    now, then = set(sort_ranges(current)), set(sort_ranges(published))
    return Change(added=sort_ranges(then - now), removed=sort_ranges(now - then))


@dataclass(frozen=True)
class Snapshot:
    """A preset's list as the kit ships it: what synth puts in the IP sets before the first sync."""

    preset: str
    source: str
    taken: date
    via: str
    ranges: tuple[str, ...]


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="stripe",
            provider="stripe",
            # Stripe's own machine-readable list of webhook addresses (docs.stripe.com/ips,
            # "Webhook notifications", links it); {"WEBHOOKS": ["3.18.12.63", ...]}.
            feed="https://stripe.com/files/ips/ips_webhooks.json",
            path=("WEBHOOKS",),
            hosts=("stripe.com",),
            docs="https://docs.stripe.com/ips#webhook-notifications",
        ),
        Preset(
            name="github",
            provider="github",
            # The "hooks" list of the meta API (GitHub Docs, "About GitHub's IP addresses":
            # the meta API is the source of the ranges GitHub delivers webhooks from).
            feed="https://api.github.com/meta",
            path=("hooks",),
            hosts=("api.github.com",),
            docs="https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-githubs-ip-addresses",
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset ``name``; ``KeyError`` naming the presets there are."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(
            f"no allow-list preset {name!r}; presets: {', '.join(sorted(PRESETS))} (a provider whose list is "
            "only on a web page is pinned with allowed_cidrs instead)"
        ) from None


def snapshot_path(name: str) -> Path:
    return SNAPSHOTS / f"{name}.json"


@cache
def load_snapshot(name: str) -> Snapshot:
    """The shipped snapshot of preset ``name``, validated as strictly as a feed."""
    return read_snapshot(snapshot_path(name), name)


def read_snapshot(path: Path, name: str) -> Snapshot:
    """The snapshot file ``path`` of preset ``name``; ``FeedRejected`` unless it is complete, dated and valid."""
    preset = get_preset(name)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FeedRejected("malformed", f"{path.name}: not a readable JSON snapshot ({error})") from None
    if not isinstance(raw, dict) or set(raw) != {"preset", "source", "taken", "via", "ranges"}:
        raise FeedRejected("malformed", f"{path.name}: a snapshot has exactly preset, source, taken, via and ranges")
    if raw["preset"] != name or raw["source"] != preset.feed:
        raise FeedRejected("malformed", f"{path.name}: names preset {raw['preset']!r} from {raw['source']!r}")
    if not isinstance(raw["ranges"], list):
        raise FeedRejected("malformed", f"{path.name}: ranges is not a list")
    try:
        taken = date.fromisoformat(raw["taken"])
    except (TypeError, ValueError):
        raise FeedRejected("malformed", f"{path.name}: taken must be a date, YYYY-MM-DD") from None
    ranges = validate_ranges(raw["ranges"], label=path.name)
    if list(ranges) != raw["ranges"]:
        raise FeedRejected("malformed", f"{path.name}: ranges must be normalised CIDRs in sort_ranges order")
    return Snapshot(preset=name, source=preset.feed, taken=taken, via=str(raw["via"]), ranges=ranges)


def snapshot_document(name: str, ranges: Sequence[str], *, taken: date, via: str) -> str:
    """The text of a snapshot file, as ``load_snapshot`` reads it back (``ipsets refresh`` writes it)."""
    document = {
        "preset": name,
        "source": get_preset(name).feed,
        "taken": taken.isoformat(),
        "via": via,
        "ranges": list(validate_ranges(ranges, label=name)),
    }
    return json.dumps(document, indent=2) + "\n"
