"""The allow-list sync's decisions (allowlist_sync.core) and its handler's records, with an in-memory
WAF that checks lock tokens as AWS WAF does. The real HTTP and moto's WAFv2:
tests/integration/test_allowlist_sync_moto.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from allowlist_sync import handler as sync_handler
from allowlist_sync.core import DependencyError, IpSetState, Limits, StaleLock, Target, sync
from shared import contract
from shared.allowlists import PRESETS, Preset
from tests.support.lambda_context import LambdaContext
from webhook_verify.https_get import FetchError

STRIPE = PRESETS["stripe"]
GITHUB = PRESETS["github"]
V4 = "stripe-ipv4|id-4|REGIONAL"
G4, G6 = "github-ipv4|id-g4|REGIONAL", "github-ipv6|id-g6|REGIONAL"
CURRENT = ("192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32", "192.0.2.4/32")
LIMITS = Limits(max_change_percent=50, confirm_seconds=30)


@dataclass
class FakeWaf:
    """IP sets with AWS WAF's optimistic locking: an update must bring the token of the last read."""

    sets: dict[str, list[str]]
    tokens: dict[str, str] = field(default_factory=dict)
    updates: list[tuple[str, tuple[str, ...], str | None]] = field(default_factory=list)
    interfere: int = 0  # this many updates by "someone else" happen between our read and our write
    fail: bool = False

    def get(self, ref: str) -> IpSetState:
        if self.fail:
            raise DependencyError("WAFInternalErrorException")
        token = self.tokens.setdefault(ref, uuid.uuid4().hex)
        return IpSetState(addresses=tuple(self.sets[ref]), lock_token=token, description="kept")

    def update(self, ref: str, addresses: Sequence[str], lock_token: str, description: str | None) -> None:
        if self.interfere:
            self.interfere -= 1
            self.tokens[ref] = uuid.uuid4().hex
        if lock_token != self.tokens.get(ref):
            raise StaleLock
        self.sets[ref] = list(addresses)
        self.tokens[ref] = uuid.uuid4().hex
        self.updates.append((ref, tuple(addresses), description))


def feed(*bodies: bytes | Exception) -> tuple[list[Preset], object]:
    """A fetch that answers ``bodies`` in turn (an exception is raised), recording each call."""
    calls: list[Preset] = []
    answers = list(bodies)

    def fetch(preset: Preset) -> bytes:
        calls.append(preset)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return calls, fetch


def stripe_body(*addresses: str) -> bytes:
    return json.dumps({"WEBHOOKS": list(addresses)}).encode()


def run(waf: FakeWaf, fetch: object, targets: Sequence[Target] | None = None, sleeps: list[float] | None = None):
    slept = sleeps if sleeps is not None else []
    return sync(
        targets or [Target(STRIPE, {4: V4})],
        fetch=fetch,  # type: ignore[arg-type]
        ip_sets=waf,
        limits=LIMITS,
        sleep=slept.append,
    )


def test_a_good_answer_updates_the_set_with_its_lock_token_and_keeps_its_description() -> None:
    waf = FakeWaf({V4: list(CURRENT)})
    _calls, fetch = feed(stripe_body("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"))
    [outcome] = run(waf, fetch)
    assert (outcome.status, outcome.added, outcome.removed) == ("updated", ("192.0.2.5/32",), ())
    assert waf.sets[V4] == [*CURRENT, "192.0.2.5/32"]
    assert waf.updates[0][2] == "kept"


def test_an_unchanged_list_writes_nothing() -> None:
    waf = FakeWaf({V4: list(CURRENT)})
    _calls, fetch = feed(stripe_body(*(cidr.removesuffix("/32") for cidr in CURRENT)))
    [outcome] = run(waf, fetch)
    assert outcome.status == "unchanged" and outcome.succeeded
    assert waf.updates == []


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"not json", "malformed"),
        (stripe_body(), "empty"),
        (stripe_body("192.0.2.1", "0.0.0.0/0"), "too-wide"),
        (b" " * (2 * 1024 * 1024 + 1), "oversized"),
        (FetchError("the response took too long"), "unreachable"),
        (FetchError("HTTP 503"), "unreachable"),
    ],
)
def test_each_bad_answer_leaves_the_set_as_it_was(answer: bytes | Exception, reason: str) -> None:
    waf = FakeWaf({V4: list(CURRENT)})
    _calls, fetch = feed(answer)
    [outcome] = run(waf, fetch)
    assert (outcome.status, outcome.reason) == ("failed", reason)
    assert waf.sets[V4] == list(CURRENT) and waf.updates == []


def test_a_large_change_confirmed_by_a_second_read_is_applied() -> None:
    waf = FakeWaf({V4: list(CURRENT)})
    moved = stripe_body("198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4")
    calls, fetch = feed(moved, moved)
    sleeps: list[float] = []
    [outcome] = run(waf, fetch, sleeps=sleeps)
    assert outcome.status == "updated" and len(outcome.removed) == 4
    assert len(calls) == 2 and sleeps == [30]


def test_a_large_change_the_second_read_contradicts_is_not_applied() -> None:
    waf = FakeWaf({V4: list(CURRENT)})
    calls, fetch = feed(stripe_body("198.51.100.1"), stripe_body("192.0.2.1", "192.0.2.2"))
    [outcome] = run(waf, fetch)
    assert (outcome.status, outcome.reason) == ("failed", "unconfirmed")
    assert waf.sets[V4] == list(CURRENT) and len(calls) == 2


def test_a_small_change_needs_no_second_read() -> None:
    waf = FakeWaf({V4: list(CURRENT)})
    calls, fetch = feed(stripe_body("192.0.2.1", "192.0.2.2", "192.0.2.3"))
    [outcome] = run(waf, fetch)
    assert outcome.removed == ("192.0.2.4/32",) and len(calls) == 1


