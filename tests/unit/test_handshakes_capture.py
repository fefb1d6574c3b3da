"""Asana's X-Hook-Secret and Notion's verification_token, captured once when the operator armed the source.

The operator puts a random ``capture_token`` in the source's secret document and
the same value in the URL given to the provider (``?capture=``). The handshake
that carries it is answered and its secret stored as the source's only secret,
``capture_token`` removed; every other one is 401, nothing stored, nothing queued.
The secrets and bodies are the providers' own examples
(tests/unit/vectors/providers/{asana,notion}.json name each source).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.verifier import FakeAws, api_event, provider_source
from verifier.adapters import capture_request_token, captured_document
from verifier.config import VerifierConfig
from verifier.core import Outcome, process
from webhook_kit.devsecrets import capture_url, dev_secret_document
from webhook_verify.handshakes import HANDSHAKES, NOSNIFF, Answer, get_handshake
from webhook_verify.providers import PROVIDERS

VECTORS = Path(__file__).parent / "vectors" / "providers"
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks"
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhooks-capture-AbCdEf"
ARM = "k3VwG9yq1nZ8Jt2LxR5sHd0cPmQe7UaB"  # the operator's capture_token
PLACEHOLDER = "placeholder-from-deploy"
NOW = 1.7e9


def _vector(provider: str, name: str) -> dict[str, Any]:
    vectors = json.loads((VECTORS / f"{provider}.json").read_text())["vectors"]
    return next(vector for vector in vectors if vector["name"] == name)


ASANA = _vector("asana", "asana-devrel-example-task-changed")
# The X-Hook-Secret of Asana's "Establish a webhook" example, which signed the vector's event.
ASANA_SECRET = ASANA["secret"]
NOTION_HANDSHAKE = _vector("notion", "notion-sdk-verification-token-handshake")
NOTION_TOKEN = NOTION_HANDSHAKE["secret"]


def _config(provider: str, *, enforce: bool = True) -> VerifierConfig:
    source = provider_source(provider, queue_url=QUEUE, secret_arn=ARN, enforce=enforce)
    return VerifierConfig(sources={provider: source}, max_body_bytes=1024 * 1024)


def _armed(**tokens: str) -> FakeAws:
    aws = FakeAws()
    aws.secret_strings[ARN] = json.dumps({"secrets": [PLACEHOLDER], **tokens})
    return aws


def _post(
    aws: FakeAws,
    provider: str,
    body: bytes,
    headers: dict[str, str],
    query: dict[str, list[str]] | None = None,
    *,
    enforce: bool = True,
) -> Outcome:
    event = api_event(provider, body, headers, query=query)
    return process(event, config=_config(provider, enforce=enforce), adapters=aws, now=NOW)


def _asana_handshake(aws: FakeAws, secret: str = ASANA_SECRET, capture: str | None = ARM, **kw: Any) -> Outcome:
    query = {"capture": [capture]} if capture is not None else None
    return _post(aws, "asana", b"", {"X-Hook-Secret": secret}, query, **kw)


def _document(aws: FakeAws) -> dict[str, Any]:
    return json.loads(aws.secret_strings[ARN])


# --------------------------------------------------------------------------- Asana


@pytest.mark.parametrize("enforce", [True, False])
def test_an_armed_asana_handshake_is_echoed_and_its_secret_stored_once_and_never_queued(enforce: bool) -> None:
    aws = _armed(capture_token=ARM, other_token="kept")
    outcome = _asana_handshake(aws, enforce=enforce)
    response = outcome.response()
    assert (response["statusCode"], response["body"], outcome.result) == (200, "", "handshake")
    assert response["headers"]["X-Hook-Secret"] == ASANA_SECRET
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"
    # The captured secret replaces the placeholder; the capture token is gone, other text fields stay.
    assert _document(aws) == {"secrets": [ASANA_SECRET], "other_token": "kept"}
    assert aws.sent == [] and aws.calls.count("put_secret") == 1
    # Nothing downstream of the core holds the secret to store.
    assert outcome.answer is not None and outcome.answer.store_secret is None


def test_a_second_handshake_after_the_capture_is_refused_and_stores_nothing() -> None:
    aws = _armed(capture_token=ARM)
    assert _asana_handshake(aws).status == 200
    stored = aws.secret_strings[ARN]
    outcome = _asana_handshake(aws, secret="f" * 64)
    assert (outcome.status, outcome.result) == (401, "rejected")
    assert aws.secret_strings[ARN] == stored and aws.calls.count("put_secret") == 1


def test_after_the_capture_asanas_event_signed_with_the_captured_secret_verifies_and_is_queued() -> None:
    aws = _armed(capture_token=ARM)
    assert _asana_handshake(aws).status == 200
    outcome = _post(aws, "asana", ASANA["body"].encode(), ASANA["headers"])
    assert outcome.status == 202 and len(aws.sent) == 1


@pytest.mark.parametrize(
    ("document_tokens", "query"),
    [
        ({"capture_token": ARM}, None),  # no ?capture=
        ({"capture_token": ARM}, {"capture": ["not-the-token"]}),
        ({"capture_token": ARM}, {"capture": [ARM[:-1]]}),
        ({"capture_token": ARM}, {"capture": [""]}),
        ({"capture_token": ARM}, {"capture": [ARM, ARM]}),  # given twice: no single value
        ({"capture_token": ARM}, {"Capture": [ARM]}),
        ({}, {"capture": [ARM]}),  # not armed
        ({"capture_token": ""}, {"capture": [""]}),  # both empty
    ],
)
@pytest.mark.parametrize("enforce", [True, False])
def test_a_handshake_without_the_armed_token_is_401_and_nothing_is_stored_or_queued(
    document_tokens: dict[str, str], query: dict[str, list[str]] | None, enforce: bool
) -> None:
    aws = _armed(**document_tokens)
    before = aws.secret_strings[ARN]
    outcome = _post(aws, "asana", b"", {"X-Hook-Secret": ASANA_SECRET}, query, enforce=enforce)
    assert (outcome.status, outcome.result, outcome.reason) == (401, "rejected", "unauthorized")
    assert ASANA_SECRET not in json.dumps(outcome.response())
    assert aws.secret_strings[ARN] == before and "put_secret" not in aws.calls and aws.sent == []


@pytest.mark.parametrize(
    "secret",
    [
        ASANA_SECRET + "\r\nSet-Cookie: a=b",
        ASANA_SECRET + "\n",
        "\r\n" + ASANA_SECRET,
        "a" * 257,  # longer than any secret we echo
        "short",
        "has space" + "x" * 20,
        "",
        "é" * 20,
    ],
)
def test_an_armed_handshake_whose_secret_cannot_be_echoed_in_a_header_is_refused(secret: str) -> None:
    aws = _armed(capture_token=ARM)
    outcome = _asana_handshake(aws, secret=secret)
    assert (outcome.status, outcome.result) == (401, "rejected")
    assert "put_secret" not in aws.calls and _document(aws)["capture_token"] == ARM


def test_a_failed_write_is_503_with_retry_after_and_the_source_stays_armed() -> None:
    aws = _armed(capture_token=ARM)
    aws.fail_put_secret = True
    outcome = _asana_handshake(aws)
    assert (outcome.status, outcome.result, outcome.reason) == (503, "unavailable", "secret_store_failed")
    assert outcome.response()["headers"]["Retry-After"] == "5"
    assert "X-Hook-Secret" not in outcome.response()["headers"]
    assert _document(aws) == {"secrets": [PLACEHOLDER], "capture_token": ARM}
    # Asana's create call fails; repeating it captures.
    aws.fail_put_secret = False
    assert _asana_handshake(aws).status == 200
    assert _document(aws) == {"secrets": [ASANA_SECRET]}


def test_a_second_instance_still_seeing_the_source_armed_cannot_store_another_secret() -> None:
    # Two verifier instances cache the armed document; the first stores Asana's secret.
    aws = _armed(capture_token=ARM)
    armed_document = aws.secret_strings[ARN]
    assert _asana_handshake(aws).status == 200
    aws.secret_strings[ARN] = armed_document  # what the second instance still reads from its cache
    outcome = _asana_handshake(aws, secret="e" * 64)
    assert (outcome.status, outcome.result) == (401, "rejected")
    assert "e" * 64 not in json.dumps(outcome.response())


def test_asanas_retry_of_the_same_handshake_is_answered_again() -> None:
    aws = _armed(capture_token=ARM)
    armed_document = aws.secret_strings[ARN]
    assert _asana_handshake(aws).status == 200
    aws.secret_strings[ARN] = armed_document  # a cached document on another instance
    assert _asana_handshake(aws).status == 200  # the same secret: the same version, no conflict


# --------------------------------------------------------------------------- Notion


def _notion(aws: FakeAws, body: bytes, capture: str | None = ARM, headers: dict[str, str] | None = None) -> Outcome:
    query = {"capture": [capture]} if capture is not None else None
    return _post(aws, "notion", body, headers or {"Content-Type": "application/json"}, query)


def test_an_armed_notion_verification_token_is_stored_and_answered_200_empty() -> None:
    aws = _armed(capture_token=ARM)
    outcome = _notion(aws, NOTION_HANDSHAKE["body"].encode())
    response = outcome.response()
    assert (response["statusCode"], response["body"], outcome.result) == (200, "", "handshake")
    assert NOTION_TOKEN not in json.dumps(response)
    assert _document(aws) == {"secrets": [NOTION_TOKEN]}
    assert aws.sent == []
    # The operator reads the token from the secret for Notion's Verify form; a second POST is refused.
    other = json.dumps({"verification_token": "secret_" + "z" * 40}).encode()
    assert _notion(aws, other).status == 401
    assert _document(aws) == {"secrets": [NOTION_TOKEN]}


def test_after_the_capture_a_notion_event_signed_with_the_token_verifies() -> None:
    aws = _armed(capture_token=ARM)
    # Notion's SDK signs its verification POST with the token it carries: after the capture
    # that is the source's secret, so the same request (resent) is a token the source holds.
    assert _notion(aws, NOTION_HANDSHAKE["body"].encode()).status == 200
    resent = _notion(aws, NOTION_HANDSHAKE["body"].encode(), capture=None, headers=NOTION_HANDSHAKE["headers"])
    assert (resent.status, resent.result) == (200, "handshake")
    assert aws.calls.count("put_secret") == 1 and aws.sent == []
    fixture = _vector("notion", "notion-sdk-fixed-fixture")
    aws.secret_strings[ARN] = captured_document(fixture["secret"], {})
    outcome = _post(aws, "notion", fixture["body"].encode(), fixture["headers"])
    assert outcome.status == 202 and len(aws.sent) == 1


@pytest.mark.parametrize(
    ("body", "capture"),
    [
        (NOTION_HANDSHAKE["body"], None),
        (NOTION_HANDSHAKE["body"], "wrong"),
        (json.dumps({"verification_token": NOTION_TOKEN, "type": "page.created"}), ARM),  # not only the token
        (json.dumps({"verification_token": 12345678901234567890}), ARM),
        (json.dumps({"verification_token": "secret_abc\r\nX: y" + "a" * 20}), ARM),
        (json.dumps({"verification_token": "a" * 300}), ARM),
        (json.dumps({"verification_token": ""}), ARM),
    ],
)
def test_a_notion_verification_token_not_armed_or_not_a_token_is_401_and_nothing_stored(
    body: str, capture: str | None
) -> None:
    aws = _armed(capture_token=ARM)
    outcome = _notion(aws, body.encode(), capture=capture)
    assert (outcome.status, outcome.result) == (401, "rejected")
    assert "put_secret" not in aws.calls and aws.sent == []
    assert _document(aws)["capture_token"] == ARM


def test_a_failed_notion_write_is_503_and_the_source_stays_armed() -> None:
    aws = _armed(capture_token=ARM)
    aws.fail_put_secret = True
    outcome = _notion(aws, NOTION_HANDSHAKE["body"].encode())
    assert (outcome.status, outcome.reason) == (503, "secret_store_failed")
    assert _document(aws)["capture_token"] == ARM


# --------------------------------------------------------------------------- the pieces


def test_only_the_capturing_handshakes_may_store_a_secret() -> None:
    capturing = {name for name, handshake in HANDSHAKES.items() if handshake.captures_secret}
    assert capturing == {"asana-hook-secret-capture", "notion-verification-token-capture"}
    assert PROVIDERS["asana"].handshake_kind == "asana-hook-secret-capture"
    assert PROVIDERS["notion"].handshake_kind == "notion-verification-token-capture"
    assert get_handshake("asana-hook-secret-capture").methods == frozenset()


def test_an_answers_secret_to_store_is_not_in_its_repr() -> None:
    answer = Answer(200, b"", headers=NOSNIFF, store_secret=ASANA_SECRET)
    assert ASANA_SECRET not in repr(answer)


def test_the_captured_document_keeps_other_text_fields_and_drops_the_capture_token() -> None:
    document = json.loads(captured_document("new", {"capture_token": ARM, "verify_token": "v"}))
    assert document == {"secrets": ["new"], "verify_token": "v"}


def test_the_request_token_is_a_valid_secrets_manager_version_id_per_arming() -> None:
    token = capture_request_token(ARM)
    assert 32 <= len(token) <= 64 and token != capture_request_token(ARM + "x")
    assert ARM not in token


def test_the_local_pipeline_arms_only_the_capturing_sources_and_prints_the_url_to_give_the_provider() -> None:
    armed = dev_secret_document("t-asana", "generic-hmac", "asana-hook-secret-capture")
    assert len(armed["capture_token"]) == 32 and armed["capture_token"] not in armed["secrets"]
    assert "capture_token" not in dev_secret_document("t-github", "github", None)
    url = capture_url("http://127.0.0.1:8080/webhooks/t-asana", armed)
    assert url == "http://127.0.0.1:8080/webhooks/t-asana?capture=" + armed["capture_token"]
    assert capture_url("http://127.0.0.1:8080/webhooks/t-github", {}) is None
