"""The allow-list sync end to end: its handler, reading feeds over real, verified TLS from a
server on loopback, updating IP sets on moto's WAFv2 (which checks lock tokens as AWS WAF does).
Each bad answer leaves the IP set unchanged and is counted; a good one updates it with its token."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest

from allowlist_sync import handler as sync_handler
from allowlist_sync.adapters import FeedReader, WafIpSets
from allowlist_sync.core import StaleLock
from shared import contract
from shared.allowlists import MAX_FEED_BYTES, load_snapshot
from tests.support.lambda_context import LambdaContext
from tests.support.tls import tls_server, trusting
from webhook_verify.https_get import build_opener

SNAPSHOT = list(load_snapshot("stripe").ranges)
GOOD = {"WEBHOOKS": [cidr.removesuffix("/32") for cidr in SNAPSHOT] + ["3.18.12.64"]}

ANSWERS: dict[str, tuple[int, bytes]] = {
    "/good": (200, json.dumps(GOOD).encode()),
    "/malformed": (200, b"<html><body>We'll be right back</body></html>"),
    "/empty": (200, b'{"WEBHOOKS": []}'),
    "/catch-all": (200, json.dumps({"WEBHOOKS": [*GOOD["WEBHOOKS"], "0.0.0.0/0"]}).encode()),
    "/oversized": (200, b'{"WEBHOOKS": [' + b'"3.18.12.63",' * (MAX_FEED_BYTES // 13) + b'"3.18.12.63"]}'),
    "/error": (503, b"unavailable"),
}


class Feeds(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Feeds.hits.append(self.path)
        if self.path == "/slow":  # starts answering, then trickles past the reader's deadline
            self.send_response(200)
            self.end_headers()
            for _ in range(30):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.1)
            return
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/good")
            self.end_headers()
            return
        status, body = ANSWERS[self.path]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if self.path != "/oversized":  # no Content-Length: the cap must hold on what arrives
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    with tls_server(Feeds, tmp_path_factory.mktemp("feeds")) as served:
        yield served


@pytest.fixture
def ip_set(moto_endpoint: str) -> Iterator[dict[str, str]]:
    waf = boto3.client("wafv2")
    created = waf.create_ip_set(
        Name="test-allow-stripe-ipv4",
        Scope="REGIONAL",
        IPAddressVersion="IPV4",
        Addresses=SNAPSHOT,
        Description="webhook-kit preset stripe IPv4",
    )["Summary"]
    yield {"Name": created["Name"], "Id": created["Id"], "Scope": "REGIONAL"}
    waf.delete_ip_set(**_current(created), LockToken=waf.get_ip_set(**_current(created))["LockToken"])


def _current(summary: dict[str, str]) -> dict[str, str]:
    return {"Name": summary["Name"], "Id": summary["Id"], "Scope": "REGIONAL"}


def _run(feeds: tuple[int, Path], ip_set: dict[str, str], path: str, capsys: pytest.CaptureFixture[str]) -> Any:
    port, cafile = feeds
    ref = f"{ip_set['Name']}|{ip_set['Id']}|{ip_set['Scope']}"
    sync_handler.install(
        fetch=FeedReader(
            feeds={"stripe": f"https://localhost:{port}{path}"},
            opener=build_opener(trusting(cafile)),
            total_seconds=1.0,
        ),
        ip_sets=WafIpSets(boto3.client("wafv2")),
        environ=contract.allowlist_sync_environment(
            targets={"stripe": {4: ref}}, max_change_percent=50, confirm_seconds=0
        ),
    )
    capsys.readouterr()
    try:
        result = sync_handler.handler({}, LambdaContext(function_name="allowlist-sync"))
    finally:
        sync_handler.reset()
    counted = {
        metric["Name"]
        for line in capsys.readouterr().out.splitlines()
        if '"_aws"' in line
        for metric in json.loads(line)["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    return result["stripe"], counted


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/malformed", "malformed"),
        ("/empty", "empty"),
        ("/catch-all", "too-wide"),
        ("/oversized", "unreachable"),  # stopped by the GET's byte cap before any parsing
        ("/slow", "unreachable"),
        ("/redirect", "unreachable"),
        ("/error", "unreachable"),
    ],
)
def test_a_bad_answer_leaves_the_ip_set_unchanged_and_is_counted(
    feeds: tuple[int, Path], ip_set: dict[str, str], capsys: pytest.CaptureFixture[str], path: str, reason: str
) -> None:
    before = boto3.client("wafv2").get_ip_set(**ip_set)
    outcome, counted = _run(feeds, ip_set, path, capsys)
    after = boto3.client("wafv2").get_ip_set(**ip_set)
    assert outcome == {"status": "failed", "reason": reason}
    assert counted == {contract.METRIC_ALLOWLIST_SYNC_FAILED}
    assert after["IPSet"]["Addresses"] == before["IPSet"]["Addresses"] == SNAPSHOT
    assert after["LockToken"] == before["LockToken"], "nothing was written"


def test_a_good_answer_updates_the_ip_set_with_its_lock_token(
    feeds: tuple[int, Path], ip_set: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = boto3.client("wafv2").get_ip_set(**ip_set)
    outcome, counted = _run(feeds, ip_set, "/good", capsys)
    after = boto3.client("wafv2").get_ip_set(**ip_set)
    assert outcome == {"status": "updated", "reason": None}
    assert counted == {
        contract.METRIC_ALLOWLIST_SYNCED,
        contract.METRIC_ALLOWLIST_RANGES_ADDED,
        contract.METRIC_ALLOWLIST_RANGES_REMOVED,
    }
    assert sorted(after["IPSet"]["Addresses"]) == sorted([*SNAPSHOT, "3.18.12.64/32"])
    assert after["LockToken"] != before["LockToken"]
    assert after["IPSet"]["Description"] == "webhook-kit preset stripe IPv4", "UpdateIPSet kept the description"
    # A second run finds nothing to do.
    assert _run(feeds, ip_set, "/good", capsys)[0] == {"status": "unchanged", "reason": None}


def test_an_update_with_a_stale_lock_token_is_refused_by_waf(moto_endpoint: str, ip_set: dict[str, str]) -> None:
    """The seam's premise, on moto's WAFv2: a token read before someone else's update no longer writes."""
    waf = boto3.client("wafv2")
    stale = waf.get_ip_set(**ip_set)["LockToken"]
    waf.update_ip_set(**ip_set, Addresses=SNAPSHOT[:3], LockToken=stale)
    with pytest.raises(StaleLock):
        WafIpSets(waf).update(f"{ip_set['Name']}|{ip_set['Id']}|REGIONAL", SNAPSHOT, stale, None)
