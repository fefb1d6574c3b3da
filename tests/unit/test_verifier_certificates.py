"""Certificate schemes through verifier.core.process: a certificate that cannot be fetched is a
503 with Retry-After (never a 2xx, never a 401), an SNS SubscriptionConfirmation is confirmed
through the Web seam and answered without queueing, a failed confirmation is a 503, and an
UnsubscribeConfirmation is acknowledged without queueing."""

from __future__ import annotations

import json

import pytest

from tests.support.verifier import FakeAws, api_event
from verifier.adapters import DependencyError
from verifier.config import SourceConfig, VerifierConfig
from verifier.core import Outcome, process
from webhook_kit.local.certificates import (
    PAYPAL_CERTIFICATE_URL,
    SIGNING_KEY,
    SNS_CERTIFICATE_NAME,
    serve_test_certificates,
    signing_options,
)
from webhook_verify.schemes import KeyUnavailable, get_scheme
from webhook_verify.schemes.aws_sns import signed_message

NOW = 1_700_000_000
TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders"
HOST = "sns.eu-west-1.amazonaws.com"
SUBSCRIBE_URL = f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425"
WEBHOOK_ID = "4JH86294D6297924G"
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhooks/{}"


class FakeWeb:
    """``verifier.core.Web`` in memory: serves the test certificates, records confirmations."""

    def __init__(self, *, fetch_fails: bool = False, confirm_fails: bool = False) -> None:
        self.fetch_fails = fetch_fails
        self.confirm_fails = confirm_fails
        self.fetched: list[str] = []
        self.confirmed: list[str] = []

    def fetch_key(self, url: str) -> bytes:
        self.fetched.append(url)
        if self.fetch_fails:
            raise KeyUnavailable("down")
        return serve_test_certificates(url)

    def confirm(self, url: str) -> None:
        self.confirmed.append(url)
        if self.confirm_fails:
            raise DependencyError("down")


def _run(
    scheme: str, secret: str, body: bytes, headers: dict[str, str], web: FakeWeb | None
) -> tuple[Outcome, FakeAws]:
    source = SourceConfig(
        name=scheme,
        scheme=scheme,
        queue_url=f"https://sqs.eu-west-1.amazonaws.com/123456789012/{scheme}",
        secret_arn=ARN.format(scheme),
        handshake=get_scheme(scheme).default_handshake,
    )
    aws = FakeAws()
    aws.set_secrets(ARN.format(scheme), secret)
    config = VerifierConfig(sources={scheme: source}, max_body_bytes=256 * 1024)
    return process(api_event(scheme, body, headers), config=config, adapters=aws, now=float(NOW), web=web), aws


def _sns(kind: str = "Notification", **extra: str) -> tuple[bytes, dict[str, str]]:
    fields = {
        "Type": kind,
        "MessageId": "9a4b8c1e-0d3f-4e7a-b2c1-7f6e5d4c3b2a",
        "TopicArn": TOPIC,
        "Message": "hello",
        "Timestamp": "2023-11-14T22:13:20.000Z",
        **extra,
    }
    if kind != "Notification":
        fields.setdefault("SubscribeURL", SUBSCRIBE_URL)
        fields.setdefault("Token", "2336412f37fb687f5d51e6e2425")
    document = signed_message(fields, private_key=SIGNING_KEY, certificate_url=f"https://{HOST}/{SNS_CERTIFICATE_NAME}")
    body = json.dumps(document).encode()
    return body, get_scheme("aws-sns").sign(body, TOPIC, timestamp=NOW, options={})


def _paypal() -> tuple[bytes, dict[str, str]]:
    body = b'{"id":"WH-7","event_type":"PAYMENT.CAPTURE.COMPLETED"}'
    return body, get_scheme("paypal").sign(body, WEBHOOK_ID, timestamp=NOW, options=signing_options("paypal"))


