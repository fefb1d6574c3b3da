"""shared-token: a secret sent as it is (a header, HTTP basic auth, a JSON body field) is
accepted only when it equals an active secret, compared in constant time, never raising,
and never forwarded to the queue in a header."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support.verifier import FakeAws, api_event, attributes, queued
from verifier.config import SourceConfig, VerifierConfig
from verifier.core import process
from webhook_verify.schemes import MAX_HEADER_COMBINATIONS, Headers, Request, SchemeConfigError, get_scheme
from webhook_verify.schemes import shared_token as module

NOW = 1_700_000_000
SCHEME = get_scheme("shared-token")
HEADER = {"token_header": "X-Gitlab-Token"}
BEARER = {"token_header": "Authorization", "token_prefix": "Bearer "}
BASIC = {"basic_auth": True}
FIELD = {"token_field": "clientState", "token_items": "value"}
BODY = b'{"id":"evt_1","type":"push"}'


def _verify(request: Request, secrets: list[str], options: dict[str, Any]) -> bool:
    return SCHEME.verify(request, secrets, now=NOW, tolerance_seconds=300, options=options)


def _basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


def _graph(*states: Any) -> bytes:
    return json.dumps({"value": [{"subscriptionId": f"s{i}", "clientState": s} for i, s in enumerate(states)]}).encode()


# --------------------------------------------------------------------------- a token in a header


def test_the_secret_in_its_header_is_accepted_and_any_other_value_is_not() -> None:
    assert _verify(Request(headers={"x-gitlab-token": "tok"}, body=BODY), ["tok"], HEADER)
    for value in ("tok2", "to", "TOK", " tok", ""):
        assert not _verify(Request(headers={"x-gitlab-token": value}, body=BODY), ["tok"], HEADER)


def test_a_missing_token_header_is_rejected() -> None:
    assert not _verify(Request(headers={"x-other": "tok"}, body=BODY), ["tok"], HEADER)


def test_an_empty_secret_authenticates_nothing_not_even_an_empty_header() -> None:
    empty = Request(headers={"x-gitlab-token": ""}, body=BODY)
    assert not _verify(empty, [""], HEADER)
    assert not _verify(empty, [], HEADER)
    assert not _verify(Request(headers={"authorization": "Bearer "}, body=BODY), [""], BEARER)


def test_every_active_secret_is_tried() -> None:
    request = Request(headers={"x-gitlab-token": "old"}, body=BODY)
    assert _verify(request, ["new", "old"], HEADER)
    assert not _verify(request, ["new"], HEADER)


def test_a_prefix_is_required_and_is_not_the_token() -> None:
    assert _verify(Request(headers={"authorization": "Bearer tok"}, body=BODY), ["tok"], BEARER)
    assert not _verify(Request(headers={"authorization": "tok"}, body=BODY), ["tok"], BEARER)
    assert not _verify(Request(headers={"authorization": "Bearer Bearer tok"}, body=BODY), ["tok"], BEARER)


def test_the_body_is_not_authenticated_by_a_header_token() -> None:
    # What "shared-token" means: the token says who sent it, nothing about what.
    assert _verify(Request(headers={"x-gitlab-token": "tok"}, body=b"anything"), ["tok"], HEADER)


def test_tokens_are_compared_with_compare_digest_for_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(module.hmac, "compare_digest", spy)
    assert _verify(Request(headers={"x-gitlab-token": "first"}, body=BODY), ["first", "second", "third"], HEADER)
    # No early exit on the match, and equal-length digests: the length of a secret is not leaked either.
    assert len(calls) == 3
    assert {len(a) for a, _ in calls} == {len(b) for _, b in calls} == {32}


def test_a_non_ascii_or_oversized_token_is_rejected_without_raising() -> None:
    assert not _verify(Request(headers={"x-gitlab-token": "t\u00f6k\ud800"}, body=BODY), ["tok"], HEADER)
    assert _verify(Request(headers={"x-gitlab-token": "t\u00f6k"}, body=BODY), ["t\u00f6k"], HEADER)
    assert not _verify(Request(headers={"x-gitlab-token": "x" * 10_000}, body=BODY), ["x" * 10_000], HEADER)


# --------------------------------------------------------------------------- HTTP basic auth


def test_basic_auth_credentials_equal_to_the_secret_are_accepted() -> None:
    for value in (_basic(b"user:pass"), "basic dXNlcjpwYXNz", "BASIC   dXNlcjpwYXNz"):
        assert _verify(Request(headers={"authorization": value}, body=BODY), ["user:pass"], BASIC), value


@pytest.mark.parametrize(
    "value",
    [
        _basic(b"user:other"),
        _basic(b"other:pass"),
        _basic(b"user:pass "),
        _basic(b"userpass"),  # no colon: not basic credentials
        "Basic dXNlcjpwYXNz=",  # padding where none belongs
        "Basic dXNlcjpwYX",  # truncated
        "Basic dXNlcj pwYXNz",  # a space inside
        "Basic dXNlcjpwYXNz\u00e9",  # not base64
        "Bearer dXNlcjpwYXNz",
        "Basic",
        "Basic ",
        "dXNlcjpwYXNz",
        "user:pass",
        "",
    ],
)
def test_basic_auth_that_is_malformed_or_wrong_is_rejected(value: str) -> None:
    assert module.basic_credentials(value) in (None, b"user:other", b"other:pass", b"user:pass ")
    assert not _verify(Request(headers={"authorization": value}, body=BODY), ["user:pass"], BASIC)


def test_basic_auth_needs_a_secret_with_a_password() -> None:
    # A secret without a colon or a password would let a bare user name through.
    for secret, sent in (("user", b"user:"), ("user:", b"user:"), (":", b":")):
        assert not _verify(Request(headers={"authorization": _basic(sent)}, body=BODY), [secret], BASIC)
    assert _verify(Request(headers={"authorization": _basic(b":pass")}, body=BODY), [":pass"], BASIC)


def test_basic_auth_compares_bytes_so_non_utf8_credentials_never_raise() -> None:
    assert module.basic_credentials(_basic(b"\xff\xfe:\x00")) == b"\xff\xfe:\x00"
    assert not _verify(Request(headers={"authorization": _basic(b"\xff\xfe:\x00")}, body=BODY), ["u:p"], BASIC)
    assert _verify(
        Request(headers={"authorization": _basic("j\u00fcrgen:p".encode())}, body=BODY), ["j\u00fcrgen:p"], BASIC
    )


# --------------------------------------------------------------------------- a token in the body


def test_a_body_token_must_be_in_every_item_of_a_batch() -> None:
    assert _verify(Request(headers={}, body=_graph("tok", "tok")), ["tok"], FIELD)
    assert not _verify(Request(headers={}, body=_graph("tok", "wrong")), ["tok"], FIELD)
    assert not _verify(Request(headers={}, body=_graph("tok", None)), ["tok"], FIELD)
    assert not _verify(Request(headers={}, body=_graph("tok", 1)), ["tok"], FIELD)


def test_a_batch_may_mix_items_sent_before_and_after_a_rotation() -> None:
    assert _verify(Request(headers={}, body=_graph("old", "new")), ["new", "old"], FIELD)
    assert not _verify(Request(headers={}, body=_graph("old", "new")), ["new"], FIELD)


@pytest.mark.parametrize(
    "body",
    [b'{"value":[]}', b'{"value":{}}', b'{"value":["tok"]}', b"{}", b"not json", b"\xff", b"", b"[" * 100_000],
)
def test_a_body_without_the_token_in_its_items_is_rejected(body: bytes) -> None:
    assert not _verify(Request(headers={}, body=body), ["tok"], FIELD)


def test_a_single_body_field_and_a_dotted_path() -> None:
    options = {"token_field": "auth.token"}
    assert _verify(Request(headers={}, body=b'{"auth":{"token":"tok"}}'), ["tok"], options)
    assert not _verify(Request(headers={}, body=b'{"auth":{"token":""}}'), [""], options)
    assert not _verify(Request(headers={}, body=b'{"token":"tok"}'), ["tok"], options)


# --------------------------------------------------------------------------- repeated headers


def _repeated(name: str, values: list[str]) -> Request:
    return Request(headers=Headers([(name, value) for value in values]), body=BODY)


def test_a_token_header_repeated_with_one_right_value_verifies_as_that_value_alone() -> None:
    request = _repeated("x-gitlab-token", ["wrong", "tok"])
    verified = SCHEME.verified_request(request, ["tok"], now=NOW, tolerance_seconds=300, options=HEADER)
    assert verified is not None
    assert verified.header("x-gitlab-token") == "tok"


def test_a_token_header_repeated_with_only_wrong_values_or_too_many_is_rejected() -> None:
    assert not _verify(_repeated("x-gitlab-token", ["a", "b"]), ["tok"], HEADER)
    too_many = [f"v{i}" for i in range(MAX_HEADER_COMBINATIONS)] + ["tok"]
    assert not _verify(_repeated("x-gitlab-token", too_many), ["tok"], HEADER)


def test_a_repeated_unsigned_id_header_gives_no_id() -> None:
    options = {**HEADER, "delivery_id_header": "Idempotency-Key"}
    headers = Headers([("x-gitlab-token", "tok"), ("idempotency-key", "a"), ("idempotency-key", "b")])
    request = Request(headers=headers, body=BODY)
    assert _verify(request, ["tok"], options)
    assert SCHEME.delivery_id(request, options) == module.body_sha256(BODY)


# --------------------------------------------------------------------------- ids, provenance, signing


def test_ids_and_types_come_from_their_options_and_none_counts_as_signed() -> None:
    options = {**HEADER, "delivery_id_header": "X-Gitlab-Event-UUID", "event_type_header": "X-Gitlab-Event"}
    request = Request(
        headers={"x-gitlab-token": "tok", "x-gitlab-event-uuid": "u1", "x-gitlab-event": "Push Hook"}, body=BODY
    )
    assert (SCHEME.delivery_id(request, options), SCHEME.event_type(request, options)) == ("u1", "Push Hook")
    assert not SCHEME.delivery_id_signed(options)
    assert not SCHEME.event_type_signed(options)
    assert SCHEME.replay_digest(request, options) == module.body_sha256(BODY)
    body_options = {**FIELD, "delivery_id_field": "id", "event_type_field": "type"}
    assert (SCHEME.delivery_id(request, body_options), SCHEME.event_type(request, body_options)) == ("evt_1", "push")
    assert not SCHEME.delivery_id_signed(body_options)
    assert not SCHEME.event_type_signed(body_options)
    assert SCHEME.event_type_signed(HEADER)
    assert SCHEME.delivery_id(Request(headers={}, body=BODY), HEADER) == module.body_sha256(BODY)


@pytest.mark.parametrize("options", [HEADER, BEARER, BASIC])
def test_sign_writes_what_the_provider_sends(options: dict[str, Any]) -> None:
    headers = SCHEME.sign(BODY, "user:pass", timestamp=NOW, options=options)
    assert _verify(Request(headers=headers, body=BODY), ["user:pass"], options)
    assert set(headers) == SCHEME.signature_headers(options)
    assert SCHEME.sign(BODY, "user:pass", timestamp=NOW, options=BASIC) == {"authorization": _basic(b"user:pass")}


def test_sign_cannot_write_a_body_token_and_says_so_when_the_body_lacks_it() -> None:
    assert SCHEME.sign(_graph("tok", "tok"), "tok", timestamp=NOW, options=FIELD) == {}
    with pytest.raises(ValueError, match="clientState of every item of value"):
        SCHEME.sign(_graph("tok", "other"), "tok", timestamp=NOW, options=FIELD)
    with pytest.raises(ValueError, match="user:password"):
        SCHEME.sign(BODY, "no-colon", timestamp=NOW, options=BASIC)


def test_the_example_secret_works_with_every_option_set() -> None:
    secret = SCHEME.example_secret(b"\x01" * 24)
    for options in (HEADER, BEARER, BASIC):
        headers = SCHEME.sign(BODY, secret, timestamp=NOW, options=options)
        assert _verify(Request(headers=headers, body=BODY), [secret], options)


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of"),
        ({"token_header": "X-T", "basic_auth": True}, "got token_header, basic_auth"),
        ({"basic_auth": False}, "got none"),
        ({"basic_auth": "yes"}, "basic_auth must be true or false"),
        ({"token_header": ""}, "token_header must be non-empty text"),
        ({"token_header": 5}, "token_header must be non-empty text"),
        ({"basic_auth": True, "token_prefix": "Basic "}, "token_prefix applies to options.token_header only"),
        ({"token_header": "X-T", "token_items": "value"}, "token_items needs options.token_field"),
        ({"token_header": "X-T", "delivery_id_header": "x-t"}, "delivery_id_header is the header that carries"),
        ({"basic_auth": True, "event_type_header": "Authorization"}, "event_type_header is the header that carries"),
        ({"token_field": "state", "delivery_id_field": "state"}, "delivery_id_field is the field that carries"),
    ],
)
def test_unworkable_options_are_refused_and_verify_still_never_raises(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemeConfigError, match=message):
        SCHEME.validate_options(options)
    request = Request(headers={"x-t": "tok", "authorization": _basic(b"u:p")}, body=b'{"state":"tok"}')
    assert not _verify(request, ["tok", "u:p"], options)


# --------------------------------------------------------------------------- what reaches the queue

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-hooks"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/hooks"


def _enqueue(options: dict[str, Any], headers: dict[str, str], body: bytes, secret: str) -> tuple[Any, FakeAws]:
    source = SourceConfig(name="hooks", scheme="shared-token", queue_url=QUEUE, secret_arn=ARN, options=options)
    aws = FakeAws()
    aws.set_secrets(ARN, secret)
    config = VerifierConfig(sources={"hooks": source}, max_body_bytes=1024 * 1024, claim_check_bucket="bucket")
    return process(api_event("hooks", body, headers), config=config, adapters=aws, now=float(NOW)), aws


@pytest.mark.parametrize(
    ("options", "headers"),
    [
        (HEADER, {"X-Gitlab-Token": "s3cr3t-token", "X-Gitlab-Event": "Push Hook"}),
        ({"token_header": "X-Okta-Secret"}, {"X-Okta-Secret": "s3cr3t-token"}),
        (BASIC, {"Authorization": _basic(b"hook:s3cr3t-token")}),
    ],
)
def test_the_token_header_is_never_queued(options: dict[str, Any], headers: dict[str, str]) -> None:
    secret = "hook:s3cr3t-token" if options is BASIC else "s3cr3t-token"
    outcome, aws = _enqueue(options, headers, BODY, secret)
    assert outcome.status == 202
    [(_queue, message)] = aws.sent
    kept = dict(queued(message).headers)
    assert not set(kept) & SCHEME.signature_headers(options)
    text = json.dumps(message)
    assert "s3cr3t-token" not in text
    assert headers[next(iter(headers))] not in text
    assert "s3cr3t-token" not in repr(outcome)


def test_a_wrong_token_is_a_401_and_nothing_is_queued() -> None:
    outcome, aws = _enqueue(HEADER, {"X-Gitlab-Token": "guess"}, BODY, "s3cr3t-token")
    assert (outcome.status, aws.sent) == (401, [])


def test_a_body_field_token_is_never_queued() -> None:
    outcome, aws = _enqueue(FIELD, {"Content-Type": "application/json"}, _graph("s3cr3t-token"), "s3cr3t-token")
    assert outcome.status == 202
    [(_queue, message)] = aws.sent
    body = message["MessageBody"]
    decoded = base64.b64decode(body) if attributes(message).get("body_encoding") == "base64" else body.encode()
    assert b"s3cr3t-token" not in decoded
