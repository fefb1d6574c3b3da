"""End to end over HTTP: signed webhooks through the local pipeline's WAF stand-in, the real
verifier, SQS on moto, and the real processor, to the tests' handler.

Every test waits for an observable outcome (the handler's ledger, the
pipeline's report of what the processor decided, queue depths) rather than
sleeping.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from e2e_support import (
    Ledger,
    eventually,
    post,
    queue_depth,
    signed,
    wait_for_stage,
)
from typer.testing import CliRunner

from webhook_kit.cli import app
from webhook_kit.local import LocalPipeline
from webhook_verify.schemes import SCHEMES

CONFIG = str(Path(__file__).with_name("webhook-kit.e2e.toml"))

SOURCE_BY_SCHEME = {
    "standard-webhooks": "t-std",
    "svix": "t-svix",
    "stripe": "t-stripe",
    "github": "t-github",
    "shopify": "t-shop",
    "slack": "t-slack",
    "twilio": "t-twilio",
    "square": "t-square",
    "paddle": "t-pad",
    "hubspot": "t-hubspot",
    "box": "t-box",
    "workos": "t-workos",
    "generic-hmac": "t-hmac",
    "shared-token": "t-okta",
    "aws-sns": "t-sns",
    "paypal": "t-paypal",
    "adyen": "t-adyen",
    "mailgun": "t-mailgun",
    "discord": "t-discord",
    "telnyx": "t-telnyx",
    "sendgrid": "t-sendgrid",
    "twitch": "t-twitch",
    "easypost": "t-easypost",
    "cloudinary": "t-cloudinary",
    "mux": "t-mux",
    "buildkite": "t-buildkite",
}


def test_the_configuration_covers_every_scheme(pipeline: LocalPipeline) -> None:
    from webhook_verify.schemes import SCHEMES

    assert {pipeline.sources[name].scheme for name in SOURCE_BY_SCHEME.values()} == set(SCHEMES)


@pytest.mark.parametrize("scheme", sorted(SOURCE_BY_SCHEME))
def test_a_signed_webhook_is_accepted_and_handled_once_byte_exact(
    scheme: str, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    source = SOURCE_BY_SCHEME[scheme]
    webhook = signed(pipeline, source)

    response = post(http, webhook)

    assert response.status_code == 202, response.text
    assert response.json() == {"id": webhook.delivery_id}
    wait_for_stage(pipeline, webhook.delivery_id, "processed")
    [(event, result)] = ledger.calls(webhook.delivery_id)
    assert result == "ok"
    assert event.source == source
    assert event.body == webhook.body


# A token sent as it is (shared-token) authenticates any body: only signed bodies can be tampered with.
@pytest.mark.parametrize("scheme", sorted(name for name in SOURCE_BY_SCHEME if SCHEMES[name].signs_body))
def test_a_tampered_webhook_gets_401_and_is_never_enqueued(
    scheme: str, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, sqs: Any
) -> None:
    source = SOURCE_BY_SCHEME[scheme]
    webhook = signed(pipeline, source)
    # Change the body after signing, keeping it valid JSON / form data.
    tampered = webhook.body.replace(b"a", b"b", 1)
    assert tampered != webhook.body

    response = http.post(webhook.url, data=tampered, headers=webhook.headers, timeout=10)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    # A good webhook sent afterwards is processed: the pollers have caught up,
    # so had the tampered one been enqueued it would have shown by now.
    barrier = signed(pipeline, source)
    assert post(http, barrier).status_code == 202
    wait_for_stage(pipeline, barrier.delivery_id, "processed")
    assert ledger.calls(webhook.delivery_id) == []
    assert queue_depth(sqs, pipeline.sources[source].queue_url) == 0


def test_a_webhook_signed_with_another_secret_gets_401(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    webhook = signed(pipeline, "t-stripe", secret="whsec_not-the-configured-secret")

    response = post(http, webhook)

    assert response.status_code == 401
    assert not any(event.delivery_id == webhook.delivery_id for event in pipeline.events)


@pytest.mark.parametrize("source", ["t-stripe", "t-github", "t-std"])
def test_a_redelivered_webhook_is_handled_once(
    source: str, pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    first = signed(pipeline, source)
    # The provider's retry: same delivery id, signed again. GitHub signs no
    # timestamp and redelivers the same bytes, so its retry is the same request.
    again = first if source == "t-github" else signed(pipeline, source, delivery_id=first.delivery_id)

    assert post(http, first).status_code == 202
    wait_for_stage(pipeline, first.delivery_id, "processed")
    assert post(http, again).status_code == 202

    wait_for_stage(pipeline, first.delivery_id, "duplicate")
    assert len(ledger.calls(first.delivery_id)) == 1


def test_a_retryable_failure_is_retried_until_it_succeeds(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    webhook = signed(pipeline, "t-slack")
    ledger.fail(webhook.delivery_id, times=1)

    assert post(http, webhook).status_code == 202

    [retried] = wait_for_stage(pipeline, webhook.delivery_id, "retried")
    assert retried.attempt == 1
    [processed] = wait_for_stage(pipeline, webhook.delivery_id, "processed")
    assert processed.attempt == 2
    assert [result for _event, result in ledger.calls(webhook.delivery_id)] == ["failed", "ok"]


def _dead_letters(sqs: Any, dlq_url: str, delivery_id: str) -> list[dict[str, Any]]:
    """The DLQ's messages of ``delivery_id``, made visible again at once for whoever looks next."""
    messages = sqs.receive_message(
        QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=5
    ).get("Messages", [])
    for message in messages:
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return [
        message for message in messages if message["MessageAttributes"]["delivery_id"]["StringValue"] == delivery_id
    ]


