"""AWS SNS confirmations: a verified ``SubscriptionConfirmation`` is confirmed by GETting its
``SubscribeURL``; an ``UnsubscribeConfirmation`` is acknowledged. Neither is queued.

Only a message whose signature verified reaches here, so its ``TopicArn`` is
one the source accepts. The link must call ``ConfirmSubscription`` for that
topic on the topic's own regional SNS host (``aws_sns.subscribe_url_ok``): the
verifier GETs it, so it must not be able to point anywhere else. A link that
does not qualify is refused (400) and nothing is called.
"""

from __future__ import annotations

from dataclasses import replace

from webhook_verify.schemes.aws_sns import (
    SUBSCRIPTION_CONFIRMATION,
    UNSUBSCRIBE_CONFIRMATION,
    message,
    subscribe_url_ok,
)
from webhook_verify.schemes.request import Request

from . import Answer, Context, Handshake


class SnsSubscription(Handshake):
    name = "aws-sns-subscription"

    def after_verification(self, request: Request, context: Context) -> Answer | None:
        fields = message(request.body)
        kind = fields.get("Type") if fields else None
        if kind == UNSUBSCRIBE_CONFIRMATION:
            return Answer.empty(200)
        if kind != SUBSCRIPTION_CONFIRMATION or fields is None:
            return None
        if not subscribe_url_ok(fields):
            return Answer.refuse(400)
        return replace(Answer.empty(200), confirm_url=fields["SubscribeURL"])
