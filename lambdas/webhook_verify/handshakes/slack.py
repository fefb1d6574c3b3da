"""Slack's Events API ``url_verification``: signed like any event, answered with its challenge."""

from __future__ import annotations

from webhook_verify.schemes.helpers import json_body
from webhook_verify.schemes.request import Request

from . import Answer, Context, Handshake


class SlackUrlVerification(Handshake):
    name = "slack-url-verification"

    def after_verification(self, request: Request, context: Context) -> Answer | None:
        document = json_body(request.body)
        if not isinstance(document, dict) or document.get("type") != "url_verification":
            return None
        challenge = document.get("challenge")
        # Slack accepts the challenge as JSON; a value that is not short printable text is not echoed.
        if Answer.echo(challenge) is None:
            return Answer.json({"challenge": ""})
        return Answer.json({"challenge": challenge})