def test_a_failing_webhook_is_dead_lettered_after_max_receives_and_a_redrive_processes_it_once(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, sqs: Any
) -> None:
    source = pipeline.sources["t-pad"]
    webhook = signed(pipeline, "t-pad")
    ledger.fail(webhook.delivery_id, times=None)

    assert post(http, webhook).status_code == 202

    eventually(
        lambda: _dead_letters(sqs, source.dead_letter_queue_url, webhook.delivery_id),
        message="the failing webhook reaches the DLQ",
    )
    assert len(ledger.calls(webhook.delivery_id)) == source.max_receive_count
    assert ledger.successes(webhook.delivery_id) == []

    # The cause is fixed; the operator redrives just this delivery.
    ledger.heal(webhook.delivery_id)
    result = CliRunner().invoke(
        app,
        [
            "redrive",
            "t-pad",
            "--delivery-id",
            webhook.delivery_id,
            "--endpoint-url",
            pipeline.aws_endpoint,
            "--config",
            CONFIG,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "moved" in result.output

    wait_for_stage(pipeline, webhook.delivery_id, "processed")
    assert len(ledger.successes(webhook.delivery_id)) == 1
    assert len(ledger.calls(webhook.delivery_id)) == source.max_receive_count + 1
    assert _dead_letters(sqs, source.dead_letter_queue_url, webhook.delivery_id) == []


def test_a_permanent_failure_goes_to_the_dlq_at_once_with_its_reason(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, sqs: Any
) -> None:
    webhook = signed(pipeline, "t-square")
    ledger.fail(webhook.delivery_id, permanent=True)

    assert post(http, webhook).status_code == 202

    [dead] = eventually(
        lambda: _dead_letters(sqs, pipeline.sources["t-square"].dead_letter_queue_url, webhook.delivery_id),
        message="the permanent failure reaches the DLQ",
    )
    assert dead["MessageAttributes"]["failure_type"]["StringValue"] == "PermanentError"
    assert webhook.delivery_id in dead["MessageAttributes"]["failure_reason"]["StringValue"]
    assert len(ledger.calls(webhook.delivery_id)) == 1


def test_redrive_of_an_empty_dlq_says_so(pipeline: LocalPipeline) -> None:
    result = CliRunner().invoke(app, ["redrive", "t-svix", "--endpoint-url", pipeline.aws_endpoint, "--config", CONFIG])

    assert result.exit_code == 1
    assert "empty" in result.output


def test_redrive_of_an_unknown_source_names_the_known_ones(pipeline: LocalPipeline) -> None:
    result = CliRunner().invoke(app, ["redrive", "nope", "--endpoint-url", pipeline.aws_endpoint, "--config", CONFIG])

    assert result.exit_code == 1
    assert "unknown source 'nope'" in result.output
    assert "t-stripe" in result.output


class _FromAddress(requests.adapters.HTTPAdapter):
    """Connect from a chosen local address (Linux routes all of 127.0.0.0/8 to loopback)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def test_the_ip_allow_list_refuses_other_addresses_and_admits_listed_ones(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    # t-shop allows 127.0.0.1/32 only.
    elsewhere = requests.Session()
    elsewhere.trust_env = False
    elsewhere.mount("http://", _FromAddress("127.0.0.2"))
    refused = signed(pipeline, "t-shop")
    try:
        response = post(elsewhere, refused)
    except requests.ConnectionError as error:
        pytest.skip(f"cannot send from 127.0.0.2 on this system: {error}")
    finally:
        elsewhere.close()
    admitted = signed(pipeline, "t-shop")

    assert response.status_code == 403
    assert post(http, admitted).status_code == 202
    wait_for_stage(pipeline, admitted.delivery_id, "processed")
    assert ledger.calls(refused.delivery_id) == []


def test_a_body_over_the_cap_gets_413_before_the_verifier(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"padding": "x" * pipeline.config.max_body_bytes}))
    webhook = signed(pipeline, "t-github", body_file=big)

    response = post(http, webhook)

    assert response.status_code == 413
    assert not [event for event in pipeline.events if event.delivery_id == webhook.delivery_id]


def test_a_body_above_the_claim_check_threshold_arrives_byte_exact(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session, tmp_path: Path
) -> None:
    size = (pipeline.config.claim_check_threshold_bytes + pipeline.config.max_body_bytes) // 2
    body = tmp_path / "large.json"
    # Non-ASCII on purpose: the body must survive base64, S3 and back unchanged.
    body.write_text(json.dumps({"note": "claim check", "padding": "é" * (size // 2)}, ensure_ascii=False), "utf-8")
    webhook = signed(pipeline, "t-github", body_file=body)
    assert pipeline.config.claim_check_threshold_bytes < len(webhook.body) <= pipeline.config.max_body_bytes

    assert post(http, webhook).status_code == 202

    wait_for_stage(pipeline, webhook.delivery_id, "processed")
    [(event, _result)] = ledger.calls(webhook.delivery_id)
    assert event.body == webhook.body


def test_an_unknown_source_gets_404(pipeline: LocalPipeline, http: requests.Session) -> None:
    response = http.post(pipeline.url + "/webhooks/no-such-source", data=b"{}", timeout=10)

    assert response.status_code == 404


@pytest.mark.parametrize(
    "path", ["/elsewhere", "/webhooks/t-github/extra", "/webhooks/t-%67ithub", "/webhooks/T-GITHUB"]
)
def test_paths_not_in_canonical_form_get_403_as_from_the_web_acl(path: str, pipeline: LocalPipeline) -> None:
    # http.client sends the path as written (requests would decode %67 to "g" first). A leading
    # "//" cannot be tried here: Python's http.server folds it to "/" before the front sees it.
    parts = urlsplit(pipeline.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request("POST", path, body=b"{}")
        status = connection.getresponse().status
    finally:
        connection.close()

    assert status == 403


def test_slack_url_verification_is_answered_after_the_signature_check(
    pipeline: LocalPipeline, http: requests.Session, tmp_path: Path
) -> None:
    handshake = tmp_path / "handshake.json"
    handshake.write_text(json.dumps({"type": "url_verification", "challenge": "c-41xq", "token": "unused"}))
    webhook = signed(pipeline, "t-slack", body_file=handshake)

    response = post(http, webhook)

    assert response.status_code == 200
    assert response.json() == {"challenge": "c-41xq"}


def test_a_source_with_enforcement_off_accepts_a_wrongly_signed_webhook_and_the_handler_sees_it_unverified(
    pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    forged = signed(pipeline, "t-onboard", secret="not-the-secret")
    genuine = signed(pipeline, "t-onboard")

    forged_answer, genuine_answer = post(http, forged), post(http, genuine)

    assert (forged_answer.status_code, genuine_answer.status_code) == (202, 202)
    # A forged request's id is not trusted: it is keyed on its body's digest.
    forged_id = forged_answer.json()["id"]
    assert forged_id != forged.delivery_id
    assert genuine_answer.json() == {"id": genuine.delivery_id}
    wait_for_stage(pipeline, forged_id, "processed")
    wait_for_stage(pipeline, genuine.delivery_id, "processed")
    [(unverified, _)] = ledger.calls(forged_id)
    [(verified, _)] = ledger.calls(genuine.delivery_id)
    assert (unverified.verified, verified.verified) == (False, True)
    assert unverified.body == forged.body


def test_the_send_command_signs_with_the_dev_secret_the_pipeline_stored(
    pipeline: LocalPipeline, ledger: Ledger
) -> None:
    result = CliRunner().invoke(
        app, ["send", "t-stripe", "--url", pipeline.webhook_url("t-stripe"), "--config", CONFIG]
    )

    assert result.exit_code == 0, result.output
    assert "202" in result.output
    delivery_id = result.output.rsplit("delivery id:", 1)[1].strip()
    wait_for_stage(pipeline, delivery_id, "processed")
    assert len(ledger.calls(delivery_id)) == 1