@pytest.mark.parametrize("scheme", ["aws-sns", "paypal"])
def test_a_certificate_that_cannot_be_fetched_is_a_503_with_retry_after(scheme: str) -> None:
    body, headers = _sns() if scheme == "aws-sns" else _paypal()
    secret = TOPIC if scheme == "aws-sns" else WEBHOOK_ID
    outcome, aws = _run(scheme, secret, body, headers, FakeWeb(fetch_fails=True))
    assert (outcome.status, outcome.reason, aws.sent) == (503, "key_unavailable", [])
    assert outcome.response()["headers"]["Retry-After"]


@pytest.mark.parametrize("scheme", ["aws-sns", "paypal"])
def test_a_verified_delivery_is_queued_with_the_providers_id(scheme: str) -> None:
    body, headers = _sns() if scheme == "aws-sns" else _paypal()
    secret = TOPIC if scheme == "aws-sns" else WEBHOOK_ID
    web = FakeWeb()
    outcome, aws = _run(scheme, secret, body, headers, web)
    assert (outcome.status, len(aws.sent)) == (202, 1)
    expected = "9a4b8c1e-0d3f-4e7a-b2c1-7f6e5d4c3b2a" if scheme == "aws-sns" else "WH-7"
    assert outcome.delivery_id == expected
    assert web.confirmed == []


@pytest.mark.parametrize("scheme", ["aws-sns", "paypal"])
def test_without_an_http_client_nothing_verifies(scheme: str) -> None:
    body, headers = _sns() if scheme == "aws-sns" else _paypal()
    outcome, aws = _run(scheme, TOPIC if scheme == "aws-sns" else WEBHOOK_ID, body, headers, None)
    assert (outcome.status, aws.sent) == (401, [])


def test_a_subscription_confirmation_is_confirmed_and_answered_200_without_queueing() -> None:
    web = FakeWeb()
    outcome, aws = _run("aws-sns", TOPIC, *_sns("SubscriptionConfirmation"), web)
    assert (outcome.status, outcome.result, aws.sent) == (200, "handshake", [])
    assert web.confirmed == [SUBSCRIBE_URL]


def test_a_confirmation_that_fails_is_a_503_so_sns_sends_it_again() -> None:
    web = FakeWeb(confirm_fails=True)
    outcome, aws = _run("aws-sns", TOPIC, *_sns("SubscriptionConfirmation"), web)
    assert (outcome.status, outcome.reason, aws.sent) == (503, "confirm_failed", [])


def test_an_unsubscribe_confirmation_is_acknowledged_not_confirmed_not_queued() -> None:
    web = FakeWeb()
    outcome, aws = _run("aws-sns", TOPIC, *_sns("UnsubscribeConfirmation"), web)
    assert (outcome.status, aws.sent, web.confirmed) == (200, [], [])


@pytest.mark.parametrize(
    "url",
    [
        f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t",
        f"https://{HOST}.evil.example/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t",
        "https://evil.example/",
    ],
)
def test_a_signed_confirmation_whose_link_leaves_the_topics_host_is_refused_and_not_called(url: str) -> None:
    web = FakeWeb()
    outcome, aws = _run("aws-sns", TOPIC, *_sns("SubscriptionConfirmation", SubscribeURL=url), web)
    assert (outcome.status, aws.sent, web.confirmed) == (400, [], [])


def test_a_confirmation_from_a_topic_the_source_does_not_accept_is_401_and_not_called() -> None:
    web = FakeWeb()
    outcome, _aws = _run("aws-sns", "arn:aws:sns:eu-west-1:123456789012:other", *_sns("SubscriptionConfirmation"), web)
    assert (outcome.status, web.confirmed, web.fetched) == (401, [], [])


def test_an_unsigned_confirmation_is_never_confirmed() -> None:
    body, headers = _sns("SubscriptionConfirmation")
    document = json.loads(body) | {"Signature": "AAAA"}
    web = FakeWeb()
    outcome, _aws = _run("aws-sns", TOPIC, json.dumps(document).encode(), headers, web)
    assert (outcome.status, web.confirmed) == (401, [])


def test_the_paypal_certificate_url_is_the_one_fetched() -> None:
    web = FakeWeb()
    _run("paypal", WEBHOOK_ID, *_paypal(), web)
    assert web.fetched == [PAYPAL_CERTIFICATE_URL]
