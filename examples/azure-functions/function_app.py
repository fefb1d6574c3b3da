"""Stripe and GitHub webhooks on Azure Functions (Python v2 model), verified with webhook_verify.

Verifying is all it does. The AWS kit (webhook-kit) adds durable buffering before
the 2xx, exactly-once processing, dead letters, alarms and IP allow-lists; here
``handle`` must do the work, or queue it durably, before the answer, once per
``idempotency_keys`` (the kit's processor's keys: the id only where it is signed).
More in examples/README.md.

POST /api/webhooks/stripe or /api/webhooks/github. The signing secrets come from
the app settings STRIPE_WEBHOOK_SECRETS and GITHUB_WEBHOOK_SECRETS
(comma-separated: two while one is rotated). Locally, with Azure Functions Core
Tools: ``func start``, FUNCTIONS_WORKER_RUNTIME=python and the secrets in the
Values of local.settings.json.
"""

import os

import azure.functions as func

from webhook_verify import Verification, verify

PROVIDERS = ("stripe", "github")

# Anonymous: the provider's signature authenticates each request (a function key would sit in the URL given out).
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="webhooks/{provider}", methods=["POST"])
def receive(req: func.HttpRequest) -> func.HttpResponse:
    provider = req.route_params.get("provider", "")
    if provider not in PROVIDERS:
        return func.HttpResponse("Not Found", status_code=404)
    result = verify(
        provider=provider,
        url=req.url,
        headers=req.headers,
        body=req.get_body(),  # the exact bytes the signature covers: never re-serialised JSON
        secrets=os.environ[f"{provider.upper()}_WEBHOOK_SECRETS"].split(","),
    )
    if result.accepted:
        handle(provider, result)
    status, headers, body = result.response()
    # A Content-Type among the headers is the one sent (azure.functions.http.HttpResponseConverter).
    return func.HttpResponse(body, status_code=status, headers=headers)


def handle(provider: str, delivery: Verification) -> None:
    """Your work for one verified delivery (``delivery.event_type``, ``delivery.body``), done once per
    ``delivery.idempotency_keys``: all of them new, or it already ran."""
