"""Webhook signature schemes: pure functions, no AWS, no I/O.

Each scheme in ``SCHEMES`` checks one provider's signature over the exact bytes
received, derives the provider's delivery id (the idempotency key) and event
type, and can sign a body the same way (tests, ``webhook-kit send``). The rules
they all follow, and the one verify loop, are in ``base``; the timestamp policy
is in ``helpers``; each provider family has a module of its own. Adding a
provider: docs/signatures.md, "Adding a provider".
"""

from __future__ import annotations

from .adyen import Adyen
from .aws_sns import AwsSns
from .base import Fetcher, KeyUnavailable, Scheme, SchemeConfigError, SigningInput
from .box import Box
from .buildkite import BUILDKITE
from .certificates import CertificateScheme, key_host_patterns
from .cloudinary import Cloudinary
from .easypost import EasyPost
from .ecdsa import SendGrid
from .ed25519 import DISCORD, TELNYX
from .generic_hmac import GenericHmac
from .github import GitHub
from .helpers import MAX_ID_LENGTH, body_sha256, clean_id, parse_timestamp, signed_url, signed_urls
from .hubspot import HubSpot
from .mailgun import Mailgun
from .mux import MUX
from .paypal import PayPal
from .request import MAX_HEADER_COMBINATIONS, Headers, Request
from .shared_token import SharedToken
from .shopify import Shopify
from .slack import Slack
from .square import Square
from .standard_webhooks import StandardWebhooks
from .timestamp_hex import PADDLE, STRIPE
from .twilio import MAX_TWILIO_FORM_FIELDS, Twilio, twilio_json_query
from .twitch import Twitch
from .workos import WorkOS

SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (
        StandardWebhooks(),
        StandardWebhooks(name="svix", prefix="svix", fallback_prefix="webhook"),
        STRIPE,
        GitHub(),
        Shopify(),
        Slack(),
        Twilio(),
        Square(),
        PADDLE,
        GenericHmac(),
        SharedToken(),
        HubSpot(),
        Box(),
        WorkOS(),
        Adyen(),
        Mailgun(),
        Twitch(),
        DISCORD,
        TELNYX,
        SendGrid(),
        AwsSns(),
        PayPal(),
        EasyPost(),
        Cloudinary(),
        MUX,
        BUILDKITE,
    )
}


def get_scheme(name: str) -> Scheme:
    """The scheme registered under ``name``; KeyError names the known ones."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise KeyError(f"unknown signature scheme {name!r}; known: {', '.join(sorted(SCHEMES))}") from None


__all__ = [
    "MAX_HEADER_COMBINATIONS",
    "MAX_ID_LENGTH",
    "MAX_TWILIO_FORM_FIELDS",
    "SCHEMES",
    "CertificateScheme",
    "Fetcher",
    "GenericHmac",
    "Headers",
    "KeyUnavailable",
    "Request",
    "Scheme",
    "SchemeConfigError",
    "SigningInput",
    "StandardWebhooks",
    "body_sha256",
    "clean_id",
    "get_scheme",
    "key_host_patterns",
    "parse_timestamp",
    "signed_url",
    "signed_urls",
    "timestamp_in_window",
    "twilio_json_query",
]
