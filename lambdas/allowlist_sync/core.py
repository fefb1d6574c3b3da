"""What one run of the allow-list sync decides, per preset: a pure function of the published
list, the IP sets' current state and the limits (docs/security.md, "Allow-lists").

For each preset the run reads the provider's feed and validates it
(``Preset.parse``: JSON of the expected shape, every entry an address or a
network, non-empty, no range wider than the kit accepts, at most ``MAX_RANGES``).
It then compares the list with the preset's IP sets (one per IP version) and:

* refuses a list that has ranges of an IP version this deployment has no set
  for, or none of a version it has a set for (a set is never emptied: an
  empty IP set in an allow rule refuses every delivery of that version);
* refuses a change larger than ``max_change_percent`` of the current ranges
  (at least ``ALLOWLIST_MIN_UNCONFIRMED_CHANGE``) unless a second read,
  ``confirm_seconds`` later, publishes exactly the same list: a feed caught
  mid-deploy or served stale by a cache is not applied;
* updates each set that differs with the lock token it read, and on a stale
  token (someone else updated the set: a deploy) reads it again and retries once.

Any failure leaves the sets it has not updated as they were and is returned as
a ``failed`` outcome with a short reason code; the handler counts it and its
alarm fires. No list is ever widened beyond what the provider published, since
the sets receive the validated published list and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from shared.allowlists import Change, FeedRejected, Preset, by_version, difference
from shared.contract import ALLOWLIST_MIN_UNCONFIRMED_CHANGE
from webhook_verify.https_get import FetchError


class DependencyError(Exception):
    """AWS WAF failed or refused a call (the message names the API error code, never data)."""


class StaleLock(Exception):
    """The IP set changed since its lock token was read (WAFOptimisticLockException)."""


@dataclass(frozen=True)
class IpSetState:
    addresses: tuple[str, ...]
    lock_token: str
    description: str | None


class IpSets(Protocol):
    """AWS WAF's IP sets, by their CloudFormation Ref ("name|id|scope")."""

    def get(self, ref: str) -> IpSetState: ...

    def update(self, ref: str, addresses: Sequence[str], lock_token: str, description: str | None) -> None: ...


# The feed's body for a preset; FetchError when it cannot be read.
Fetch = Callable[[Preset], bytes]


@dataclass(frozen=True)
class Target:
    """A preset and the IP sets holding it, by IP version."""

    preset: Preset
    ip_sets: Mapping[int, str]


@dataclass(frozen=True)
class Limits:
    max_change_percent: int
    confirm_seconds: float
    min_unconfirmed: int = ALLOWLIST_MIN_UNCONFIRMED_CHANGE


@dataclass(frozen=True)
class Outcome:
    """What a run did to one preset. ``added``/``removed``: what reached the IP sets (empty on failure
    before any update)."""

    preset: str
    status: Literal["updated", "unchanged", "failed"]
    reason: str | None = None
    detail: str = ""
    added: tuple[str, ...] = field(default_factory=tuple)
    removed: tuple[str, ...] = field(default_factory=tuple)

    @property
    def succeeded(self) -> bool:
        return self.status != "failed"


class _Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def sync(
    targets: Sequence[Target],
    *,
    fetch: Fetch,
    ip_sets: IpSets,
    limits: Limits,
    sleep: Callable[[float], None],
) -> list[Outcome]:
    """Bring every preset's IP sets in line with its published list; one preset's failure does not stop the rest."""
    return [_sync_one(target, fetch=fetch, ip_sets=ip_sets, limits=limits, sleep=sleep) for target in targets]


def _sync_one(
    target: Target, *, fetch: Fetch, ip_sets: IpSets, limits: Limits, sleep: Callable[[float], None]
) -> Outcome:
    name = target.preset.name
    applied: list[Change] = []
    try:
        published = _read(target.preset, fetch)
        wanted = _placed(target, published)
        states = {version: _get(ip_sets, ref) for version, ref in target.ip_sets.items()}
        changes = {version: difference(states[version].addresses, wanted[version]) for version in states}
        changed = sum(len(change.added) + len(change.removed) for change in changes.values())
        current = sum(len(state.addresses) for state in states.values())
        if changed > max(limits.min_unconfirmed, current * limits.max_change_percent / 100):
            sleep(limits.confirm_seconds)
            if _read(target.preset, fetch) != published:
                raise _Refused(
                    "unconfirmed",
                    f"a change of {changed} of {current} ranges, and a second read {limits.confirm_seconds:g} s "
                    "later published a different list",
                )
        for version, ref in sorted(target.ip_sets.items()):
            if changes[version]:
                applied.append(_update(ip_sets, ref, states[version], wanted[version]))
    except _Refused as refused:
        return _outcome(name, "failed", applied, reason=refused.reason, detail=str(refused))
    return _outcome(name, "updated" if applied else "unchanged", applied)


def _read(preset: Preset, fetch: Fetch) -> tuple[str, ...]:
    try:
        return preset.parse(fetch(preset))
    except FetchError as error:
        raise _Refused("unreachable", f"the feed could not be read: {error}") from None
    except FeedRejected as rejected:
        raise _Refused(rejected.reason, str(rejected)) from None


def _placed(target: Target, published: tuple[str, ...]) -> dict[int, tuple[str, ...]]:
    """The published list per IP set; refused if a version has no set, or a set would be left empty."""
    split = by_version(published)
    for version in split:
        if version not in target.ip_sets:
            raise _Refused(
                "no-ip-set",
                f"the feed lists IPv{version} ranges and this deployment has no IPv{version} set for "
                f"{target.preset.name}: refresh the snapshots (python -m webhook_kit ipsets refresh --write) "
                "and deploy",
            )
    for version in target.ip_sets:
        if version not in split:
            raise _Refused(
                "would-empty",
                f"the feed lists no IPv{version} range: the IPv{version} set is kept as it is, never emptied",
            )
    return split


def _get(ip_sets: IpSets, ref: str) -> IpSetState:
    try:
        return ip_sets.get(ref)
    except DependencyError as error:
        raise _Refused("waf", f"reading the IP set failed: {error}") from None


def _update(ip_sets: IpSets, ref: str, state: IpSetState, wanted: tuple[str, ...]) -> Change:
    """Write ``wanted`` with the state's lock token; on a stale token read the set again and retry once."""
    for attempt in range(2):
        try:
            ip_sets.update(ref, wanted, state.lock_token, state.description)
            return difference(state.addresses, wanted)
        except StaleLock:
            if attempt:
                raise _Refused("lock-conflict", "the IP set changed under two updates in a row") from None
            state = _get(ip_sets, ref)
        except DependencyError as error:
            raise _Refused("waf", f"updating the IP set failed: {error}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _outcome(
    name: str,
    status: Literal["updated", "unchanged", "failed"],
    applied: list[Change],
    *,
    reason: str | None = None,
    detail: str = "",
) -> Outcome:
    return Outcome(
        preset=name,
        status=status,
        reason=reason,
        detail=detail,
        added=tuple(cidr for change in applied for cidr in change.added),
        removed=tuple(cidr for change in applied for cidr in change.removed),
    )
