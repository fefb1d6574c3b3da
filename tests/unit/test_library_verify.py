"""webhook_verify.verify, the library's entry point: the same decisions as the Lambda verifier for every
provider of the catalogue, handshakes answered from request parts alone, and clear errors for arguments
that cannot work. (The installed package, its examples and its imports: tests/library/.)"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from shared.message import from_sqs_record
from stacks.config import parse_config
from tests.support.verifier import FakeAws, api_event, verifier_config_as_deployed
from verifier.core import process
from webhook_kit.devsecrets import dev_secret
from webhook_kit.local.certificates import LocalWeb
from webhook_kit.send import build
from webhook_verify import KeyFetcher, Verification, verify
from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import SCHEMES, get_scheme

NOW = 1_700_000_000
URL = "https://hooks.example.com/webhooks/p"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-p"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/p"


def _options(name: str) -> dict[str, str] | None:
    return {"public_url": URL} if SCHEMES[PROVIDERS[name].scheme].needs_public_url else None


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_the_library_and_the_lambda_verifier_decide_every_provider_alike(name: str) -> None:
    spec: dict[str, object] = {"name": "p", "provider": name, **(_options(name) or {})}
    source = parse_config({"stack_name": "Lib", "sources": [spec]}).sources[0]
    secret = dev_secret("p", source.scheme)
    webhook = build(source, secret=secret, url=URL, now=NOW)

    def library(secrets: str) -> Verification:
        return verify(
            provider=name,
            url=URL,
            headers=dict(webhook.headers),
            body=webhook.body,
            secrets=secrets,
            now=NOW,
            options=_options(name),
            fetch=LocalWeb().fetch_key,
        )

    aws = FakeAws()
    aws.set_secrets(ARN, secret)
    config = verifier_config_as_deployed(source, queue_url=QUEUE, secret_arn=ARN)
    outcome = process(
        api_event("p", webhook.body, dict(webhook.headers)), config=config, adapters=aws, now=float(NOW), web=LocalWeb()
    )

    result = library(secret)
    assert result.accepted and outcome.result == "accepted"
    assert result.delivery_id == outcome.delivery_id
    assert (result.event_type or "") == outcome.event_type
    assert result.response()[0] == outcome.response()["statusCode"]
    # And the processor deduplicates what the verifier queued on the keys the library gives a fork.
    sent = aws.sent[0][1]
    queued = from_sqs_record({"Body": sent["MessageBody"], "MessageAttributes": sent["MessageAttributes"]})
    assert result.idempotency_keys == queued.provenance.keys_for(queued.delivery_id)
    # Not every provider signs the body's bytes (a token, SNS's fields, Mailgun's token): another
    # source's secret is what every scheme must refuse.
    forged = library(dev_secret("another-source", source.scheme))
    assert (forged.result, forged.reason, forged.response()[0]) == ("rejected", "unauthorized", 401)


GITHUB_SECRET = "s3cret"


def _github(body: bytes, secret: str = GITHUB_SECRET) -> dict[str, str]:
    return {
        **get_scheme("github").sign(body, secret, timestamp=NOW, options={}),
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "push",
    }


def test_an_accepted_delivery_says_which_of_its_values_the_signature_covers() -> None:
    body = b'{"ref":"refs/heads/main"}'
    result = verify(provider="github", url=URL, headers=_github(body), body=body, secrets="s3cret", now=NOW)
    assert isinstance(result, Verification)
    assert (result.delivery_id, result.delivery_id_signed) == ("72d3162e-cc78-11e3-81ab-4c9367dc0958", False)
    assert (result.event_type, result.event_type_signed) == ("push", False)
    # GitHub signs neither the id nor a timestamp: a replay is recognised by its body alone.
    assert result.idempotency_keys == ("sha256:" + hashlib.sha256(body).hexdigest(),)
    assert result.body == body
    assert result.response() == (
        202,
        {"Content-Type": "application/json"},
        b'{"id":"72d3162e-cc78-11e3-81ab-4c9367dc0958"}',
    )


def test_headers_may_be_pairs_and_a_rotated_secret_still_verifies() -> None:
    body = b'{"ref":"refs/heads/main"}'
    pairs = list(_github(body, secret="old").items())
    result = verify(provider="github", url=URL, headers=pairs, body=body, secrets=["new", "old"], now=NOW)
    assert result.accepted


def test_a_get_that_is_not_the_providers_handshake_is_not_allowed() -> None:
    result = verify(provider="stripe", url=URL, headers={}, body=b"", secrets="whsec_x", method="get", now=NOW)
    assert (result.result, result.status, result.reason) == ("rejected", 405, "method_not_allowed")


def test_metas_get_challenge_is_answered_from_the_url_and_the_verify_token() -> None:
    url = f"{URL}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"
    answered = verify(
        provider="meta",
        url=url,
        headers={},
        body=b"",
        secrets="app",
        method="GET",
        tokens={"verify_token": "meatyhamhock"},
    )
    assert answered.result == "handshake"
    assert answered.response()[0] == 200 and answered.response()[2] == b"1158201444"
    wrong = verify(
        provider="meta", url=url, headers={}, body=b"", secrets="app", method="GET", tokens={"verify_token": "x"}
    )
    assert (wrong.result, wrong.reason, wrong.status) == ("rejected", "handshake_unauthorized", 401)


def test_slacks_url_verification_is_answered_only_once_its_signature_verifies() -> None:
    body = json.dumps(
        {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    ).encode()
    headers = get_scheme("slack").sign(body, "8f742231b10e8888abcd99yyyzzz85a5", timestamp=NOW, options={})
    answered = verify(
        provider="slack", url=URL, headers=headers, body=body, secrets="8f742231b10e8888abcd99yyyzzz85a5", now=NOW
    )
    assert (
        answered.result == "handshake"
        and b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in answered.response()[2]
    )
    forged = verify(provider="slack", url=URL, headers=headers, body=body, secrets="another-secret", now=NOW)
    assert (forged.result, forged.reason) == ("rejected", "unauthorized")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "give provider"),
        ({"provider": "github", "scheme": "github"}, "not both"),
        ({"provider": "githubb"}, "provider: "),
        ({"scheme": "hmac"}, "scheme: "),
        ({"scheme": "generic-hmac", "options": {}}, "signature_header"),
        ({"provider": "github", "body": "text"}, "raw bytes"),
    ],
)
def test_arguments_that_cannot_work_raise_value_error_naming_them(arguments: dict[str, object], message: str) -> None:
    call: dict[str, object] = {"url": URL, "headers": {}, "body": b"{}", "secrets": "s", **arguments}
    with pytest.raises(ValueError, match=message):
        verify(**call)  # type: ignore[arg-type]


def test_a_certificate_the_key_fetcher_cannot_get_makes_the_delivery_unavailable_not_rejected() -> None:
    """PayPal names its certificate by URL; a fetcher that may not reach it (here: no allowed host, so no
    network either) leaves the delivery undecided: 503, so PayPal retries, rather than a 401 it would not."""
    spec = {"name": "p", "provider": "paypal"}
    source = parse_config({"stack_name": "Lib", "sources": [spec]}).sources[0]
    secret = dev_secret("p", source.scheme)
    webhook = build(source, secret=secret, url=URL, now=NOW)
    fetch = KeyFetcher(allowed_hosts=[re.compile(r"nowhere\.invalid")])
    result = verify(
        provider="paypal",
        url=URL,
        headers=dict(webhook.headers),
        body=webhook.body,
        secrets=secret,
        now=NOW,
        fetch=fetch,
    )
    assert (result.result, result.reason) == ("unavailable", "key_unavailable")
    assert result.response()[0] == 503 and result.response()[1]["Retry-After"]
