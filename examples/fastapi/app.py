"""Stripe and GitHub webhooks in a FastAPI app, verified with webhook_verify.

Verifying is all it does. The AWS kit (webhook-kit) adds durable buffering before
the 2xx, exactly-once processing, dead letters, alarms and IP allow-lists; here
``handle`` must do the work, or queue it durably, before the answer, once per
``idempotency_keys`` (the kit's processor's keys: the id only where it is signed).
More in examples/README.md.

POST /webhooks/stripe or /webhooks/github. The signing secrets come from
STRIPE_WEBHOOK_SECRETS and GITHUB_WEBHOOK_SECRETS (comma-separated: two while
one is rotated). Locally:

    pip install -r requirements.txt
    uvicorn app:app
"""

import os

from fastapi import FastAPI, Request, Response

from webhook_verify import Verification, verify

PROVIDERS = ("stripe", "github")

app = FastAPI()


@app.post("/webhooks/{provider}")
async def receive(provider: str, request: Request) -> Response:
    if provider not in PROVIDERS:
        return Response("Not Found", status_code=404)
    result = verify(
        provider=provider,
        url=str(request.url),
        headers=request.headers.items(),
        body=await request.body(),  # the exact bytes the signature covers: never a parsed model
        secrets=os.environ[f"{provider.upper()}_WEBHOOK_SECRETS"].split(","),
    )
    if result.accepted:
        handle(provider, result)
    status, headers, body = result.response()
    return Response(body, status_code=status, headers=headers)


def handle(provider: str, delivery: Verification) -> None:
    """Your work for one verified delivery (``delivery.event_type``, ``delivery.body``), done once per
    ``delivery.idempotency_keys``: all of them new, or it already ran."""
