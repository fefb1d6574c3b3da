"""``send`` signs for every provider of the catalogue, and the verifier accepts what it signs.

This is what `make local` users rely on to try a provider: the source is built
from ``provider = "<name>"`` alone (plus the public URL where the provider signs
it), the secret is the local pipeline's development secret, and the request goes
through ``verifier.core.process`` with the route the stack would write.
"""

from __future__ import annotations

import pytest

from stacks.config import parse_config
from tests.support.verifier import FakeAws, api_event, verifier_config_as_deployed
from verifier.core import process
from webhook_kit.devsecrets import dev_secret
from webhook_kit.local.certificates import LocalWeb
from webhook_kit.send import build
from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import SCHEMES

NOW = 1_700_000_000
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-p"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/p"
PUBLIC_URL = "https://hooks.example.com/webhooks/p"


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_send_signs_a_delivery_of_every_provider_that_the_verifier_accepts(name: str) -> None:
    spec: dict[str, object] = {"name": "p", "provider": name}
    if SCHEMES[PROVIDERS[name].scheme].needs_public_url:
        spec["public_url"] = PUBLIC_URL
    source = parse_config({"stack_name": "Send", "sources": [spec]}).sources[0]
    secret = dev_secret("p", source.scheme)
    webhook = build(source, secret=secret, url=PUBLIC_URL, now=NOW)

    config = verifier_config_as_deployed(source, queue_url=QUEUE, secret_arn=ARN)
    aws = FakeAws()
    aws.set_secrets(ARN, secret)
    event = api_event("p", webhook.body, dict(webhook.headers))
    # The local pipeline's HTTP client: it serves the test certificates send signs with (AWS SNS, PayPal).
    outcome = process(event, config=config, adapters=aws, now=float(NOW), web=LocalWeb())

    assert outcome.result == "accepted", outcome
    assert len(aws.sent) == 1
    expected = PROVIDERS[name].answer
    assert outcome.response()["statusCode"] == (expected.get("status", 200) if expected else 202)
