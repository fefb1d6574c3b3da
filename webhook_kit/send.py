"""Sign a webhook the way a source's provider would, and post it (``python -m webhook_kit send``).

The body is a sample from ``samples/`` (per scheme) or a file of your own.
Placeholders in either are filled in before signing: ``{{delivery_id}}``,
``{{timestamp}}`` (Unix seconds), ``"{{unix_time}}"`` (with its quotes: Unix
seconds as a JSON number), ``{{iso_time}}`` and ``{{random_hex}}``.
Provider headers that carry the delivery id or event type (GitHub, Shopify,
Twilio, Standard Webhooks, Svix, a generic source's configured headers) get a
fresh id each time unless ``delivery_id`` is given. Sending the same id twice
shows the processor skipping the duplicate where the provider signs its id;
where it does not (GitHub, Shopify, Twilio), duplicates are recognised by the
signed bytes, and a re-rendered sample is a new delivery.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stacks.config import SourceConfig

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"
# Event types the headers announce, matching the bundled samples.
DEFAULT_EVENT_TYPES = {"github": "ping", "shopify": "orders/create", "generic-hmac": "shipment.delivered"}


@dataclass(frozen=True)
class SignedWebhook:
    url: str
    body: bytes
    headers: dict[str, str]
    delivery_id: str


def sample_path(scheme: str, provider: str | None = None) -> Path:
    """The sample body of ``provider`` when it has its own, else its scheme's."""
    for name in (provider, scheme):
        for suffix in (".json", ".form"):
            path = SAMPLES_DIR / f"{name}{suffix}"
            if name and path.is_file():
                return path
    raise FileNotFoundError(f"no sample payload for scheme {scheme!r} in {SAMPLES_DIR}")


def new_delivery_id(scheme: str) -> str:
    """A fresh id in the shape the scheme's provider uses."""
    from webhook_verify.schemes import get_scheme

    return get_scheme(scheme).new_delivery_id()


def render(template: bytes, *, delivery_id: str, now: int) -> bytes:
    """Fill the placeholders in ``template`` (text substitution: the result is what gets signed)."""
    values = {
        # Quotes included: the samples stay valid JSON files, and the field becomes a number.
        '"{{unix_time}}"': str(now),
        "{{delivery_id}}": delivery_id,
        "{{timestamp}}": str(now),
        "{{iso_time}}": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
        "{{random_hex}}": secrets.token_hex(16),
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder.encode(), value.encode())
    return template


def _set_field(body: bytes, path: str, value: str | int) -> bytes:
    """``body`` with the dotted JSON ``path`` set to ``value`` (generic sources name their own fields)."""
    document: Any = json.loads(body)
    target = document
    *parents, last = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    return json.dumps(document, indent=2).encode()


def build(
    source: SourceConfig,
    *,
    secret: str,
    url: str,
    body_file: Path | None = None,
    delivery_id: str | None = None,
    event_type: str | None = None,
    now: int | None = None,
) -> SignedWebhook:
    """The body and headers ``source``'s provider would send, signed with ``secret``."""
    from webhook_verify.schemes import Request, body_sha256, get_scheme

    now = int(time.time()) if now is None else now
    scheme = source.scheme
    options = source.verifier_options()
    delivery_id = delivery_id or new_delivery_id(scheme)
    template_path = body_file or sample_path(scheme, source.provider)
    body = render(template_path.read_bytes(), delivery_id=delivery_id, now=now)
    content_type = FORM_CONTENT_TYPE if template_path.suffix == ".form" else JSON_CONTENT_TYPE
    event_type = event_type or DEFAULT_EVENT_TYPES.get(scheme, "")

    headers: dict[str, str] = {"Content-Type": content_type, "User-Agent": f"webhook-kit-send ({scheme})"}
    if scheme == "github":
        headers.update(
            {"X-GitHub-Delivery": delivery_id, "X-GitHub-Event": event_type, "X-GitHub-Hook-ID": "481516234"}
        )
    elif scheme == "shopify":
        headers.update(
            {
                "X-Shopify-Event-Id": delivery_id,
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                "X-Shopify-Topic": event_type,
                "X-Shopify-Shop-Domain": "webhook-kit-demo.myshopify.com",
                "X-Shopify-API-Version": "2025-01",
                "X-Shopify-Triggered-At": datetime.fromtimestamp(now, UTC).isoformat(),
            }
        )
    elif scheme == "twilio":
        headers["I-Twilio-Idempotency-Token"] = delivery_id
        if content_type == JSON_CONTENT_TYPE:
            raise ValueError("twilio: only form posts are supported by send (Twilio signs JSON posts via the URL)")
    elif scheme == "generic-hmac" and source.generic is not None:
        generic = source.generic
        if generic.delivery_id_header:
            headers[generic.delivery_id_header] = delivery_id
        if generic.event_type_header:
            headers[generic.event_type_header] = event_type
        if body_file is None:
            # The bundled sample uses "ref" and "kind"; a source may name other fields.
            if generic.delivery_id_field:
                body = _set_field(body, generic.delivery_id_field, delivery_id)
            if generic.event_type_field:
                body = _set_field(body, generic.event_type_field, event_type)
    # A sender that signs a timestamp inside its body (Pusher's time_ms) needs a fresh one there.
    timestamp_field = options.get("timestamp_field") if scheme == "generic-hmac" else None
    if timestamp_field and body_file is None:
        scale = 1000 if options.get("timestamp_unit") == "milliseconds" else 1
        body = _set_field(body, str(timestamp_field), now * scale)
    # AWS SNS and PayPal sign with a private key: send signs with the kit's test key, whose
    # certificate only the local pipeline serves (webhook_kit.local.certificates).
    from webhook_kit.local.certificates import signing_options

    signer = get_scheme(scheme)
    options = {**options, **signing_options(scheme)}
    body = signer.envelope(body, secret, timestamp=now, options=options, delivery_id=delivery_id)
    if scheme == "aws-sns":
        headers["Content-Type"] = "text/plain; charset=UTF-8"  # as SNS posts its messages
    headers.update(signer.sign(body, secret, timestamp=now, options=options, delivery_id=delivery_id))
    # A provider that sends no delivery id (SendGrid's batches) is keyed on the body's
    # digest, and Adyen's id is made of its item's signed fields: report the id the
    # verifier will answer with, derived as it derives it.
    received = Request(headers={name.lower(): value for name, value in headers.items()}, body=body)
    delivery_id = signer.delivery_id(received, options) or body_sha256(body)
    return SignedWebhook(url=url, body=body, headers=headers, delivery_id=delivery_id)


def post(webhook: SignedWebhook, *, timeout: float = 10.0) -> Any:
    """POST the signed webhook; returns the ``requests`` response."""
    import requests

    with requests.Session() as session:
        # A proxy from the environment must not capture requests to the local pipeline.
        session.trust_env = urlsplit(webhook.url).hostname not in ("127.0.0.1", "localhost", "::1")
        return session.post(webhook.url, data=webhook.body, headers=webhook.headers, timeout=timeout)
