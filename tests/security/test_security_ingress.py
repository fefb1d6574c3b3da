"""The per-source IP allow-list, through the local pipeline's WAF stand-in.

The pipeline listens on 127.0.0.1 only, so the "internet" here is the loopback
network 127.0.0.0/8: a client picks its address by binding it (Linux routes
all of 127.0.0.0/8 to loopback). IPv6 clients cannot reach an IPv4 listener,
so the IPv6 entry of ``s-dual`` is only checked not to admit IPv4 clients.
The stack's real WAF rules are checked in tests/infrastructure/test_ingress.py.

Sources (webhook-kit.security.toml):

* ``s-host``: 127.0.0.1/32
* ``s-net``:  127.0.0.0/30 and 127.0.0.8/29 (127.0.0.0-3 and 127.0.0.8-15)
* ``s-dual``: 127.0.0.4/32 and ::1/128
* ``s-open``: no allow-list: any address
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from webhook_kit.local import LocalPipeline
from webhook_kit.send import build

CASES = [
    # (source, client address, admitted)
    ("s-host", "127.0.0.1", True),
    ("s-host", "127.0.0.2", False),
    ("s-host", "127.0.1.1", False),
    ("s-net", "127.0.0.1", True),
    ("s-net", "127.0.0.3", True),
    ("s-net", "127.0.0.4", False),  # first address after the /30
    ("s-net", "127.0.0.7", False),  # last address before the /29
    ("s-net", "127.0.0.8", True),
    ("s-net", "127.0.0.15", True),
    ("s-net", "127.0.0.16", False),  # first address after the /29
    ("s-net", "127.1.0.1", False),
    ("s-dual", "127.0.0.4", True),
    ("s-dual", "127.0.0.1", False),  # ::1 is listed, but 127.0.0.1 is not ::1
    ("s-open", "127.0.0.1", True),
    ("s-open", "127.0.0.77", True),
    ("s-open", "127.255.255.254", True),
]


class _FromAddress(requests.adapters.HTTPAdapter):
    """Connect from a chosen local address."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.mark.parametrize(("source", "address", "admitted"), CASES)
def test_allow_listed_sources_refuse_other_addresses_and_open_sources_take_any(
    source: str, address: str, admitted: bool, pipeline: LocalPipeline
) -> None:
    webhook = build(
        pipeline.config.source(source), secret=pipeline.sources[source].secret, url=pipeline.webhook_url(source)
    )
    with requests.Session() as http:
        http.trust_env = False
        http.mount("http://", _FromAddress(address))
        try:
            response = http.post(webhook.url, data=webhook.body, headers=webhook.headers, timeout=10)
        except requests.ConnectionError as error:
            pytest.skip(f"cannot send from {address} on this system: {error}")

    if admitted:
        assert response.status_code == 202, response.text
        assert response.json() == {"id": webhook.delivery_id}
    else:
        assert response.status_code == 403
        assert response.json() == {"message": "Forbidden"}
        # Refused before the verifier: it never saw, let alone queued, the webhook.
        assert not any(event.delivery_id == webhook.delivery_id for event in pipeline.events)


def test_an_allowed_address_is_no_credential_a_bad_signature_still_gets_401(
    pipeline: LocalPipeline,
) -> None:
    config = pipeline.config.source("s-host")
    url = pipeline.webhook_url("s-host")
    forged = build(config, secret="not-the-secret", url=url)
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(forged.url, data=forged.body, headers=forged.headers, timeout=10)
    # An allowed address is not a credential: the signature is still checked.
    assert response.status_code == 401
