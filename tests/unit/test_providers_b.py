"""Catalogue entries checked against their providers' own Python libraries, used as independent oracles.

razorpay (razorpay-python) and coinbase-commerce (coinbase-commerce-python)
publish a verifier but no public signer: what the catalogue's options make our
scheme sign must pass their check, and a changed byte must fail it. Their own
published signatures verify here through tests/unit/test_providers.py. Each
test is skipped when its library is not installed.
"""

from __future__ import annotations

import pytest

from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import Request, get_scheme

NOW = 1_700_000_000
BODIES = [
    b'{"entity":"event","event":"payment.captured","payload":{}}',
    b'{"id":1,"attempt_number":1,"event":{"id":"24934862-d980-46cb-9402-43c81b0cdba6","type":"charge:confirmed"}}',
    '{"note":"caf\u00e9 \u2713","event":{"id":"e-\u00e9","type":"charge:failed"}}\n'.encode(),
]


def _signed(provider: str, body: bytes, secret: str) -> Request:
    entry = PROVIDERS[provider]
    headers = get_scheme(entry.scheme).sign(body, secret, timestamp=NOW, options=dict(entry.options))
    return Request(headers={name.lower(): value for name, value in headers.items()}, body=body)


def _signature(provider: str, request: Request) -> str:
    header = str(PROVIDERS[provider].options["signature_header"]).lower()
    value = request.header(header)
    assert value is not None
    return value


@pytest.mark.parametrize("body", BODIES)
def test_razorpay_library_accepts_what_the_catalogue_entry_signs(body: bytes) -> None:
    razorpay = pytest.importorskip("razorpay")
    from razorpay.errors import SignatureVerificationError

    secret = "whsec-razorpay-oracle"
    request = _signed("razorpay", body, secret)
    utility = razorpay.Utility()
    assert utility.verify_webhook_signature(body.decode(), _signature("razorpay", request), secret)
    with pytest.raises(SignatureVerificationError):
        utility.verify_webhook_signature(body.decode() + " ", _signature("razorpay", request), secret)


@pytest.mark.parametrize("body", BODIES)
def test_coinbase_commerce_library_accepts_what_the_catalogue_entry_signs(body: bytes) -> None:
    pytest.importorskip("coinbase_commerce")
    from coinbase_commerce.error import SignatureVerificationError
    from coinbase_commerce.webhook import WebhookSignature

    secret = "30291a20-0bd1-4267-9b0f-e6e7b123c0bf"
    signature = _signature("coinbase", _signed("coinbase", body, secret))
    assert WebhookSignature.verify_sig_header(body.decode(), signature, secret)
    with pytest.raises(SignatureVerificationError):
        WebhookSignature.verify_sig_header(body.decode() + " ", signature, secret)


def test_coinbase_commerce_library_reads_the_same_event_id_and_type_as_the_catalogue_entry() -> None:
    pytest.importorskip("coinbase_commerce")
    from coinbase_commerce.webhook import Webhook

    body, secret = BODIES[1], "30291a20-0bd1-4267-9b0f-e6e7b123c0bf"
    request = _signed("coinbase", body, secret)
    event = Webhook.construct_event(body.decode(), _signature("coinbase", request), secret)
    scheme, options = get_scheme(PROVIDERS["coinbase"].scheme), PROVIDERS["coinbase"].options
    assert scheme.verify(request, [secret], now=NOW, tolerance_seconds=300, options=options)
    assert (scheme.delivery_id(request, options), scheme.event_type(request, options)) == (event.id, event.type)
