"""POST challenges that arrive signed like any webhook (Zoom, Twitch EventSub, Xero), and Asana's and Notion's.

Zoom's ``endpoint.url_validation``, Twitch's ``webhook_callback_verification``
and Xero's intent-to-receive are signed with the source's secret, so they are
answered after verification only, and never queued. Zoom asks for an HMAC of
a token it chose, keyed with the very secret that signs its webhooks: the
token is held to the shape Zoom issues (base64url, no ":"), so the answer can
never be the signature of a webhook (``v0:{timestamp}:{body}``).

Asana's ``X-Hook-Secret`` and Notion's ``verification_token`` hand over a new
secret that nobody can authenticate: the kit stores one only when the operator
armed the source for one capture (``capture_token`` in its secret document, the
same value in the URL's ``?capture=``), and never queues or logs one
(docs/handshakes.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from webhook_verify.schemes.helpers import any_equal, field, json_body, mac
from webhook_verify.schemes.request import Request
from webhook_verify.schemes.twitch import MESSAGE_TYPE

from . import NOSNIFF, Answer, Context, Handshake

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


# The operator arms a source for one capture: its secret document holds ``capture_token``
# (random, of their choosing) and the URL given to the provider carries it as ``?capture=``.
CAPTURE_TOKEN = "capture_token"  # noqa: S105 - a field name, not a secret
CAPTURE_QUERY = "capture"
# A captured secret is echoed in a header (Asana) and stored as the signing secret: printable,
# no space, CR or LF, and of a sane length. Asana's is 64 hex characters; Notion's is
# "secret_" and about 40 alphanumerics.
CAPTURED_SECRET = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")


def capture_armed(request: Request, context: Context) -> bool:
    """True when the source is armed (``capture_token`` set) and the request's ``?capture=`` equals it.

    Constant time; both must be non-empty, and a query that names ``capture`` twice is no match.
    """
    armed = context.tokens.get(CAPTURE_TOKEN) or ""
    presented = request.query_value(CAPTURE_QUERY) or ""
    return bool(armed) and bool(presented) and any_equal(armed, [presented])


class AsanaHookSecretCapture(Handshake):
    """Asana's ``X-Hook-Secret``: captured once when the operator armed the source, else 401; never queued.

    Nothing authenticates the handshake, so a presented secret is only taken when
    the request's ``?capture=`` matches the ``capture_token`` the operator put in
    the source's secret document (and in the webhook's ``target``): the verifier
    then stores it as the source's only secret, removing ``capture_token``, and
    echoes it. Any other handshake is refused with 401, not echoed, stored or
    queued, not even when a source runs with ``enforce = false``.
    """

    name = "asana-hook-secret-capture"
    captures_secret = True

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        if "x-hook-secret" not in request.header_values:
            return None
        values = request.header_values["x-hook-secret"]
        secret = values[0] if len(values) == 1 else None
        if secret is None or not CAPTURED_SECRET.fullmatch(secret) or not capture_armed(request, context):
            return Answer.refuse(401)
        return Answer(200, b"", "text/plain; charset=utf-8", {**NOSNIFF, "X-Hook-Secret": secret}, store_secret=secret)


class NotionVerificationTokenCapture(Handshake):
    """Notion's ``{"verification_token": ...}`` POST: captured once when armed, 200 if already held, else 401.

    Notion signs it (if at all) with the very token it carries, so it proves
    nothing about who sent it. A token is taken only when the request's
    ``?capture=`` matches the ``capture_token`` the operator put in the source's
    secret document (and in the subscription's URL): the verifier stores it as
    the source's only secret, removing ``capture_token``, and answers 200 with
    an empty body; the operator reads it from the secret and pastes it into
    Notion's Verify form. A resent token the source already holds (signed with
    it) gets 200 and nothing is stored. Anything else is 401. Checked before
    verification so that not even a source with ``enforce = false`` queues one;
    the token is never echoed or logged.
    """

    name = "notion-verification-token-capture"
    captures_secret = True

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        document = json_body(request.body)
        if not isinstance(document, dict) or "verification_token" not in document:
            return None
        provided = (request.header("x-notion-signature") or "").lower()
        signed = False
        for key in context.keys:
            signed |= any_equal("sha256=" + mac(key, request.body).hex(), [provided])
        if signed:
            return Answer.empty(200)
        token = document["verification_token"]
        if set(document) != {"verification_token"} or not isinstance(token, str):
            return Answer.refuse(401)
        if not CAPTURED_SECRET.fullmatch(token) or not capture_armed(request, context):
            return Answer.refuse(401)
        return replace(Answer.empty(200), store_secret=token)
