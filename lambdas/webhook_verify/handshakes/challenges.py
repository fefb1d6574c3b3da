"""GET and HEAD challenges: how a provider checks an endpoint before it sends it anything.

None of these requests is signed, so each is answered before verification and
only as far as it can be authenticated (docs/handshakes.md):

* Meta sends ``hub.mode=subscribe``, ``hub.verify_token`` and ``hub.challenge``:
  the verify token (the secret document's ``verify_token``) is compared in
  constant time, and only then is the challenge echoed.
* Okta sends ``X-Okta-Verification-Challenge`` with the hook's Authorization
  header, as on every call: the header is checked as on a delivery, then the
  value is answered as ``{"verification": value}``.
* Dropbox sends ``challenge`` and nothing that proves it is Dropbox: the
  challenge is echoed, inert (text/plain, nosniff, printable ASCII, capped).
* Trello sends a HEAD to the callback URL when a webhook is created: 200, empty.

A request that is one of these but carries a wrong or missing token is refused
as a failed signature is (401), one whose challenge cannot be echoed is 400;
a GET that is none of them is left to the verifier, which answers 405.
"""

from __future__ import annotations

import hashlib
import hmac

from webhook_verify.schemes.request import Request

from . import Answer, Context, Handshake


def token_matches(expected: str | None, provided: str | None) -> bool:
    """Whether ``provided`` is the configured token, in time that says nothing about either.

    SHA-256 digests are compared, so neither the content nor the length of the
    token leaks; an empty or missing configured token matches nothing (two
    absent tokens must not compare equal).
    """
    if not expected or provided is None:
        return False
    return hmac.compare_digest(
        hashlib.sha256(expected.encode("utf-8")).digest(),
        hashlib.sha256(provided.encode("utf-8", "replace")).digest(),
    )


def _echoed(challenge: str | None) -> Answer:
    return Answer.echo(challenge) or Answer.refuse(400)


class MetaHubChallenge(Handshake):
    """Meta's verification request: GET ``?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``."""

    name = "meta-hub-challenge"
    methods = frozenset({"GET"})
    tokens = ("verify_token",)

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        if request.method != "GET" or request.query_value("hub.mode") != "subscribe":
            return None
        if not token_matches(context.tokens.get("verify_token"), request.query_value("hub.verify_token")):
            return Answer.refuse()
        return _echoed(request.query_value("hub.challenge"))


class DropboxChallenge(Handshake):
    """Dropbox's verification request: GET ``?challenge=...``, echoed; Dropbox sends nothing to check."""

    name = "dropbox-challenge"
    methods = frozenset({"GET"})

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        challenge = request.query_value("challenge") if request.method == "GET" else None
        return None if challenge is None else _echoed(challenge)


OKTA_CHALLENGE_HEADER = "x-okta-verification-challenge"


class OktaVerification(Handshake):
    """Okta's one-time verification: GET with ``X-Okta-Verification-Challenge``, answered as JSON.

    Okta sends the hook's authentication header with every request, this one
    included, so the GET is checked with the source's shared-token options
    before its value is answered.
    """

    name = "okta-verification"
    methods = frozenset({"GET"})

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        value = request.header(OKTA_CHALLENGE_HEADER) if request.method == "GET" else None
        if value is None:
            return None
        from webhook_verify.schemes import get_scheme

        # The same constant-time check as a delivery; a GET has no body and shared-token signs none.
        if not get_scheme("shared-token").verify(
            request, context.secrets, now=context.now, tolerance_seconds=0, options=context.options
        ):
            return Answer.refuse()
        if Answer.echo(value) is None:
            return Answer.refuse(400)
        return Answer.json({"verification": value})


class TrelloHead(Handshake):
    """Trello's check of a new webhook's callback URL: HEAD, answered 200 with nothing."""

    name = "trello-head"
    methods = frozenset({"HEAD"})

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        return Answer.empty() if request.method == "HEAD" else None
