"""Your business logic: the one place a fork adds webhook handlers.

Register a function per (source, event type) on the router; patterns are
fnmatch-style and the most specific match wins (see shared/router.py and
docs/processor.md). A handler runs at most once per delivery id. It:

* returns normally when the webhook is done (its return value is ignored);
* raises ``PermanentError`` when retrying can never help (e.g. a payload that
  lacks a field you need): the message goes to the dead-letter queue at once;
* raises anything else for a failure worth retrying (a downstream API down):
  SQS redelivers it, up to the queue's max receive count.

Keep handlers idempotent on their side effects where you can: the processor
records success only after the handler returns, so a crash between the side
effect and that record (a Lambda timeout) runs the handler again.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from shared.event import PermanentError, WebhookEvent
from shared.router import router

logger = Logger(child=True)


@router.on("stripe", "payment_intent.succeeded")
def payment_succeeded(event: WebhookEvent) -> None:
    try:
        intent = event.json()["data"]["object"]
        intent_id, amount, currency = intent["id"], intent["amount"], intent["currency"]
    except (KeyError, TypeError) as error:
        raise PermanentError(f"payment_intent.succeeded without {error}") from error
    logger.info("payment succeeded", extra={"payment_intent": intent_id, "amount": amount, "currency": currency})


@router.on("github", "ping")
def github_ping(event: WebhookEvent) -> None:
    # GitHub sends a ping when the webhook is created: acknowledging it is enough.
    logger.info("github ping", extra={"zen": event.json().get("zen")})
