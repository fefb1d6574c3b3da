"""Microsoft Graph through the verifier core: the validationToken echo, and notifications whose
clientState is checked in every item and removed before the body reaches the queue.

Facts from Microsoft's docs, "Receive change notifications through webhooks"
(learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks): the
validation POST carries ``validationToken`` in the query and expects it back as
text/plain with 200 within 10 seconds; each notification item carries the
subscription's ``clientState``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support.verifier import FakeAws, api_event, attributes, provider_source
from verifier.config import VerifierConfig
from verifier.core import Outcome, process
from webhook_verify.providers import PROVIDERS

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/graph"
GRAPH = PROVIDERS["microsoft-graph"]
SECRET = "secretClientValue"  # the docs' example clientState
TOKEN = "Validation: Testing client application reachability for subscription Request-Id: 3f1f9f6e"


def _run(event: dict[str, Any]) -> tuple[Outcome, FakeAws]:
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/graph"
    source = provider_source("microsoft-graph", name="graph", queue_url=queue, secret_arn=ARN)
    aws = FakeAws()
    aws.set_secrets(ARN, SECRET)
    return process(event, config=VerifierConfig(sources={"graph": source}), adapters=aws, now=1.7e9), aws


def _notification(*states: str) -> bytes:
    items = [{"id": f"n{i}", "changeType": "created", "clientState": state} for i, state in enumerate(states)]
    return json.dumps({"value": items}).encode()


def test_the_validation_token_is_echoed_as_plain_text_without_touching_the_queue() -> None:
    outcome, aws = _run(api_event("graph", None, {}, query={"validationToken": [TOKEN]}))
    response = outcome.response()
    assert (response["statusCode"], response["body"]) == (200, TOKEN)
    assert response["headers"]["Content-Type"].startswith("text/plain")
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"
    assert aws.sent == []


@pytest.mark.parametrize(
    "values",
    [[TOKEN, "other"], ["x" * 1025], ["line\nbreak"], ["<tab>\there"], [""]],
    ids=["twice", "over-the-cap", "newline", "tab", "empty"],
)
def test_a_validation_token_that_cannot_be_echoed_is_400_and_never_queued(values: list[str]) -> None:
    outcome, aws = _run(api_event("graph", _notification(SECRET), {}, query={"validationToken": values}))
    assert outcome.status == 400
    assert aws.sent == []


def test_a_notification_is_queued_without_its_client_state() -> None:
    outcome, aws = _run(api_event("graph", _notification(SECRET, SECRET), {"Content-Type": "application/json"}))
    assert outcome.status == 202
    [(_queue, message)] = aws.sent
    raw = message["MessageBody"]
    body = base64.b64decode(raw) if attributes(message).get("body_encoding") == "base64" else raw.encode()
    assert SECRET.encode() not in body
    assert json.loads(body) == {"value": [{"id": "n0", "changeType": "created"}, {"id": "n1", "changeType": "created"}]}


@pytest.mark.parametrize("states", [("guess",), (SECRET, "guess"), ()], ids=["wrong", "one-item-wrong", "no-items"])
def test_a_notification_without_the_client_state_in_every_item_is_401(states: tuple[str, ...]) -> None:
    outcome, aws = _run(api_event("graph", _notification(*states), {"Content-Type": "application/json"}))
    assert outcome.status == 401
    assert aws.sent == []
