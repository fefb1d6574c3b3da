"""The local allow-list stand-in: the front applies the presets' WAF IP sets as moto's WAFv2 holds them now,
and ``ipsets diff --local`` compares those sets with the providers' lists (served here by a local TLS server).

One pipeline of its own (``webhook-kit.allowlists.toml``): ``a-stripe`` is allowed by the stripe preset only,
``a-github`` by the github preset or 127.0.0.1/32.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from allowlist_sync import handler as sync_handler
from allowlist_sync.adapters import FeedReader, WafIpSets
from shared import contract
from shared.allowlists import load_snapshot
from stacks.config import load_config
from tests.e2e_local.e2e_support import TIMEOUT, post, signed
from tests.support.lambda_context import LambdaContext
from tests.support.local_pipeline import running_pipeline
from tests.support.tls import tls_server, trusting
from webhook_kit.cli import app
from webhook_kit.local import LocalPipeline, local_client
from webhook_kit.local.allowlists import REFRESH_SECONDS
from webhook_kit.local.state import RunningPipeline, write_state
from webhook_verify.https_get import build_opener

CONFIG = Path(__file__).with_name("webhook-kit.allowlists.toml")
STRIPE_IPV4 = "WebhookKitAllow-allow-stripe-ipv4"


@pytest.fixture(scope="module")
def pipeline() -> Iterator[LocalPipeline]:
    # As the WAF applies them: this machine passes no preset (`local --no-allow-loopback`).
    with running_pipeline(load_config(CONFIG), names="allowlists", allow_loopback=False) as local:
        yield local


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


class _Feeds(BaseHTTPRequestHandler):
    """Serves ``bodies[path]``: the providers' lists as the test sets them."""

    bodies: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.bodies.get(self.path, b"")
        self.send_response(200 if self.path in self.bodies else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _stripe_ipv4(wafv2: Any) -> dict[str, Any]:
    summary = next(s for s in wafv2.list_ip_sets(Scope="REGIONAL")["IPSets"] if s["Name"] == STRIPE_IPV4)
    return dict(wafv2.get_ip_set(Name=STRIPE_IPV4, Scope="REGIONAL", Id=summary["Id"]))


@pytest.fixture
def stripe_as_shipped(pipeline: LocalPipeline) -> None:
    """The stripe preset's IP set back at its snapshot (tests here run in any order), as the front sees it."""
    wafv2 = local_client("wafv2", pipeline.aws_endpoint)
    found = _stripe_ipv4(wafv2)
    snapshot = list(load_snapshot("stripe").ranges)
    if found["IPSet"]["Addresses"] != snapshot:
        ip_set = found["IPSet"]
        wafv2.update_ip_set(
            Name=ip_set["Name"], Scope="REGIONAL", Id=ip_set["Id"], Addresses=snapshot, LockToken=found["LockToken"]
        )
        time.sleep(REFRESH_SECONDS + 0.2)


def _until_not_refused(http: requests.Session, pipeline: LocalPipeline, source: str) -> int:
    deadline = time.monotonic() + TIMEOUT
    while (status := post(http, signed(pipeline, source)).status_code) == 403 and time.monotonic() < deadline:
        time.sleep(0.2)
    return status


@pytest.mark.usefixtures("stripe_as_shipped")
def test_the_front_lets_through_what_the_preset_ip_sets_hold_after_an_update_with_the_lock_token(
    pipeline: LocalPipeline, http: requests.Session
) -> None:
    wafv2 = local_client("wafv2", pipeline.aws_endpoint)
    found = _stripe_ipv4(wafv2)
    assert found["IPSet"]["Addresses"] == list(load_snapshot("stripe").ranges)

    refused = post(http, signed(pipeline, "a-stripe"))
    assert refused.status_code == 403
    # The front answers first and reports after: wait for the line rather than race it.
    refusal = "WAF: 127.0.0.1 not in the allow-list"
    assert pipeline.wait_for(lambda events: any(e.detail == refusal for e in events if e.source == "a-stripe"), TIMEOUT)
    # a-github's own CIDR allows loopback, whatever its preset holds.
    assert post(http, signed(pipeline, "a-github")).status_code == 202

    ip_set = found["IPSet"]
    wafv2.update_ip_set(
        Name=ip_set["Name"],
        Scope="REGIONAL",
        Id=ip_set["Id"],
        Addresses=[*ip_set["Addresses"], "127.0.0.1/32"],
        LockToken=found["LockToken"],
    )
    with pytest.raises(ClientError, match="WAFOptimisticLockException"):
        wafv2.update_ip_set(
            Name=ip_set["Name"],
            Scope="REGIONAL",
            Id=ip_set["Id"],
            Addresses=["3.18.12.63/32"],
            LockToken=found["LockToken"],
        )

    assert _until_not_refused(http, pipeline, "a-stripe") == 202


@pytest.mark.usefixtures("stripe_as_shipped")
def test_the_sync_run_against_the_pipelines_waf_changes_what_the_front_lets_through(
    pipeline: LocalPipeline, http: requests.Session, tmp_path: Path
) -> None:
    """The whole loop: a provider publishes a new address; the sync's handler (its real adapters: the
    bounded HTTPS GET, WAFv2's UpdateIPSet with the lock token) applies it; the front admits it."""
    wafv2 = local_client("wafv2", pipeline.aws_endpoint)
    assert post(http, signed(pipeline, "a-stripe")).status_code == 403
    ip_set = _stripe_ipv4(wafv2)["IPSet"]
    published = [cidr.removesuffix("/32") for cidr in load_snapshot("stripe").ranges] + ["127.0.0.1"]
    _Feeds.bodies = {"/stripe": json.dumps({"WEBHOOKS": published}).encode()}
    with tls_server(_Feeds, tmp_path) as (port, certificate):
        sync_handler.install(
            fetch=FeedReader(
                feeds={"stripe": f"https://localhost:{port}/stripe"}, opener=build_opener(trusting(certificate))
            ),
            ip_sets=WafIpSets(wafv2),
            environ=contract.allowlist_sync_environment(
                targets={"stripe": {4: f"{ip_set['Name']}|{ip_set['Id']}|REGIONAL"}},
                max_change_percent=contract.DEFAULT_ALLOWLIST_MAX_CHANGE_PERCENT,
                confirm_seconds=0,
            ),
        )
        try:
            result = sync_handler.handler({}, LambdaContext(function_name="allowlist-sync"))
        finally:
            sync_handler.reset()
    assert result == {"stripe": {"status": "updated", "reason": None}}
    assert "127.0.0.1/32" in _stripe_ipv4(wafv2)["IPSet"]["Addresses"]
    assert _until_not_refused(http, pipeline, "a-stripe") == 202


def test_ipsets_diff_local_shows_the_ranges_each_feed_adds_and_removes(
    pipeline: LocalPipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --local finds the pipeline as `send` does: the state file in the working directory.
    monkeypatch.chdir(tmp_path)
    write_state(RunningPipeline(url=pipeline.url, aws_endpoint=pipeline.aws_endpoint, pid=os.getpid()))
    stripe_now = _stripe_ipv4(local_client("wafv2", pipeline.aws_endpoint))["IPSet"]["Addresses"]
    dropped = stripe_now[0]
    github = list(load_snapshot("github").ranges)

    with tls_server(_Feeds, tmp_path) as (port, certificate):

        def diff(stripe: object, github_list: object) -> tuple[int, str]:
            """``ipsets diff --local``'s exit code and output (spaces collapsed) with these lists published."""
            _Feeds.bodies = {
                "/stripe": json.dumps({"WEBHOOKS": stripe}).encode(),
                "/github": json.dumps({"hooks": github_list}).encode(),
            }
            feeds = [f"--feed=stripe=https://localhost:{port}/stripe", f"--feed=github=https://localhost:{port}/github"]
            arguments = ["ipsets", "diff", "--local", "--config", str(CONFIG), *feeds, "--ca-file", str(certificate)]
            result = CliRunner().invoke(app, arguments)
            return result.exit_code, " ".join(result.output.split())

        equal = diff(stripe_now, github)
        changed = diff([*stripe_now[1:], "198.51.100.0/24"], github)
        catch_all = diff(stripe_now, ["0.0.0.0/0"])

    assert equal[0] == 0, equal[1]
    assert "stripe IPv4 WebhookKitAllow-allow-stripe-ipv4 equal (" in equal[1]
    assert "github IPv6 WebhookKitAllow-allow-github-ipv6 equal (" in equal[1]

    assert changed[0] == 1, changed[1]
    assert "stripe IPv4 WebhookKitAllow-allow-stripe-ipv4 + 198.51.100.0/24" in changed[1]
    assert f"stripe IPv4 WebhookKitAllow-allow-stripe-ipv4 - {dropped}" in changed[1]
    assert "github IPv4 WebhookKitAllow-allow-github-ipv4 equal (" in changed[1]

    assert catch_all[0] == 2, catch_all[1]
    assert f"error: github: https://localhost:{port}/github is refused (too-wide)" in catch_all[1]
    assert "stripe IPv4 WebhookKitAllow-allow-stripe-ipv4 equal (" in catch_all[1]
