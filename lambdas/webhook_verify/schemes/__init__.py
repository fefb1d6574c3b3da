"""Webhook signature schemes: pure functions, no AWS, no I/O.

Each scheme in ``SCHEMES`` checks one provider's signature over the exact bytes
received, derives the provider's delivery id (the idempotency key) and event
type, and can sign a body the same way (tests, ``webhook-kit send``). The rules
they all follow, and the one verify loop, are in ``base``; the timestamp policy
is in ``helpers``; each provider family has a module of its own. Adding a
provider: docs/signatures.md, "Adding a provider".
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from webhook_verify.registry import Entry, LazyRegistry

from .base import Fetcher, KeyUnavailable, Scheme, SchemeConfigError, SigningInput
from .helpers import MAX_ID_LENGTH, body_sha256, clean_id, parse_timestamp, signed_url, signed_urls
from .request import MAX_HEADER_COMBINATIONS, Headers, Request

if TYPE_CHECKING:
    from .certificates import CertificateScheme, key_host_patterns
    from .generic_hmac import GenericHmac
    from .standard_webhooks import StandardWebhooks
    from .twilio import MAX_TWILIO_FORM_FIELDS, twilio_json_query


def _scheme(module: str, attribute: str, **arguments: Any) -> Entry:
    """A scheme class of ``module`` and its arguments (none for most)."""
    return (f"{__name__}.{module}", attribute, arguments)


def _instance(module: str, attribute: str) -> Entry:
    """A scheme ``module`` builds itself (its options are fixed there)."""
    return (f"{__name__}.{module}", attribute, None)


# Each module is imported when its scheme is first asked for (webhook_verify.registry): a
# verifier imports the schemes its sources use, never the rest.
SCHEMES: LazyRegistry[Scheme] = LazyRegistry(
    {
        "standard-webhooks": _scheme("standard_webhooks", "StandardWebhooks"),
        "svix": _scheme("standard_webhooks", "StandardWebhooks", name="svix", prefix="svix", fallback_prefix="webhook"),
        "stripe": _instance("timestamp_hex", "STRIPE"),
        "github": _scheme("github", "GitHub"),
        "shopify": _scheme("shopify", "Shopify"),
        "slack": _scheme("slack", "Slack"),
        "twilio": _scheme("twilio", "Twilio"),
        "square": _scheme("square", "Square"),
        "paddle": _instance("timestamp_hex", "PADDLE"),
        "generic-hmac": _scheme("generic_hmac", "GenericHmac"),
        "shared-token": _scheme("shared_token", "SharedToken"),
        "adyen": _scheme("adyen", "Adyen"),
        "mailgun": _scheme("mailgun", "Mailgun"),
        "discord": _instance("ed25519", "DISCORD"),
        "telnyx": _instance("ed25519", "TELNYX"),
        "sendgrid": _scheme("ecdsa", "SendGrid"),
        "aws-sns": _scheme("aws_sns", "AwsSns"),
        "paypal": _scheme("paypal", "PayPal"),
        "hubspot": _scheme("hubspot", "HubSpot"),
        "box": _scheme("box", "Box"),
        "workos": _scheme("workos", "WorkOS"),
        "twitch": _scheme("twitch", "Twitch"),
        "easypost": _scheme("easypost", "EasyPost"),
        "cloudinary": _scheme("cloudinary", "Cloudinary"),
        "mux": _instance("mux", "MUX"),
        "buildkite": _instance("buildkite", "BUILDKITE"),
    }
)

# What the package exports from its scheme modules, imported when first used.
_EXPORTED_FROM = {
    "CertificateScheme": "certificates",
    "key_host_patterns": "certificates",
    "GenericHmac": "generic_hmac",
    "StandardWebhooks": "standard_webhooks",
    "MAX_TWILIO_FORM_FIELDS": "twilio",
    "twilio_json_query": "twilio",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTED_FROM:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTED_FROM[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
