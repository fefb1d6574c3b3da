"""Discord's interactions PING: signed like any interaction, answered with a PONG.

Discord checks an Interactions Endpoint URL (when it is saved, and again from
time to time, also with bad signatures) by posting a PING (``"type": 1``); the
endpoint must answer a correctly signed one with ``{"type": 1}`` and refuse a
badly signed one with 401. The PONG carries nothing from the request, but it is
still sent only after the signature verified: Discord's check is that forgeries
are refused.
"""

from __future__ import annotations

from webhook_verify.schemes.helpers import json_body
from webhook_verify.schemes.request import Request

from . import Answer, Context, Handshake

PING = 1
PONG = 1


class DiscordPing(Handshake):
    name = "discord-ping"

    def after_verification(self, request: Request, context: Context) -> Answer | None:
        document = json_body(request.body)
        # type(...) is int: JSON true is not a PING.
        if not isinstance(document, dict) or type(document.get("type")) is not int or document["type"] != PING:
            return None
        return Answer.json({"type": PONG})
