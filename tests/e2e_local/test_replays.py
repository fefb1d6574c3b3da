"""Replays of captured, validly signed requests, through the real verifier and processor (moto).

GitHub, Shopify, Twilio and a generic source with ``delivery_id_header`` take
the delivery id (and GitHub and Shopify the event type) from headers that the
signature does not cover. A replay can put anything there: the verifier
accepts it (the signature is good), and the processor must recognise it by
the digest of the signed material and never run a handler a second time.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from e2e_support import Ledger, eventually, post, signed, wait_for_stage

from webhook_kit.local import LocalPipeline
from webhook_kit.send import SignedWebhook
from webhook_verify.schemes import get_scheme

# The header each source's provider sends its (unsigned) delivery id in.
UNSIGNED_ID_HEADER = {
    "t-github": "X-GitHub-Delivery",
    "t-shop": "X-Shopify-Event-Id",
    "t-twilio": "I-Twilio-Idempotency-Token",
    "t-hmac": "X-Id",
}


def _replayed(webhook: SignedWebhook, **changed: str) -> SignedWebhook:
    """The captured request with some unsigned headers rewritten (body and signature untouched)."""
    headers = {**webhook.headers, **changed}
    return SignedWebhook(url=webhook.url, body=webhook.body, headers=headers, delivery_id=webhook.delivery_id)


def _handled(ledger: Ledger, *delivery_ids: str) -> int:
    return sum(len(ledger.successes(delivery_id)) for delivery_id in delivery_ids)


@pytest.mark.parametrize("source", sorted(UNSIGNED_ID_HEADER))
def test_a_replay_under_fresh_delivery_ids_never_runs_the_handler_again(
    source: str, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    # Given a genuine delivery that was handled
    original = signed(pipeline, source)
    assert post(http, original).status_code == 202
    wait_for_stage(pipeline, original.delivery_id, "processed")

    # When an attacker re-sends the captured request twice under new delivery ids
    fresh_ids = [f"replay-{uuid.uuid4()}" for _ in range(2)]
    for fresh in fresh_ids:
        response = post(http, _replayed(original, **{UNSIGNED_ID_HEADER[source]: fresh}))
        # The signature is genuine, so the verifier stores it, under the id it was given.
        assert response.status_code == 202, response.text
        assert response.json() == {"id": fresh}

    # Then the processor recognises each one as the same delivery, and the handler ran once in all
    for fresh in fresh_ids:
        wait_for_stage(pipeline, fresh, "duplicate")
    assert _handled(ledger, original.delivery_id, *fresh_ids) == 1


def test_a_shopify_body_relabelled_with_another_topic_is_not_handled_again(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    original = signed(pipeline, "t-shop")
    assert original.headers["X-Shopify-Topic"] == "orders/create"
    assert post(http, original).status_code == 202
    wait_for_stage(pipeline, original.delivery_id, "processed")

    relabelled = _replayed(original, **{"X-Shopify-Topic": "orders/paid", "X-Shopify-Event-Id": "relabelled-1"})
    assert post(http, relabelled).status_code == 202

    [event] = wait_for_stage(pipeline, "relabelled-1", "duplicate")
    assert event.event_type == "orders/paid"
    assert _handled(ledger, original.delivery_id, "relabelled-1") == 1


def test_the_handler_is_told_whether_the_event_type_was_signed(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    github = signed(pipeline, "t-github")  # X-GitHub-Event: outside the signature
    stripe = signed(pipeline, "t-stripe")  # "type" in the signed body
    for webhook in (github, stripe):
        assert post(http, webhook).status_code == 202
        wait_for_stage(pipeline, webhook.delivery_id, "processed")

    [github_event] = ledger.successes(github.delivery_id)
    [stripe_event] = ledger.successes(stripe.delivery_id)
    assert (github_event.event_type_signed, github_event.delivery_id_signed) == (False, False)
    assert (stripe_event.event_type_signed, stripe_event.delivery_id_signed) == (True, True)


def test_a_generic_source_with_a_signed_timestamp_still_deduplicates_on_its_configured_id(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    """t-hmac signs ``{timestamp}.{body}`` and sends its id in X-Id (unsigned).

    A provider that retries signs the same body anew, with a later timestamp:
    another signed digest, the same id. The id must still recognise it.
    """
    original = signed(pipeline, "t-hmac")
    assert post(http, original).status_code == 202
    wait_for_stage(pipeline, original.delivery_id, "processed")

    source = pipeline.config.source("t-hmac")
    # sign() names headers in lower case, as configured (x-sig, x-ts).
    timestamp = int(original.headers["x-ts"]) + 30
    resigned = get_scheme("generic-hmac").sign(
        original.body, pipeline.sources["t-hmac"].secret, timestamp=timestamp, options=source.verifier_options()
    )
    retry = _replayed(original, **resigned)
    assert retry.headers["x-ts"] != original.headers["x-ts"]
    assert post(http, retry).status_code == 202

    eventually(
        lambda: [e for e in pipeline.events if e.delivery_id == original.delivery_id and e.stage == "duplicate"],
        message="the re-signed retry was not recognised by its delivery id",
    )
    assert _handled(ledger, original.delivery_id) == 1
