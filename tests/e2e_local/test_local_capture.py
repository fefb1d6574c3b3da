"""Over HTTP through the local pipeline: Asana's and Notion's handshakes captured once from the armed URL.

The local pipeline arms each capturing source (``capture_token`` in its dev secret document,
docs/handshakes.md). The handshake sent to ``<url>?capture=<token>`` stores the secret it
hands over in the local Secrets Manager; every other one is 401; nothing reaches the queue;
a webhook signed with the captured secret is then accepted and processed.
"""

from __future__ import annotations

import json
from pathlib import Path

import requests
from e2e_support import Ledger, post, signed, wait_for_stage

from webhook_kit.devsecrets import capture_url
from webhook_kit.local import LocalPipeline
from webhook_kit.local.resources import local_client
from webhook_verify.schemes import body_sha256

PROCESSOR_STAGES = {"processed", "duplicate", "unhandled", "retried", "dead-lettered", "error"}
# The X-Hook-Secret of Asana's "Establish a webhook" example.
ASANA_SECRET = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"
NOTION_TOKEN = "secret_abc123_verification_token"


def _stored(pipeline: LocalPipeline, source: str) -> dict[str, object]:
    client = local_client("secretsmanager", pipeline.aws_endpoint)
    return dict(json.loads(client.get_secret_value(SecretId=pipeline.sources[source].secret_arn)["SecretString"]))


def _nothing_queued_but(pipeline: LocalPipeline, source: str, delivery_id: str) -> None:
    wait_for_stage(pipeline, delivery_id, "processed")
    seen = {e.delivery_id for e in pipeline.events if e.source == source and e.stage in PROCESSOR_STAGES}
    assert seen == {delivery_id}


def test_asanas_handshake_is_captured_once_from_the_armed_url_and_its_events_then_verify(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    source = "t-asana-capture"
    url = pipeline.webhook_url(source)
    armed = capture_url(url, pipeline.sources[source].tokens)
    assert armed is not None and armed.startswith(url + "?capture=")

    unarmed = http.post(url, headers={"X-Hook-Secret": ASANA_SECRET}, timeout=10)
    wrong = http.post(url, params={"capture": "not-the-token"}, headers={"X-Hook-Secret": ASANA_SECRET}, timeout=10)
    injected = http.post(armed, headers={"X-Hook-Secret": "a" * 300}, timeout=10)
    assert [r.status_code for r in (unarmed, wrong, injected)] == [401, 401, 401]
    assert "capture_token" in _stored(pipeline, source)

    captured = http.post(armed, headers={"X-Hook-Secret": ASANA_SECRET}, timeout=10)
    assert (captured.status_code, captured.headers.get("X-Hook-Secret")) == (200, ASANA_SECRET)
    assert _stored(pipeline, source) == {"secrets": [ASANA_SECRET]}

    again = http.post(armed, headers={"X-Hook-Secret": "f" * 64}, timeout=10)
    assert again.status_code == 401 and "x-hook-secret" not in {name.lower() for name in again.headers}
    assert _stored(pipeline, source) == {"secrets": [ASANA_SECRET]}

    body = tmp_path / "events.json"
    body.write_text(json.dumps({"events": [{"action": "changed", "resource": {"gid": "{{random_hex}}"}}]}))
    with_dev_secret = signed(pipeline, source, body_file=body)
    assert post(http, with_dev_secret).status_code == 401  # the placeholder is gone
    event = signed(pipeline, source, body_file=body, secret=ASANA_SECRET)
    assert post(http, event).status_code == 202
    _nothing_queued_but(pipeline, source, body_sha256(event.body))


def test_notions_verification_token_is_captured_once_from_the_armed_url_and_its_events_then_verify(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    source = "t-notion-capture"
    armed = capture_url(pipeline.webhook_url(source), pipeline.sources[source].tokens)
    assert armed is not None
    body = json.dumps({"verification_token": NOTION_TOKEN}).encode()

    unarmed = http.post(pipeline.webhook_url(source), data=body, timeout=10)
    assert unarmed.status_code == 401
    captured = http.post(armed, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert (captured.status_code, captured.text) == (200, "")
    assert NOTION_TOKEN not in json.dumps(dict(captured.headers))
    assert _stored(pipeline, source) == {"secrets": [NOTION_TOKEN]}
    other = json.dumps({"verification_token": "secret_" + "z" * 40}).encode()
    assert http.post(armed, data=other, timeout=10).status_code == 401

    event = tmp_path / "event.json"
    event.write_text(json.dumps({"id": "{{delivery_id}}", "type": "page.created", "entity": {"type": "page"}}))
    delivery = signed(pipeline, source, body_file=event, secret=NOTION_TOKEN)
    assert post(http, delivery).status_code == 202
    _nothing_queued_but(pipeline, source, delivery.delivery_id)
