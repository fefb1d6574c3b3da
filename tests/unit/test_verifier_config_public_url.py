"""``options.public_url`` (Twilio, Square) is checked at cold start: the query of a signed
URL is read from each request, so a query in the configured URL would be signed twice."""

from __future__ import annotations

import json

import pytest

from verifier.config import ConfigError, load_config

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"


def _load(scheme: str, public_url: object) -> object:
    source = {"scheme": scheme, "queue_url": QUEUE, "secret_arn": ARN, "options": {"public_url": public_url}}
    return load_config({"WEBHOOK_SOURCES": json.dumps({"x": source}), "CLAIM_CHECK_BUCKET": "b"})


@pytest.mark.parametrize("scheme", ["twilio", "square"])
@pytest.mark.parametrize(
    ("public_url", "reason"),
    [
        ("https://hooks.example.com/t?account=1", "query"),
        ("https://hooks.example.com/t?", "query"),
        ("https://hooks.example.com/t#frag", "fragment"),
        ("ftp://hooks.example.com/t", "http"),
        ("hooks.example.com/t", "http"),
        ("https:///t", "host"),
        ("https://hooks.example.com:99999/t", "port"),
        (42, "string"),
    ],
)
def test_public_url_that_cannot_be_what_the_provider_signs_is_refused(
    scheme: str, public_url: object, reason: str
) -> None:
    with pytest.raises(ConfigError, match=rf"WEBHOOK_SOURCES\['x'\]\.options\.public_url .*{reason}"):
        _load(scheme, public_url)


@pytest.mark.parametrize(
    "public_url",
    ["https://hooks.example.com/t", "https://hooks.example.com:8443/prod/t", "http://127.0.0.1:3000/webhooks/t"],
)
def test_public_url_without_query_is_accepted(public_url: str) -> None:
    _load("twilio", public_url)
