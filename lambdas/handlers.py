"""Your business logic: the one place a fork adds webhook handlers.

Register a function per (source, event type) on the router; patterns are
fnmatch-style and the most specific match wins (see shared/router.py and
docs/processor.md). A handler runs at most once per delivery id. It:

* returns normally when the webhook is done (its return value is ignored);
* raises ``PermanentError`` when retrying can never help (e.g. a payload that
  lacks a field you need): the message goes to the dead-letter queue at once;
* raises anything else for a failure worth retrying (a downstream API down):
  SQS redelivers it, up to the queue's max receive count.

Declare the payload's model (``model=``, a pydantic model; ``payloads/`` has
a few to start from) or a JSON Schema (``schema=``) and the handler gets the
validated payload as its second argument: a body that does not match goes to
the dead-letter queue before the handler runs, with the failing field paths
as its reason. ``api_version=`` routes by the provider's API version.

Keep handlers idempotent on their side effects where you can: the processor
records success only after the handler returns, so a crash between the side
effect and that record (a Lambda timeout) runs the handler again.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from payloads.github import PushEvent
from payloads.stripe import InvoicePaid, PaymentIntentSucceeded
from shared.event import WebhookEvent
from shared.router import router

logger = Logger(child=True)


@router.on("stripe", "payment_intent.succeeded", model=PaymentIntentSucceeded)
def payment_succeeded(event: WebhookEvent, payment: PaymentIntentSucceeded) -> None:
    intent = payment.data.object
    logger.info("payment succeeded", extra={"payment_intent": intent.id, "amount": intent.amount})


# Written against Stripe's 2024 API versions. An invoice.paid rendered by another
# version has no route here, so it follows unhandled_events: with "fail" it waits in
# the DLQ until a handler for that version is deployed (docs/processor.md).
@router.on("stripe", "invoice.paid", api_version="2024-*", model=InvoicePaid)
def invoice_paid(event: WebhookEvent, paid: InvoicePaid) -> None:
    invoice = paid.data.object
    logger.info("invoice paid", extra={"invoice": invoice.id, "amount_paid": invoice.amount_paid})


# X-GitHub-Event is not signed: the model is also the check that this body is a push.
@router.on("github", "push", model=PushEvent)
def github_push(event: WebhookEvent, push: PushEvent) -> None:
    logger.info("github push", extra={"repository": push.repository.full_name, "commits": len(push.commits)})


@router.on("github", "ping")
def github_ping(event: WebhookEvent) -> None:
    # GitHub sends a ping when the webhook is created: acknowledging it is enough.
    logger.info("github ping", extra={"zen": event.json().get("zen")})
