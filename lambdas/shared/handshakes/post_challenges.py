"""POST challenges that arrive signed like any webhook (Zoom, Twitch EventSub, Xero), and Asana's and Notion's.

Zoom's ``endpoint.url_validation``, Twitch's ``webhook_callback_verification``
and Xero's intent-to-receive are signed with the source's secret, so they are
answered after verification only, and never queued. Zoom asks for an HMAC of
a token it chose, keyed with the very secret that signs its webhooks: the
token is held to the shape Zoom issues (base64url, no ":"), so the answer can
never be the signature of a webhook (``v0:{timestamp}:{body}``).

Asana's ``X-Hook-Secret`` and Notion's ``verification_token`` hand over a new
secret that nobody can authenticate: the kit never echoes, stores or queues
one (docs/handshakes.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.schemes.helpers import any_equal, field, json_body, mac
from shared.schemes.request import Request
from shared.schemes.twitch import MESSAGE_TYPE

from . import Answer, Context, Handshake, register

# Zoom's plainToken is 16 random bytes in base64url (22 characters). A little room
# either way, but never ":" (its signed strings are "v0:{timestamp}:{body}") nor
# anything but the base64url alphabet.
ZOOM_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _zoom_signing_key(request: Request, keys: Sequence[bytes]) -> bytes | None:
    """The key whose ``x-zm-signature`` the (verified) request carries: the secret Zoom signs with now."""
    timestamp = request.header("x-zm-request-timestamp") or ""
    provided = request.header("x-zm-signature") or ""
    message = f"v0:{timestamp}:".encode() + request.body
    for key in keys:
        if any_equal("v0=" + mac(key, message).hex(), [provided]):
            return key
    return None


class ZoomUrlValidation(Handshake):
    name = "zoom-url-validation"

    def after_verification(self, request: Request, context: Context) -> Answer | None:
        document = json_body(request.body)
        if not isinstance(document, dict) or document.get("event") != "endpoint.url_validation":
            return None
        token = field(document, "payload.plainToken")
        key = _zoom_signing_key(request, context.keys)
        if not isinstance(token, str) or not ZOOM_PLAIN_TOKEN.fullmatch(token) or key is None:
            return Answer.refuse(400)
        return Answer.json({"plainToken": token, "encryptedToken": mac(key, token.encode()).hex()})


class TwitchCallbackVerification(Handshake):
    name = "twitch-callback-verification"

    def after_verification(self, request: Request, context: Context) -> Answer | None:
        # The message type header is not signed: a signed body holding a challenge is
        # the verification, whatever the header says, and a header that claims one
        # without a challenge in the body is refused rather than queued.
        document = json_body(request.body)
        claimed = request.header(MESSAGE_TYPE) == "webhook_callback_verification"
        if not isinstance(document, dict) or ("challenge" not in document and not claimed):
            return None
        return Answer.echo(document.get("challenge")) or Answer.refuse(400)


class XeroIntentToReceive(Handshake):
    """A signed delivery without events is Xero's intent-to-receive: 200 with an empty body, not queued."""

    name = "xero-intent-to-receive"

    def after_verification(self, request: Request, context: Context) -> Answer | None:
        document = json_body(request.body)
        if isinstance(document, dict) and document.get("events") == []:
            return Answer.empty(200)
        return None


class AsanaHookSecretRefused(Handshake):
    """Asana's handshake presents a secret no one can authenticate: refused, never echoed, stored or queued.

    Answering it would mean storing whatever secret a sender presents (anyone
    could then sign webhooks for the source); echoing it without storing it
    would set up a webhook the kit cannot verify. The refusal also keeps the
    header out of the queue when a source runs with ``enforce = false``.
    """

    name = "asana-hook-secret-refused"

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        if "x-hook-secret" in request.header_values:
            return Answer.refuse(401)
        return None


class NotionVerificationToken(Handshake):
    """Notion's ``{"verification_token": ...}`` POST: 200 if signed with an active secret, else 401; never queued.

    Notion signs it with the very token it carries, so it proves nothing about
    who sent it, and the token is the secret: it is never echoed, stored or
    queued. A source whose secret already holds the token (a resent token)
    gets a 200, checked here before verification so that not even a source
    with ``enforce = false`` queues one.
    """

    name = "notion-verification-token"

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        document = json_body(request.body)
        if not isinstance(document, dict) or "verification_token" not in document:
            return None
        provided = (request.header("x-notion-signature") or "").lower()
        signed = False
        for key in context.keys:
            signed |= any_equal("sha256=" + mac(key, request.body).hex(), [provided])
        return Answer.empty(200) if signed else Answer.refuse(401)


register(ZoomUrlValidation())
register(TwitchCallbackVerification())
register(XeroIntentToReceive())
register(AsanaHookSecretRefused())
register(NotionVerificationToken())
