"""The GET challenges end to end over HTTP: the local front (API Gateway's routes, the WAF's rules), the real
verifier with the secret documents the pipeline stores, and nothing on any queue (docs/handshakes.md).

Trello's HEAD is not here: no catalogue entry names it yet, so no source can answer it
(tests/unit/test_handshakes_get.py checks the handshake itself).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_support import queue_depth

from stacks.config import load_config
from tests.support.local_pipeline import running_pipeline
from webhook_kit.devsecrets import dev_secret_document
from webhook_kit.local import LocalPipeline, local_client
from webhook_verify.handshakes import MAX_ECHO_BYTES

CONFIG = Path(__file__).with_name("webhook-kit.handshakes.toml")
OKTA_CHALLENGE = "Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg"  # Okta's own example value


@pytest.fixture(scope="module")
def local() -> Iterator[LocalPipeline]:
    with running_pipeline(load_config(CONFIG), names="handshakes") as pipeline:
        yield pipeline


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture(autouse=True)
def nothing_is_queued(local: LocalPipeline) -> Iterator[None]:
    yield
    sqs = local_client("sqs", local.aws_endpoint)
    assert {name: queue_depth(sqs, source.queue_url) for name, source in local.sources.items()} == dict.fromkeys(
        local.sources, 0
    )
    assert not [event for event in local.events if event.stage == "accepted"]


def _get(http: requests.Session, local: LocalPipeline, source: str, **kwargs: Any) -> requests.Response:
    return http.get(local.webhook_url(source), timeout=10, **kwargs)


def _verify_token(local: LocalPipeline) -> str:
    return local.sources["h-meta"].tokens["verify_token"]


def test_the_pipeline_stores_a_verify_token_for_meta_and_exposes_get_only_where_a_handshake_needs_it(
    local: LocalPipeline,
) -> None:
    secrets = local_client("secretsmanager", local.aws_endpoint)
    stored = json.loads(secrets.get_secret_value(SecretId=local.sources["h-meta"].secret_arn)["SecretString"])
    assert stored == dev_secret_document("h-meta", "generic-hmac", "meta-hub-challenge")
    assert set(stored) == {"secrets", "verify_token"} and stored["verify_token"] == _verify_token(local)
    assert {name: source.methods for name, source in local.sources.items()} == {
        "h-meta": ("POST", "GET"),
        "h-okta": ("POST", "GET"),
        "h-dropbox": ("POST", "GET"),
        "h-github": ("POST",),
    }


def test_meta_verification_request_is_answered_with_its_challenge(local: LocalPipeline, http: requests.Session) -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": _verify_token(local)}
    response = _get(http, local, "h-meta", params=params)
    assert (response.status_code, response.text) == (200, "1158201444")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_meta_verification_request_with_a_wrong_verify_token_is_refused(
    local: LocalPipeline, http: requests.Session, token: str
) -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": token}
    response = _get(http, local, "h-meta", params=params)
    assert response.status_code == 401
    assert "1158201444" not in response.text


@pytest.mark.parametrize(
    "challenge", ["9" * (MAX_ECHO_BYTES + 1), "<script>alert(1)</script>\x00", "caf\u00e9", "two words"]
)
def test_meta_challenge_that_is_over_long_or_not_printable_is_refused(
    local: LocalPipeline, http: requests.Session, challenge: str
) -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": _verify_token(local)}
    response = _get(http, local, "h-meta", params=params)
    assert response.status_code == 400
    assert challenge not in response.text


def test_dropbox_verification_request_is_echoed_as_inert_text(local: LocalPipeline, http: requests.Session) -> None:
    response = _get(http, local, "h-dropbox", params={"challenge": "abc123"})
    assert (response.status_code, response.text) == (200, "abc123")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_dropbox_challenge_that_is_over_long_is_refused(local: LocalPipeline, http: requests.Session) -> None:
    response = _get(http, local, "h-dropbox", params={"challenge": "a" * (MAX_ECHO_BYTES + 1)})
    assert response.status_code == 400


def test_okta_verification_with_the_hooks_authorization_is_answered_as_json(
    local: LocalPipeline, http: requests.Session
) -> None:
    headers = {"X-Okta-Verification-Challenge": OKTA_CHALLENGE, "Authorization": local.sources["h-okta"].secret}
    response = _get(http, local, "h-okta", headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"verification": OKTA_CHALLENGE}


@pytest.mark.parametrize("authorization", [None, "not-the-secret"])
def test_okta_verification_without_the_hooks_authorization_is_refused(
    local: LocalPipeline, http: requests.Session, authorization: str | None
) -> None:
    headers = {"X-Okta-Verification-Challenge": OKTA_CHALLENGE}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = _get(http, local, "h-okta", headers=headers)
    assert response.status_code == 401
    assert OKTA_CHALLENGE not in response.text


@pytest.mark.parametrize(
    ("method", "source", "params"),
    [
        ("GET", "h-github", {"challenge": "abc123"}),
        ("GET", "h-github", {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "x"}),
        ("HEAD", "h-meta", None),
        ("PUT", "h-dropbox", {"challenge": "abc123"}),
    ],
)
def test_a_method_the_sources_provider_does_not_send_has_no_route(
    local: LocalPipeline, http: requests.Session, method: str, source: str, params: Any
) -> None:
    response = http.request(method, local.webhook_url(source), params=params, timeout=10)
    assert response.status_code == 404  # API Gateway's missing route, as the stack answers it
    assert "abc123" not in response.text


def test_a_get_to_a_handshake_source_that_is_not_its_challenge_is_405(
    local: LocalPipeline, http: requests.Session
) -> None:
    response = _get(http, local, "h-dropbox", params={"other": "abc123"})
    assert response.status_code == 405


def test_make_local_prints_the_verify_token_that_meta_s_dashboard_asks_for(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    command = [sys.executable, "-m", "webhook_kit", "local", "--config", str(CONFIG), "--port", "0"]
    local = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [*command, "--aws-port", "0", "--no-reload"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        banner = ""
        assert local.stdout is not None
        while "Ctrl-C stops." not in banner:
            line = local.stdout.readline()
            assert line, f"local exited early: {banner}"
            banner += line
        meta = re.search(r"h-meta \(generic-hmac\)\s+POST (http://\S+)\s+dev secret: \S+\s+GET answers", banner)
        token = re.search(r"dev verify_token: (\w+)", banner)
        assert meta is not None and token is not None, banner
        assert token.group(1) == dev_secret_document("h-meta", "generic-hmac", "meta-hub-challenge")["verify_token"]
        params = {"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": token.group(1)}
        response = requests.get(meta.group(1), params=params, timeout=10)
        assert (response.status_code, response.text) == (200, "42")
        os.killpg(local.pid, signal.SIGINT)
        local.communicate(timeout=30)
    finally:
        if local.poll() is None:
            os.killpg(local.pid, signal.SIGKILL)
            local.wait()
