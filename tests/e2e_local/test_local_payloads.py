"""The shipped example handlers over real HTTP, a real queue and DLQ (moto's server): typed, validated, versioned.

One pipeline with a source named ``stripe`` (so the shipped ``lambdas/handlers.py``
takes its webhooks), each delivery signed with Stripe's own library
(``stripe.WebhookSignature``), not the kit's signer. Shown: the shipped sample
reaches ``payment_succeeded`` as a ``PaymentIntentSucceeded``; a payload
without its amount is dead-lettered on its first receive with the field path
as the reason and no payload value; ``invoice.paid`` runs for a 2024 API version
and follows ``unhandled_events`` for another.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe
from e2e_support import wait_for_stage

from stacks.config import WebhookKitConfig, load_config
from webhook_kit.local import LocalPipeline
from webhook_kit.send import render

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
stack_name = "WebhookKitPayloads"
unhandled_events = "acknowledge"

[[sources]]
name = "stripe"
provider = "stripe"
timeout_seconds = 20
max_receive_count = 3
"""


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    path = tmp_path_factory.mktemp("payloads") / "webhook-kit.payloads.toml"
    path.write_text(CONFIG)
    config: WebhookKitConfig = load_config(path)
    with LocalPipeline(config, port=0, aws_port=0, visibility_scale=0.05) as local:
        yield local


def _post(pipeline: LocalPipeline, document: dict[str, Any]) -> str:
    """POST ``document`` to the stripe source, signed by Stripe's library; returns its delivery id."""
    body = json.dumps(document)
    secret = pipeline.sources["stripe"].secret
    signature = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=int(time.time()))
    response = requests.post(
        pipeline.webhook_url("stripe"),
        data=body.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(document["id"])


def _sample(**changes: Any) -> dict[str, Any]:
    delivery_id = f"evt_{uuid.uuid4().hex}"
    document: dict[str, Any] = json.loads(
        render((ROOT / "samples" / "stripe.json").read_bytes(), delivery_id=delivery_id, now=int(time.time()))
    )
    document.update(changes)
    return document


def test_the_shipped_sample_reaches_its_typed_handler(pipeline: LocalPipeline) -> None:
    delivery_id = _post(pipeline, _sample())

    [processed] = wait_for_stage(pipeline, delivery_id, "processed")
    assert processed.event_type == "payment_intent.succeeded"


def test_a_payload_without_its_amount_is_dead_lettered_at_once_with_the_field_path(pipeline: LocalPipeline) -> None:
    document = _sample()
    del document["data"]["object"]["amount"]
    document["data"]["object"]["description"] = "card ending 4242, sk_live_secret"

    delivery_id = _post(pipeline, document)

    [dead] = wait_for_stage(pipeline, delivery_id, "dead-lettered")
    assert dead.attempt == 1  # not retried: the same bytes would fail every time
    assert "PayloadValidationError" in dead.detail
    assert "PaymentIntentSucceeded: data.object.amount: missing" in dead.detail
    assert "sk_live_secret" not in dead.detail
    assert not [e for e in pipeline.events if e.delivery_id == delivery_id and e.stage == "processed"]


def test_invoice_paid_is_routed_by_its_api_version(pipeline: LocalPipeline) -> None:
    invoice = {
        "id": "in_1PvLocalDemo",
        "object": "invoice",
        "customer": "cus_QlocalDemo01",
        "amount_paid": 2599,
        "currency": "eur",
        "status": "paid",
    }
    current = _post(pipeline, _sample(type="invoice.paid", data={"object": invoice}))
    other = _post(pipeline, _sample(type="invoice.paid", api_version="2025-03-31.basil", data={"object": invoice}))

    wait_for_stage(pipeline, current, "processed")
    # No route claims 2025 versions: unhandled_events = "acknowledge" takes it off the queue unprocessed.
    wait_for_stage(pipeline, other, "unhandled")
