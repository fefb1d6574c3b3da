"""The POST challenges (webhook_verify.handshakes.post_challenges) and the Twitch scheme, through the verifier's core.

The requests are the providers' own examples, signed as their official samples sign them
(tests/unit/vectors/providers/{zoom,twitch,xero,asana,notion}.json name each source):

* Zoom: ``endpoint.url_validation`` answered with {plainToken, encryptedToken}, after verification only.
* Twitch EventSub: ``webhook_callback_verification`` answered with the challenge as text/plain;
  ``revocation`` messages queued as events.
* Xero: intent-to-receive (a signed delivery without events) answered 200 with an empty body.
* Asana: the ``X-Hook-Secret`` handshake refused when the source is not armed (the capture: test_handshakes_capture.py).
* Notion: the ``verification_token`` POST: 200 when signed with a secret the source holds, else 401 unless armed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.verifier import FakeAws, api_event, attributes, provider_source, queued
from verifier.config import SourceConfig, VerifierConfig
from verifier.core import Outcome, process
from webhook_verify.handshakes import get_handshake
from webhook_verify.handshakes.post_challenges import ZOOM_PLAIN_TOKEN
from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import Request, get_scheme
from webhook_verify.schemes.twitch import rfc3339, rfc3339_seconds

VECTORS = Path(__file__).parent / "vectors" / "providers"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/x"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-x"
TWITCH = get_scheme("twitch")


def _vector(provider: str, name: str) -> dict[str, Any]:
    vectors = json.loads((VECTORS / f"{provider}.json").read_text())["vectors"]
    return next(vector for vector in vectors if vector["name"] == name)


def _source(provider: str, *, enforce: bool = True) -> SourceConfig:
    return provider_source(provider, queue_url=QUEUE, secret_arn=ARN, enforce=enforce)


def _run(
    provider: str, body: bytes, headers: dict[str, str], secrets: list[str], now: float, *, enforce: bool = True
) -> tuple[Outcome, FakeAws]:
    source = _source(provider, enforce=enforce)
    aws = FakeAws()
    aws.set_secrets(ARN, *secrets)
    config = VerifierConfig(sources={provider: source}, max_body_bytes=1024 * 1024)
    return process(api_event(provider, body, headers), config=config, adapters=aws, now=now), aws


def _run_vector(provider: str, name: str, **changes: Any) -> tuple[Outcome, FakeAws]:
    vector = {**_vector(provider, name), **changes}
    return _run(provider, vector["body"].encode(), vector["headers"], [vector["secret"]], float(vector["now"]))


def _zoom_signed(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-zm-request-timestamp": str(timestamp), "x-zm-signature": "v0=" + digest}


def _zoom_validation(plain_token: Any) -> bytes:
    return json.dumps(
        {"payload": {"plainToken": plain_token}, "event_ts": 1654503849680, "event": "endpoint.url_validation"}
    ).encode()


# --------------------------------------------------------------------------- Zoom


def test_zooms_url_validation_is_answered_as_zooms_sample_answers_it_and_not_queued() -> None:
    vector = _vector("zoom", "zoom-webhook-sample-url-validation")
    outcome, aws = _run_vector("zoom", vector["name"])
    assert (outcome.status, outcome.result) == (200, "handshake")
    assert outcome.answer is not None and outcome.answer.content_type == "application/json"
    assert json.loads(outcome.answer.body) == vector["expected_answer"]
    assert aws.sent == []


def test_an_unsigned_url_validation_gets_401_and_no_encrypted_token() -> None:
    vector = _vector("zoom", "zoom-webhook-sample-url-validation")
    outcome, aws = _run(
        "zoom", vector["body"].encode(), {"x-zm-request-timestamp": "1654503849"}, [vector["secret"]], 1654503849.0
    )
    assert outcome.status == 401
    assert "encryptedToken" not in json.dumps(outcome.response())
    assert aws.sent == []


def test_the_handshake_cannot_be_used_to_sign_a_webhook_for_an_attacker() -> None:
    # The attacker wants the signature of a webhook of their choosing: HMAC(secret, "v0:{ts}:{body}").
    # The handshake answers HMAC(secret, plainToken), so they would need it answered for that string.
    secret, now = "kd9Ue7GQSoyAqOOx3m4bXw", 1_700_000_000
    forged_body = b'{"event":"meeting.deleted","payload":{"object":{"id":"1"}}}'
    wanted = _zoom_signed(forged_body, secret, now)["x-zm-signature"].removeprefix("v0=")
    signed_string = f"v0:{now}:".encode() + forged_body

    # 1. Unsigned (the attacker does not hold the secret): refused, whatever the token.
    request = _zoom_validation(signed_string.decode())
    outcome, aws = _run("zoom", request, {"x-zm-request-timestamp": str(now)}, [secret], float(now))
    assert outcome.status == 401 and wanted not in json.dumps(outcome.response())

    # 2. Even a request signed with the secret (as if Zoom itself had sent it) is refused for
    #    a token outside Zoom's shape: the answer is never an HMAC of a string with a ":".
    outcome, aws = _run("zoom", request, _zoom_signed(request, secret, now), [secret], float(now))
    assert (outcome.status, outcome.reason) == (400, "bad_challenge")
    assert wanted not in json.dumps(outcome.response())
    assert aws.sent == []

    # 3. No accepted token can be a signed string: every Zoom signed string starts with "v0:".
    for token in (signed_string.decode(), "v0:1:{}", "v0=abc", "a" * 15, "a" * 65, "qgg8vlvZRS6UYooa tFL8Aw", "é" * 22):
        assert ZOOM_PLAIN_TOKEN.fullmatch(token) is None, token


@pytest.mark.parametrize("token", [None, 42, "", "short", "has:colon-qgg8vlvZRS6U", "<script>alert(1)</script>xx"])
def test_a_signed_url_validation_with_a_token_outside_zooms_shape_is_refused_and_not_queued(token: Any) -> None:
    body = _zoom_validation(token)
    outcome, aws = _run("zoom", body, _zoom_signed(body, "zoom-secret", 1_700_000_000), ["zoom-secret"], 1.7e9)
    assert outcome.status == 400 and outcome.result == "rejected"
    assert aws.sent == []


def test_during_a_rotation_the_encrypted_token_uses_the_secret_that_signed_the_request() -> None:
    body = _zoom_validation("qgg8vlvZRS6UYooatFL8Aw")
    for signer in ("old-secret", "new-secret"):
        outcome, _ = _run("zoom", body, _zoom_signed(body, signer, 1_700_000_000), ["new-secret", "old-secret"], 1.7e9)
        assert outcome.answer is not None
        expected = hmac.new(signer.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
        assert json.loads(outcome.answer.body)["encryptedToken"] == expected


def test_a_stale_url_validation_is_refused_like_any_stale_webhook() -> None:
    body = _zoom_validation("qgg8vlvZRS6UYooatFL8Aw")
    outcome, aws = _run("zoom", body, _zoom_signed(body, "s", 1_700_000_000), ["s"], 1_700_000_000 + 301.0)
    assert outcome.status == 401 and aws.sent == []


def test_a_zoom_event_is_verified_and_queued_with_its_event_type() -> None:
    outcome, aws = _run_vector("zoom", "zoom-webhook-sample-meeting-started")
    assert outcome.status == 202
    [(_queue, message)] = aws.sent
    assert attributes(message)["event_type"] == "meeting.started"


# --------------------------------------------------------------------------- Twitch


def test_twitchs_callback_verification_is_answered_with_the_challenge_as_text_and_not_queued() -> None:
    vector = _vector("twitch", "twitch-docs-callback-verification")
    outcome, aws = _run_vector("twitch", vector["name"])
    assert outcome.answer is not None and (outcome.status, outcome.result) == (200, "handshake")
    assert outcome.answer.body == vector["expected_answer"].encode()
    headers = outcome.response()["headers"]
    assert headers["Content-Type"].startswith("text/plain") and headers["X-Content-Type-Options"] == "nosniff"
    assert aws.sent == []


def test_an_unsigned_callback_verification_gets_401_and_no_challenge() -> None:
    vector = _vector("twitch", "twitch-docs-callback-verification")
    headers = {**vector["headers"], "twitch-eventsub-message-signature": "sha256=" + "0" * 64}
    outcome, aws = _run_vector("twitch", vector["name"], headers=headers)
    assert outcome.status == 401 and b"pogchamp" not in json.dumps(outcome.response()).encode()
    assert aws.sent == []


def test_a_twitch_notification_is_queued_keyed_on_its_signed_message_id() -> None:
    outcome, aws = _run_vector("twitch", "twitch-docs-channel-follow-notification")
    assert outcome.status == 202
    assert (outcome.delivery_id, outcome.event_type) == ("befa7b53-d79d-478f-86b9-120f112b044e", "channel.follow")
    [(_queue, message)] = aws.sent
    assert "twitch-eventsub-message-signature" not in dict(queued(message).headers)


def _twitch(
    body: dict[str, Any],
    *,
    message_type: str,
    secret: str = "s3cr3t-s3cr3t",  # noqa: S107 (a test secret)
    now: int = 1_700_000_000,
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    headers = TWITCH.sign(raw, secret, timestamp=now, options={}, delivery_id="6f0c8b3e-3f65-4b0e-9d3c-2b1f1a2d9c11")
    return raw, {**headers, "twitch-eventsub-message-type": message_type}


def test_a_revocation_is_queued_as_an_event_of_type_revocation() -> None:
    subscription = {"id": "f1c2a387", "status": "authorization_revoked", "type": "channel.follow", "version": "1"}
    body, headers = _twitch({"subscription": subscription}, message_type="revocation")
    outcome, aws = _run("twitch", body, headers, ["s3cr3t-s3cr3t"], 1.7e9)
    assert (outcome.status, outcome.event_type) == (202, "revocation")
    assert len(aws.sent) == 1


def test_a_signed_body_with_a_challenge_is_a_verification_whatever_the_unsigned_type_header_says() -> None:
    body, headers = _twitch({"challenge": "c-1", "subscription": {"type": "x"}}, message_type="notification")
    outcome, aws = _run("twitch", body, headers, ["s3cr3t-s3cr3t"], 1.7e9)
    assert outcome.answer is not None and outcome.answer.body == b"c-1" and aws.sent == []


@pytest.mark.parametrize(
    "body", [{"subscription": {"type": "x"}}, {"challenge": "a b"}, {"challenge": "x" * 1025}, {"challenge": 7}]
)
def test_a_verification_without_an_echoable_challenge_is_refused_not_queued(body: dict[str, Any]) -> None:
    raw, headers = _twitch(body, message_type="webhook_callback_verification")
    outcome, aws = _run("twitch", raw, headers, ["s3cr3t-s3cr3t"], 1.7e9)
    assert outcome.status == 400 and aws.sent == []


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2019-11-16T10:11:12.634234626Z", 1573899072.634234626),
        ("2019-11-16T10:11:12Z", 1573899072.0),
        ("2019-11-16T12:11:12.5+02:00", 1573899072.5),
        ("2019-11-16T05:11:12-05:00", 1573899072.0),
    ],
)
def test_twitch_timestamps_are_read_as_rfc3339(value: str, seconds: float) -> None:
    assert rfc3339_seconds(value) == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "1573899072",
        "2019-11-16 10:11:12Z",
        "2019-11-16T10:11:12",
        "2019-11-16T10:11:12.1234567890Z",
        "2019-13-16T10:11:12Z",
        "2019-11-16T10:11:60Z",
        "2019-11-16T10:11:12+2:00",
        " 2019-11-16T10:11:12Z",
        "٢٠١٩-11-16T10:11:12Z",
    ],
)
def test_anything_else_is_not_a_twitch_timestamp(value: str | None) -> None:
    assert rfc3339_seconds(value) is None


def test_the_twitch_window_is_closed_at_the_tolerance_either_way() -> None:
    body = b'{"subscription":{"type":"x","status":"enabled"},"event":{}}'
    headers = TWITCH.sign(body, "k" * 12, timestamp=1_700_000_000, options={}, delivery_id="id-1")

    def verifies(now: float) -> bool:
        return TWITCH.verify(
            Request(headers=headers, body=body), ["k" * 12], now=now, tolerance_seconds=300, options={}
        )

    assert verifies(1_700_000_000 + 300) and verifies(1_700_000_000 - 300)
    assert not verifies(1_700_000_000 + 301) and not verifies(1_700_000_000 - 301)


def test_twitch_signs_the_message_id_and_the_timestamp_as_well_as_the_body() -> None:
    body = b'{"subscription":{"type":"x","status":"enabled"},"event":{}}'
    headers = TWITCH.sign(body, "k" * 12, timestamp=1_700_000_000, options={}, delivery_id="id-1")
    assert rfc3339(1_700_000_000) == headers["twitch-eventsub-message-timestamp"]
    for name, value in (
        ("twitch-eventsub-message-id", "id-2"),
        ("twitch-eventsub-message-timestamp", rfc3339(1_700_000_001)),
    ):
        changed = Request(headers={**headers, name: value}, body=body)
        assert not TWITCH.verify(changed, ["k" * 12], now=1.7e9, tolerance_seconds=300, options={})
    missing = {k: v for k, v in headers.items() if k != "twitch-eventsub-message-id"}
    assert not TWITCH.verify(
        Request(headers=missing, body=body), ["k" * 12], now=1.7e9, tolerance_seconds=300, options={}
    )


# --------------------------------------------------------------------------- Xero


def test_xeros_intent_to_receive_signed_gets_200_with_an_empty_body_and_is_not_queued() -> None:
    outcome, aws = _run_vector("xero", "xero-php-webhook-intent-to-receive")
    assert outcome.answer is not None and (outcome.status, outcome.answer.body) == (200, b"")
    assert outcome.result == "handshake" and aws.sent == []


def test_xeros_intent_to_receive_wrongly_signed_gets_401() -> None:
    vector = _vector("xero", "xero-php-webhook-intent-to-receive")
    outcome, aws = _run_vector("xero", vector["name"], secret="another-key")
    assert outcome.status == 401 and aws.sent == []


def test_a_xero_event_is_queued_and_answered_200_with_an_empty_body() -> None:
    outcome, aws = _run_vector("xero", "xero-php-webhook-contact-update")
    assert outcome.result == "accepted" and len(aws.sent) == 1
    response = outcome.response()
    assert (response["statusCode"], response["body"]) == (200, "")


# --------------------------------------------------------------------------- Asana


@pytest.mark.parametrize("enforce", [True, False])
def test_asanas_hook_secret_handshake_is_refused_never_echoed_and_never_queued(enforce: bool) -> None:
    presented = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"
    # Even a presented secret equal to the configured one is not echoed: a handshake creates a new webhook.
    outcome, aws = _run("asana", b"", {"X-Hook-Secret": presented}, [presented], 1.7e9, enforce=enforce)
    assert outcome.status == 401 and outcome.result == "rejected"
    assert presented not in json.dumps(outcome.response())
    assert aws.sent == []


def test_a_signed_asana_event_is_queued_without_any_secret_header() -> None:
    outcome, aws = _run_vector("asana", "asana-devrel-example-task-changed")
    assert outcome.status == 202
    [(_queue, message)] = aws.sent
    assert "x-hook-signature" not in dict(queued(message).headers)


# --------------------------------------------------------------------------- Notion


@pytest.mark.parametrize("enforce", [True, False])
def test_notions_verification_token_signed_with_an_active_secret_gets_200_and_is_never_queued(enforce: bool) -> None:
    vector = _vector("notion", "notion-sdk-verification-token-handshake")
    body, headers = vector["body"].encode(), vector["headers"]
    outcome, aws = _run("notion", body, headers, [vector["secret"]], 1.7e9, enforce=enforce)
    assert outcome.answer is not None and (outcome.status, outcome.answer.body) == (200, b"")
    assert vector["secret"] not in json.dumps(outcome.response())
    assert aws.sent == []


@pytest.mark.parametrize("enforce", [True, False])
def test_a_verification_token_the_source_does_not_hold_is_refused_never_echoed_and_never_queued(enforce: bool) -> None:
    # Anyone can send one: it is signed with the token it carries.
    vector = _vector("notion", "notion-sdk-verification-token-handshake")
    body, headers = vector["body"].encode(), vector["headers"]
    outcome, aws = _run("notion", body, headers, ["the-subscriptions-real-token"], 1.7e9, enforce=enforce)
    assert (outcome.status, outcome.result) == (401, "rejected")
    assert vector["secret"] not in json.dumps(outcome.response())
    assert aws.sent == []


def test_a_notion_event_is_queued_keyed_on_its_signed_id() -> None:
    outcome, aws = _run_vector("notion", "notion-sdk-fixed-fixture")
    assert (outcome.status, outcome.delivery_id, outcome.event_type) == (202, "fixed-evt", "page.created")
    [(_queue, message)] = aws.sent
    assert "x-notion-signature" not in dict(queued(message).headers)


# --------------------------------------------------------------------------- the catalogue


@pytest.mark.parametrize(
    ("provider", "kind"),
    [
        ("zoom", "zoom-url-validation"),
        ("twitch", "twitch-callback-verification"),
        ("xero", "xero-intent-to-receive"),
        ("asana", "asana-hook-secret-capture"),
        ("notion", "notion-verification-token-capture"),
    ],
)
def test_each_provider_names_its_post_handshake_and_opens_no_other_method(provider: str, kind: str) -> None:
    assert PROVIDERS[provider].handshake_kind == kind
    assert get_handshake(kind).methods == frozenset()
