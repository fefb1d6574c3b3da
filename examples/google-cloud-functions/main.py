"""Stripe and GitHub webhooks on Google Cloud Functions, verified with webhook_verify.

Verifying is all it does. The AWS kit (webhook-kit) adds durable buffering before
the 2xx, exactly-once processing, dead letters, alarms and IP allow-lists; here
``handle`` must do the work, or queue it durably, before the answer, once per
``idempotency_keys`` (the kit's processor's keys: the id only where it is signed).
More in examples/README.md.

POST /stripe or /github. The signing secrets come from STRIPE_WEBHOOK_SECRETS and
GITHUB_WEBHOOK_SECRETS (comma-separated: two while one is rotated). Locally:

    pip install -r requirements.txt
    functions-framework --target receive --source main.py
"""

import os

import functions_framework
from flask import Request

from webhook_verify import Verification, verify

PROVIDERS = ("stripe", "github")


@functions_framework.http
def receive(request: Request) -> tuple[bytes, int, dict[str, str]]:
    provider = request.path.strip("/")
    if provider not in PROVIDERS:
        return b"Not Found", 404, {}
    result = verify(
        provider=provider,
        url=request.url,
        headers=list(request.headers.items()),
        # get_data(), never get_json(): the signature covers the exact bytes sent, which parsing would lose.
        body=request.get_data(),
        secrets=os.environ[f"{provider.upper()}_WEBHOOK_SECRETS"].split(","),
    )
    if result.accepted:
        handle(provider, result)
    status, headers, body = result.response()
    return body, status, headers


def handle(provider: str, delivery: Verification) -> None:
    """Your work for one verified delivery (``delivery.event_type``, ``delivery.body``), done once per
    ``delivery.idempotency_keys``: all of them new, or it already ran."""