def test_a_stale_lock_token_is_read_again_and_the_update_retried_once() -> None:
    waf = FakeWaf({V4: list(CURRENT)}, interfere=1)
    _calls, fetch = feed(stripe_body("192.0.2.1", "192.0.2.2", "192.0.2.3"))
    [outcome] = run(waf, fetch)
    assert outcome.status == "updated" and waf.sets[V4] == list(CURRENT[:3])


def test_a_set_that_keeps_changing_under_the_sync_is_left_alone() -> None:
    waf = FakeWaf({V4: list(CURRENT)}, interfere=2)
    _calls, fetch = feed(stripe_body("192.0.2.1", "192.0.2.2", "192.0.2.3"))
    [outcome] = run(waf, fetch)
    assert (outcome.status, outcome.reason) == ("failed", "lock-conflict")
    assert waf.sets[V4] == list(CURRENT)


def test_a_waf_failure_is_a_failed_outcome() -> None:
    waf = FakeWaf({V4: list(CURRENT)}, fail=True)
    _calls, fetch = feed(stripe_body("192.0.2.1"))
    [outcome] = run(waf, fetch)
    assert (outcome.status, outcome.reason) == ("failed", "waf")


def test_a_set_is_never_emptied_when_its_ip_version_leaves_the_feed() -> None:
    waf = FakeWaf({G4: ["192.30.252.0/22"], G6: ["2a0a:a440::/29"]})
    _calls, fetch = feed(json.dumps({"hooks": ["192.30.252.0/22"]}).encode())
    [outcome] = run(waf, fetch, [Target(GITHUB, {4: G4, 6: G6})])
    assert (outcome.status, outcome.reason) == ("failed", "would-empty")
    assert waf.updates == []


def test_ranges_of_an_ip_version_without_a_set_stop_the_preset_and_say_how_to_fix_it() -> None:
    waf = FakeWaf({G4: ["192.30.252.0/22"]})
    _calls, fetch = feed(json.dumps({"hooks": ["192.30.252.0/22", "2a0a:a440::/29"]}).encode())
    [outcome] = run(waf, fetch, [Target(GITHUB, {4: G4})])
    assert (outcome.status, outcome.reason) == ("failed", "no-ip-set")
    assert "ipsets refresh --write" in outcome.detail


def test_one_presets_failure_does_not_stop_the_next() -> None:
    waf = FakeWaf({V4: list(CURRENT), G4: ["192.30.252.0/22"]})

    def fetch(preset: Preset) -> bytes:
        if preset.name == "stripe":
            raise FetchError("HTTP 500")
        return json.dumps({"hooks": ["192.30.252.0/22", "140.82.112.0/20"]}).encode()

    stripe, github = run(waf, fetch, [Target(STRIPE, {4: V4}), Target(GITHUB, {4: G4})])
    assert stripe.status == "failed" and github.status == "updated"


# --------------------------------------------------------------------------- the handler


def environment(targets: dict[str, dict[str, str]]) -> dict[str, str]:
    return contract.allowlist_sync_environment(
        targets={name: {int(v): ref for v, ref in sets.items()} for name, sets in targets.items()},
        max_change_percent=50,
        confirm_seconds=0,
    )


def test_the_handler_counts_each_presets_outcome_under_its_own_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    waf = FakeWaf({V4: list(CURRENT), G4: ["192.30.252.0/22"]})

    def fetch(preset: Preset) -> bytes:
        if preset.name == "github":
            raise FetchError("the response took too long")
        return stripe_body("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.9")

    sync_handler.install(fetch=fetch, ip_sets=waf, environ=environment({"stripe": {"4": V4}, "github": {"4": G4}}))
    try:
        result = sync_handler.handler({}, LambdaContext(function_name="allowlist-sync"))
    finally:
        sync_handler.reset()
    assert result == {
        "github": {"status": "failed", "reason": "unreachable"},
        "stripe": {"status": "updated", "reason": None},
    }
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    seen = {
        (metric["Name"], blob["preset"], float(blob[metric["Name"]][0]), blob["service"])
        for blob in blobs
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    service = contract.ALLOWLIST_SYNC_SERVICE
    assert seen == {
        (contract.METRIC_ALLOWLIST_SYNC_FAILED, "github", 1.0, service),
        (contract.METRIC_ALLOWLIST_SYNCED, "stripe", 1.0, service),
        (contract.METRIC_ALLOWLIST_RANGES_ADDED, "stripe", 1.0, service),
        (contract.METRIC_ALLOWLIST_RANGES_REMOVED, "stripe", 0.0, service),
    }


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "WEBHOOK_KIT_ALLOWLIST_TARGETS"),
        ({contract.ENV_ALLOWLIST_TARGETS: "{}"}, "names no preset"),
        ({contract.ENV_ALLOWLIST_TARGETS: '{"stripe-test": {"4": "a|b|REGIONAL"}}'}, "unknown preset"),
        ({contract.ENV_ALLOWLIST_TARGETS: '{"stripe": {"5": "a|b|REGIONAL"}}'}, "IP versions 4 and/or 6"),
        ({contract.ENV_ALLOWLIST_TARGETS: '{"stripe": {"4": "arn:aws:wafv2"}}'}, "name|id|scope"),
    ],
)
def test_an_environment_the_stack_would_not_write_fails_at_cold_start(environ: dict[str, str], message: str) -> None:
    with pytest.raises(sync_handler.ConfigError, match=message.replace("|", r"\|")):
        sync_handler.read_targets(environ)
