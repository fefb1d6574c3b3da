"""Over HTTP through the local pipeline: the POST handshakes of Zoom, Twitch, Xero, Asana and Notion
are answered by the verifier (or refused) and never reach the queue.

Each test sends the handshake, then a genuine webhook of the same source as a barrier: once the
barrier is processed the pollers have caught up, so had the handshake been queued it would show.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_support import Ledger, post, signed, wait_for_stage

from webhook_kit.local import LocalPipeline
from webhook_verify.schemes import body_sha256, get_scheme

PROCESSOR_STAGES = {"processed", "duplicate", "unhandled", "retried", "dead-lettered", "error"}


@pytest.fixture
def since(pipeline: LocalPipeline) -> int:
    """How many pipeline events there were when the test began: other tests share its sources."""
    return len(pipeline.events)


def _processed_only(pipeline: LocalPipeline, source: str, delivery_id: str, since: int) -> None:
    """The barrier was processed, and nothing else of ``source`` reached a processor since the test began
    (a delivery another test sent earlier may still finish meanwhile: it is not this test's)."""
    wait_for_stage(pipeline, delivery_id, "processed")
    events = list(pipeline.events)

    def processed(batch: list[Any]) -> set[str | None]:
        return {event.delivery_id for event in batch if event.source == source and event.stage in PROCESSOR_STAGES}

    assert processed(events[since:]) - processed(events[:since]) == {delivery_id}


def test_zooms_url_validation_is_answered_after_the_signature_check_and_not_queued(
    since: int, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    source, secret = "t-zoom", pipeline.sources["t-zoom"].secret
    validation = tmp_path / "validation.json"
    validation.write_text(
        json.dumps({"payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}, "event": "endpoint.url_validation"})
    )
    webhook = signed(pipeline, source, body_file=validation)

    unsigned = http.post(webhook.url, data=webhook.body, headers={"Content-Type": "application/json"}, timeout=10)
    response = post(http, webhook)

    assert unsigned.status_code == 401 and "encryptedToken" not in unsigned.text
    assert response.status_code == 200
    expected = hmac.new(secret.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert response.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    barrier = tmp_path / "event.json"
    barrier.write_text(json.dumps({"event": "meeting.started", "payload": {"object": {"id": "1"}}}))
    event = signed(pipeline, source, body_file=barrier)
    assert post(http, event).status_code == 202
    _processed_only(pipeline, source, body_sha256(event.body), since)


def test_twitchs_callback_verification_is_echoed_as_text_and_a_revocation_is_queued(
    since: int, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    source = "t-twitch"
    verification = tmp_path / "verification.json"
    verification.write_text(
        json.dumps({"challenge": "pogchamp-kappa-360noscope-vohiyo", "subscription": {"type": "channel.follow"}})
    )
    webhook = signed(pipeline, source, body_file=verification)
    headers = {**webhook.headers, "twitch-eventsub-message-type": "webhook_callback_verification"}

    response = http.post(webhook.url, data=webhook.body, headers=headers, timeout=10)

    assert response.status_code == 200
    assert response.text == "pogchamp-kappa-360noscope-vohiyo"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    revocation = tmp_path / "revocation.json"
    revocation.write_text(json.dumps({"subscription": {"type": "channel.follow", "status": "authorization_revoked"}}))
    revoked = signed(pipeline, source, body_file=revocation)
    assert post(http, revoked).status_code == 202
    [event] = wait_for_stage(pipeline, revoked.delivery_id, "processed")
    assert event.event_type == "revocation"
    _processed_only(pipeline, source, revoked.delivery_id, since)
    assert ledger.calls(webhook.delivery_id) == []


def test_xeros_intent_to_receive_gets_200_signed_and_401_otherwise_and_is_not_queued(
    since: int, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    source = "t-xero"
    intent = tmp_path / "intent.json"
    intent.write_text(
        json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "{{random_hex}}"})
    )
    good = signed(pipeline, source, body_file=intent)
    bad = signed(pipeline, source, body_file=intent, secret="not-the-webhook-key")

    answered = post(http, good)
    assert (answered.status_code, answered.text) == (200, "")
    assert post(http, bad).status_code == 401
    events = tmp_path / "events.json"
    events.write_text(
        json.dumps({"events": [{"eventCategory": "CONTACT", "eventType": "Update"}], "entropy": "{{random_hex}}"})
    )
    delivery = signed(pipeline, source, body_file=events)
    accepted = post(http, delivery)
    assert (accepted.status_code, accepted.text) == (200, "")
    _processed_only(pipeline, source, body_sha256(delivery.body), since)


def test_asanas_hook_secret_handshake_is_refused_and_not_queued(
    since: int, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    source = "t-asana"
    presented = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"

    response = http.post(pipeline.webhook_url(source), data=b"", headers={"X-Hook-Secret": presented}, timeout=10)

    assert response.status_code == 401
    assert "x-hook-secret" not in {name.lower() for name in response.headers}
    body = tmp_path / "events.json"
    body.write_text(json.dumps({"events": [{"action": "changed", "resource": {"gid": "{{random_hex}}"}}]}))
    event = signed(pipeline, source, body_file=body)
    assert get_scheme(pipeline.sources[source].scheme).name == "generic-hmac"
    assert post(http, event).status_code == 202
    _processed_only(pipeline, source, body_sha256(event.body), since)


def test_notions_verification_token_is_never_echoed_or_queued_and_events_verify(
    since: int, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    source, secret = "t-notion", pipeline.sources["t-notion"].secret
    presented = "secret_abc123_verification_token"
    body = json.dumps({"verification_token": presented}).encode()
    self_signed = "sha256=" + hmac.new(presented.encode(), body, hashlib.sha256).hexdigest()
    resent = (
        "sha256="
        + hmac.new(secret.encode(), json.dumps({"verification_token": secret}).encode(), hashlib.sha256).hexdigest()
    )

    refused = http.post(
        pipeline.webhook_url(source), data=body, headers={"X-Notion-Signature": self_signed}, timeout=10
    )
    held = http.post(
        pipeline.webhook_url(source),
        data=json.dumps({"verification_token": secret}).encode(),
        headers={"X-Notion-Signature": resent},
        timeout=10,
    )

    assert refused.status_code == 401 and presented not in refused.text
    assert (held.status_code, held.text) == (200, "")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"id": "{{delivery_id}}", "type": "page.created", "entity": {"type": "page"}}))
    delivery = signed(pipeline, source, body_file=event)
    assert post(http, delivery).status_code == 202
    _processed_only(pipeline, source, delivery.delivery_id, since)


def test_graphs_validation_token_is_echoed_and_a_notifications_client_state_never_reaches_the_handler(
    since: int, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    source = "t-graph"
    token = "Validation: Testing client application reachability for subscription Request-Id: 3f1f9f6e-0d1c"
    url = pipeline.webhook_url(source)

    validation = http.post(url, params={"validationToken": token}, timeout=10)
    too_long = http.post(url, params={"validationToken": "v" * 1025}, timeout=10)

    assert (validation.status_code, validation.text) == (200, token)
    assert validation.headers["Content-Type"].startswith("text/plain")
    assert validation.headers["X-Content-Type-Options"] == "nosniff"
    assert too_long.status_code == 400
    notification = signed(pipeline, source)
    secret = pipeline.sources[source].secret
    assert secret.encode() in notification.body  # Graph writes the clientState into each item
    response = post(http, notification)
    assert response.status_code == 202, response.text
    delivery_id = response.json()["id"]
    _processed_only(pipeline, source, delivery_id, since)
    [(event, _)] = ledger.calls(delivery_id)
    assert secret.encode() not in event.body
    assert "clientState" not in json.loads(event.body)["value"][0]
    assert json.loads(event.body)["value"][0]["changeType"] == "created"


def test_discords_ping_is_answered_pong_after_the_signature_check_and_not_queued(
    since: int, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    source = "t-discord"
    ping = tmp_path / "ping.json"
    ping.write_text(json.dumps({"id": "1", "application_id": "2", "type": 1, "version": 1}))
    webhook = signed(pipeline, source, body_file=ping)

    unsigned = http.post(webhook.url, data=webhook.body, headers={"Content-Type": "application/json"}, timeout=10)
    response = post(http, webhook)

    assert unsigned.status_code == 401
    assert (response.status_code, response.json()) == (200, {"type": 1})
    barrier = tmp_path / "interaction.json"
    barrier.write_text(json.dumps({"id": "3", "application_id": "2", "type": 2, "version": 1, "data": {"name": "x"}}))
    event = signed(pipeline, source, body_file=barrier)
    accepted = post(http, event)
    assert accepted.status_code == 202, accepted.text
    _processed_only(pipeline, source, accepted.json()["id"], since)
