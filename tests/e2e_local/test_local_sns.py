"""Over HTTP through the local pipeline: AWS SNS and PayPal, signed with the kit's test key whose
certificates the local verifier serves (webhook_kit.local.certificates).

An SNS SubscriptionConfirmation is confirmed by a GET of its SubscribeURL, which the local
seam sends to a stand-in for the SNS host (an HTTP server of this test): the verifier answers
200 once the stand-in has answered, 503 when it fails (SNS then sends the confirmation
again), and never queues the confirmation. A notification and a PayPal delivery are queued.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import requests
from e2e_support import post, signed

from stacks.config import parse_config
from tests.support.local_pipeline import running_pipeline
from webhook_kit.local import LocalPipeline
from webhook_kit.local.certificates import SIGNING_KEY, SNS_CERTIFICATE_NAME, install_local_web
from webhook_verify.schemes import get_scheme
from webhook_verify.schemes.aws_sns import signed_message, sns_host

PROCESSOR_STAGES = {"processed", "duplicate", "unhandled", "retried", "dead-lettered", "error"}
TIMEOUT = 20.0


class StandIn(BaseHTTPRequestHandler):
    """Plays the SNS host's ConfirmSubscription action; records each call."""

    calls: ClassVar[list[str]] = []
    status: ClassVar[int] = 200

    def do_GET(self) -> None:
        StandIn.calls.append(self.path)
        body = b"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult/></ConfirmSubscriptionResponse>"
        self.send_response(StandIn.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def stand_in() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def sns_pipeline(stand_in: str) -> Iterator[LocalPipeline]:
    config = parse_config(
        {
            "stack_name": "WebhookKitSns",
            "sources": [
                {"name": "c-sns", "provider": "aws-sns", "timeout_seconds": 3, "max_receive_count": 2},
                {"name": "c-paypal", "provider": "paypal", "timeout_seconds": 3, "max_receive_count": 2},
            ],
        }
    )
    setup = [functools.partial(install_local_web, stand_in)]
    with running_pipeline(config, names="sns", verifier_setup=setup, verifier_workers=1) as local:
        yield local


def _confirmation(pipeline: LocalPipeline, token: str, **changes: str) -> tuple[bytes, dict[str, str]]:
    topic = pipeline.sources["c-sns"].secret
    host = sns_host(topic)
    fields = {
        "Type": "SubscriptionConfirmation",
        "MessageId": f"confirm-{token}",
        "Token": token,
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.",
        "SubscribeURL": f"https://{host}/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
        "Timestamp": "2026-01-01T00:00:00.000Z",
    }
    document: dict[str, Any] = signed_message(
        fields, private_key=SIGNING_KEY, certificate_url=f"https://{host}/{SNS_CERTIFICATE_NAME}"
    )
    document.update(changes)
    body = json.dumps(document, indent=2).encode()
    headers = get_scheme("aws-sns").sign(body, topic, timestamp=0, options={})
    return body, {**headers, "Content-Type": "text/plain; charset=UTF-8"}


def _reached_a_processor(pipeline: LocalPipeline, delivery_id: str) -> bool:
    return pipeline.wait_for(
        lambda events: any(e.delivery_id == delivery_id and e.stage in PROCESSOR_STAGES for e in events), TIMEOUT
    )


def test_a_subscription_confirmation_is_confirmed_on_the_stand_in_and_answered_200(
    sns_pipeline: LocalPipeline, stand_in: str, http: requests.Session
) -> None:
    StandIn.calls.clear()
    body, headers = _confirmation(sns_pipeline, "token-ok")

    response = http.post(sns_pipeline.webhook_url("c-sns"), data=body, headers=headers, timeout=10)

    assert response.status_code == 200, response.text
    topic = sns_pipeline.sources["c-sns"].secret
    assert StandIn.calls == [f"/?Action=ConfirmSubscription&TopicArn={topic}&Token=token-ok"]
    # A notification as a barrier: once it reached a processor, a queued confirmation would have too.
    notification = signed(sns_pipeline, "c-sns")
    assert post(http, notification).status_code == 202
    assert _reached_a_processor(sns_pipeline, notification.delivery_id)
    assert not any(
        event.delivery_id == "confirm-token-ok" for event in sns_pipeline.events if event.stage in PROCESSOR_STAGES
    )


def test_a_confirmation_the_stand_in_refuses_is_a_503_so_sns_retries(
    sns_pipeline: LocalPipeline, http: requests.Session
) -> None:
    StandIn.calls.clear()
    StandIn.status = 500
    try:
        body, headers = _confirmation(sns_pipeline, "token-down")
        response = http.post(sns_pipeline.webhook_url("c-sns"), data=body, headers=headers, timeout=10)
    finally:
        StandIn.status = 200
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert len(StandIn.calls) == 1


def test_a_confirmation_whose_signature_does_not_verify_is_401_and_never_confirmed(
    sns_pipeline: LocalPipeline, http: requests.Session
) -> None:
    StandIn.calls.clear()
    body, headers = _confirmation(sns_pipeline, "token-forged", Token="token-other")
    response = http.post(sns_pipeline.webhook_url("c-sns"), data=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert StandIn.calls == []


@pytest.mark.parametrize("source", ["c-sns", "c-paypal"])
def test_send_signs_a_delivery_the_local_verifier_accepts_with_the_test_certificate(
    sns_pipeline: LocalPipeline, http: requests.Session, source: str
) -> None:
    webhook = signed(sns_pipeline, source)
    response = post(http, webhook)
    assert response.status_code == 202, response.text
    assert _reached_a_processor(sns_pipeline, response.json()["id"])
