"""The GET and HEAD challenges (webhook_verify.handshakes.challenges), through the verifier's core.

The requests and answers are the providers' own examples:

* Meta: developers.facebook.com/docs/graph-api/webhooks/getting-started, "Verification Requests"
  (``hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock``; "Verify that the
  hub.verify_token value matches ... Respond with the hub.challenge value").
* Dropbox: dropbox.com/developers/reference/webhooks, "The verification request" (``?challenge=...``,
  echoed, with ``Content-Type: text/plain`` and ``X-Content-Type-Options: nosniff``).
* Okta: developer.okta.com/docs/concepts/event-hooks, "One-Time Verification Request" (the
  ``X-Okta-Verification-Challenge`` header answered as ``{"verification": value}``; the Authorization
  header is sent "in every request"), and Okta's support article "Unable to verify event hook"
  (the request and answer below, ``Authorization: my-shared-secret`` on the GET).
* Trello: developer.atlassian.com/cloud/trello/guides/rest-api/webhooks, "Creating a Webhook"
  ("We run a quick HTTP HEAD request on the URL, and if a 200 status code is not returned ...").
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.verifier import FakeAws, api_event, provider_source
from verifier.config import SourceConfig, VerifierConfig
from verifier.core import Outcome, process
from webhook_verify.handshakes import HANDSHAKES, MAX_ECHO_BYTES, Answer, get_handshake
from webhook_verify.handshakes.challenges import token_matches
from webhook_verify.providers import PROVIDERS

NOW = 1_700_000_000
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/x"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-x"
META_TOKEN = "meatyhamhock"
OKTA_SECRET = "my-shared-secret"
OKTA_CHALLENGE = "Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg"


def _source(name: str, provider: str) -> SourceConfig:
    return provider_source(provider, name=name, queue_url=QUEUE, secret_arn=ARN)


def _run(
    provider: str,
    method: str,
    *,
    query: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    document: dict[str, Any] | None = None,
) -> tuple[Outcome, FakeAws]:
    source = _source(provider, provider)
    aws = FakeAws()
    aws.secret_strings[ARN] = json.dumps(document or {"secrets": ["app-secret"], "verify_token": META_TOKEN})
    event = api_event(provider, None, headers, query=query)
    event["httpMethod"] = method
    config = VerifierConfig(sources={source.name: source}, max_body_bytes=1024 * 1024)
    return process(event, config=config, adapters=aws, now=float(NOW)), aws


def _answered(outcome: Outcome) -> tuple[int, bytes, str, str | None]:
    assert outcome.answer is not None and outcome.result == "handshake"
    headers = outcome.response()["headers"]
    return outcome.answer.status, outcome.answer.body, headers["Content-Type"], headers.get("X-Content-Type-Options")


# --------------------------------------------------------------------------- Meta


def _meta_query(token: str = META_TOKEN, challenge: str = "1158201444", mode: str = "subscribe") -> dict:
    return {"hub.mode": [mode], "hub.challenge": [challenge], "hub.verify_token": [token]}


def test_meta_verification_request_with_the_verify_token_is_answered_with_the_challenge() -> None:
    outcome, aws = _run("meta", "GET", query=_meta_query())
    assert _answered(outcome) == (200, b"1158201444", "text/plain; charset=utf-8", "nosniff")
    assert aws.sent == []


@pytest.mark.parametrize(
    "query",
    [
        _meta_query(token="meatyhamhocK"),
        _meta_query(token=""),
        _meta_query(token=META_TOKEN + " "),
        {"hub.mode": ["subscribe"], "hub.challenge": ["1158201444"]},
        {**_meta_query(), "hub.verify_token": [META_TOKEN, "other"]},
    ],
    ids=["wrong", "empty", "longer", "missing", "repeated"],
)
def test_meta_verification_request_without_the_verify_token_is_401_like_a_bad_signature(query: dict) -> None:
    outcome, aws = _run("meta", "GET", query=query)
    assert (outcome.status, outcome.result, outcome.reason) == (401, "rejected", "unauthorized")
    assert outcome.response()["body"] == '{"message":"Unauthorized"}'
    assert aws.sent == []


def test_meta_verification_is_refused_when_the_secret_document_has_no_verify_token() -> None:
    # Two absent tokens never compare equal: an unset verify_token verifies nothing.
    for document in ({"secrets": ["app-secret"]}, {"secrets": ["app-secret"], "verify_token": ""}):
        outcome, _ = _run("meta", "GET", query=_meta_query(token=""), document=document)
        assert outcome.status == 401


@pytest.mark.parametrize(
    "challenge",
    ["x" * (MAX_ECHO_BYTES + 1), "<script>alert(1)</script> ", "a\nb", "caf\u00e9", ""],
    ids=["over-long", "space", "newline", "non-ascii", "empty"],
)
def test_meta_challenge_that_cannot_be_echoed_inertly_is_400(challenge: str) -> None:
    outcome, aws = _run("meta", "GET", query=_meta_query(challenge=challenge))
    assert (outcome.status, outcome.result, outcome.reason) == (400, "rejected", "bad_challenge")
    assert aws.sent == []


def test_meta_challenge_of_the_full_cap_is_echoed() -> None:
    outcome, _ = _run("meta", "GET", query=_meta_query(challenge="7" * MAX_ECHO_BYTES))
    assert _answered(outcome)[1] == b"7" * MAX_ECHO_BYTES


@pytest.mark.parametrize(
    ("method", "query"),
    [("GET", None), ("GET", _meta_query(mode="unsubscribe")), ("HEAD", _meta_query()), ("PUT", _meta_query())],
)
def test_a_request_to_a_meta_source_that_is_not_the_verification_request_is_405(method: str, query: Any) -> None:
    outcome, aws = _run("meta", method, query=query)
    assert (outcome.status, outcome.reason) == (405, "method_not_allowed")
    assert aws.sent == []


def test_meta_verify_token_is_compared_as_digests_so_length_and_content_do_not_leak() -> None:
    assert token_matches("meatyhamhock", "meatyhamhock")
    assert not token_matches("meatyhamhock", "meatyhamhoc")
    assert not token_matches("", "")
    assert not token_matches(None, "x")
    assert not token_matches("x", None)
    assert not token_matches("tok\u00e9n", "tok\udce9n")  # a lone surrogate never raises


# --------------------------------------------------------------------------- Dropbox


def test_dropbox_verification_request_is_echoed_as_inert_text() -> None:
    outcome, aws = _run("dropbox", "GET", query={"challenge": ["abc123"]})
    assert _answered(outcome) == (200, b"abc123", "text/plain; charset=utf-8", "nosniff")
    assert aws.sent == []


@pytest.mark.parametrize("challenge", ["x" * (MAX_ECHO_BYTES + 1), "<b>\thi</b>", "\x00"])
def test_dropbox_challenge_that_cannot_be_echoed_inertly_is_400(challenge: str) -> None:
    outcome, _ = _run("dropbox", "GET", query={"challenge": [challenge]})
    assert (outcome.status, outcome.reason) == (400, "bad_challenge")


@pytest.mark.parametrize("query", [None, {"challenge": ["a", "b"]}, {"other": ["abc123"]}])
def test_dropbox_get_without_one_challenge_is_405(query: Any) -> None:
    outcome, _ = _run("dropbox", "GET", query=query)
    assert (outcome.status, outcome.reason) == (405, "method_not_allowed")


# --------------------------------------------------------------------------- Okta


def _okta(headers: dict[str, str], secret: str = OKTA_SECRET) -> tuple[Outcome, FakeAws]:
    return _run("okta", "GET", headers=headers, document={"secrets": [secret]})


def test_okta_verification_request_with_its_authorization_is_answered_with_the_json_okta_expects() -> None:
    outcome, aws = _okta({"X-Okta-Verification-Challenge": OKTA_CHALLENGE, "Authorization": OKTA_SECRET})
    status, body, content_type, nosniff = _answered(outcome)
    assert (status, content_type, nosniff) == (200, "application/json", "nosniff")
    assert body == b'{"verification":"Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg"}'
    assert aws.sent == []


@pytest.mark.parametrize("authorization", [None, "", "my-shared-secreT", "Bearer my-shared-secret"])
def test_okta_verification_request_without_the_hooks_authorization_is_401(authorization: str | None) -> None:
    headers = {"X-Okta-Verification-Challenge": OKTA_CHALLENGE}
    if authorization is not None:
        headers["Authorization"] = authorization
    outcome, _ = _okta(headers)
    assert (outcome.status, outcome.reason) == (401, "unauthorized")


def test_okta_challenge_that_cannot_be_answered_inertly_is_400() -> None:
    outcome, _ = _okta({"X-Okta-Verification-Challenge": "x" * (MAX_ECHO_BYTES + 1), "Authorization": OKTA_SECRET})
    assert (outcome.status, outcome.reason) == (400, "bad_challenge")


def test_okta_get_without_the_challenge_header_is_405() -> None:
    outcome, _ = _okta({"Authorization": OKTA_SECRET})
    assert (outcome.status, outcome.reason) == (405, "method_not_allowed")


# --------------------------------------------------------------------------- Trello (no catalogue entry yet)


def test_trello_head_is_answered_200_with_nothing_and_only_head() -> None:
    trello = get_handshake("trello-head")
    from webhook_verify.schemes import Request

    context: Any = None  # the check reads nothing of it
    answer = trello.before_verification(Request(headers={}, body=b"", method="HEAD"), context)
    assert answer == Answer.empty()
    assert trello.before_verification(Request(headers={}, body=b"", method="GET"), context) is None
    assert trello.before_verification(Request(headers={}, body=b"{}", method="POST"), context) is None


# --------------------------------------------------------------------------- declarations


def test_each_challenge_declares_the_one_method_its_provider_sends() -> None:
    expected = {
        "meta-hub-challenge": {"GET"},
        "dropbox-challenge": {"GET"},
        "okta-verification": {"GET"},
        "trello-head": {"HEAD"},
    }
    assert {name: set(HANDSHAKES[name].methods) for name in expected} == expected
    assert HANDSHAKES["meta-hub-challenge"].tokens == ("verify_token",)


@pytest.mark.parametrize(("provider", "kind"), [("meta", "meta-hub-challenge"), ("okta", "okta-verification")])
def test_the_catalogue_names_the_challenge_its_provider_sends(provider: str, kind: str) -> None:
    assert PROVIDERS[provider].handshake_kind == kind


def test_refuse_answers_only_401_or_400() -> None:
    assert Answer.refuse().status == 401 and Answer.refuse().refused
    assert Answer.refuse(400).status == 400
    with pytest.raises(ValueError):
        Answer.refuse(200)


# --------------------------------------------------------------------------- hostile requests

_TEXT = st.text(max_size=40)
_QUERY = st.dictionaries(
    st.sampled_from(["hub.mode", "hub.challenge", "hub.verify_token", "challenge", "x"]),
    st.lists(_TEXT, min_size=1, max_size=3),
    max_size=5,
)
_HEADERS = st.dictionaries(
    st.sampled_from(["X-Okta-Verification-Challenge", "Authorization", "X-Other"]), _TEXT, max_size=3
)


@settings(max_examples=200, deadline=None)
@given(
    provider=st.sampled_from(["meta", "dropbox", "okta"]),
    method=st.sampled_from(["GET", "HEAD", "PUT"]),
    query=_QUERY,
    headers=_HEADERS,
)
def test_no_request_queues_anything_raises_or_is_answered_without_its_credential(
    provider: str, method: str, query: dict[str, list[str]], headers: dict[str, str]
) -> None:
    outcome, aws = _run(provider, method, query=query or None, headers=headers, document={"secrets": ["s3cret"]})
    assert aws.sent == []
    assert outcome.status in (200, 400, 401, 405)
    if outcome.status == 200:
        # Meta's token is absent from this document: only Dropbox (unauthenticated) and Okta with its secret answer.
        assert provider != "meta"
        if provider == "okta":
            assert headers.get("Authorization") == "s3cret"
        assert outcome.answer is not None and len(outcome.answer.body) <= MAX_ECHO_BYTES + len('{"verification":""}')
