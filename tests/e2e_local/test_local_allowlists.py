"""The local allow-list stand-in: the front applies the presets' WAF IP sets as moto's WAFv2 holds them now.

One pipeline of its own (``webhook-kit.allowlists.toml``): ``a-stripe`` is allowed by the stripe preset only,
``a-github`` by the github preset or 127.0.0.1/32.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from shared.allowlists import load_snapshot
from stacks.config import load_config
from tests.e2e_local.e2e_support import TIMEOUT, post, signed
from tests.support.local_pipeline import running_pipeline
from webhook_kit.local import LocalPipeline, local_client

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


def _stripe_ipv4(wafv2: Any) -> dict[str, Any]:
    summary = next(s for s in wafv2.list_ip_sets(Scope="REGIONAL")["IPSets"] if s["Name"] == STRIPE_IPV4)
    return dict(wafv2.get_ip_set(Name=STRIPE_IPV4, Scope="REGIONAL", Id=summary["Id"]))


def test_the_front_lets_through_what_the_preset_ip_sets_hold_after_an_update_with_the_lock_token(
    pipeline: LocalPipeline, http: requests.Session
) -> None:
    wafv2 = local_client("wafv2", pipeline.aws_endpoint)
    found = _stripe_ipv4(wafv2)
    assert found["IPSet"]["Addresses"] == list(load_snapshot("stripe").ranges)

    refused = post(http, signed(pipeline, "a-stripe"))
    assert refused.status_code == 403
    assert any(e.detail == "WAF: 127.0.0.1 not in the allow-list" for e in pipeline.events if e.source == "a-stripe")
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

    deadline = time.monotonic() + TIMEOUT
    while (status := post(http, signed(pipeline, "a-stripe")).status_code) == 403 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == 202
