"""One request checked against one sender: its handshake, then its signature over the exact bytes.

``check`` is the part of verifying a webhook that does not depend on where it
runs: the Lambda verifier (``verifier.core``) calls it and then queues what it
accepts; ``webhook_verify.verify`` calls it for any other platform. It never
raises for anything the sender controls, and it decides, without side effects:

* a handshake's challenge answered before verification (an inert echo or a
  constant-time token check, docs/handshakes.md), or refused;
* any other non-POST: ``method_not_allowed``;
* a signature or timestamp that does not verify: ``unauthorized`` (one reason
  for every failure: no hint which check failed);
* a handshake answered after verification (anything computed with the secret);
* else accepted, with the delivery id and event type read from the request as
  it verified and whether the signature covers each.

A public key or certificate that cannot be fetched is ``unavailable`` (the
sender should retry). A handshake answer may ask the caller for a side effect
(``Answer.confirm_url``, ``Answer.store_secret``): performing it is the
caller's part, before it answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from webhook_verify.api_version import ApiVersionFrom
from webhook_verify.handshakes import Answer, Context, Handshake
from webhook_verify.schemes import KeyUnavailable, Request, Scheme, body_sha256

Result = Literal["accepted", "handshake", "rejected", "unavailable"]


@dataclass(frozen=True)
class Verification:
    """What to do with one request, and what is known of it.

    ``status``: the HTTP status to answer. ``reason``: why it was not accepted
    (``unauthorized``: the signature or timestamp; ``handshake_unauthorized``:
    a handshake's token; ``method_not_allowed``, ``bad_challenge``,
    ``key_unavailable``). ``answer``: the exact answer a handshake, or the
    provider's expected acknowledgement of an accepted webhook, calls for.
    For an accepted request: ``request`` as it verified, ``body`` the bytes to
    process (less any token the provider writes into them), ``delivery_id``
    (the provider's, or the body's SHA-256 when it sends none) and
    ``event_type``, each with whether the signature covers it: a value that is
    not signed can be changed by anyone replaying a captured delivery.
    ``api_version``: the provider's API version that rendered the payload, when
    the caller said where the delivery states it (``api_version_from``) and it
    does, with ``api_version_signed``.
    ``idempotency_keys``: what to deduplicate an accepted delivery on, all of
    them new before its work runs (``idempotency_keys`` of this module): the
    delivery id when the signature covers it, else a digest of the signed
    content, plus the id when the provider signs a timestamp (so a retry it
    signs anew is still recognised).
    """

    result: Result
    status: int
    reason: str | None = None
    answer: Answer | None = None
    request: Request | None = field(default=None, repr=False)
    body: bytes | None = field(default=None, repr=False)
    delivery_id: str | None = None
    delivery_id_signed: bool = False
    event_type: str | None = None
    event_type_signed: bool = False
    api_version: str | None = None
    api_version_signed: bool = False
    idempotency_keys: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.result == "accepted"

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """A plain HTTP answer (status, headers, body): the handshake's or acknowledgement's own, else
        202 with the delivery id as JSON, 401/405/400/503 with a short message."""
        if self.answer is not None:
            return (
                self.answer.status,
                {"Content-Type": self.answer.content_type, **self.answer.headers},
                self.answer.body,
            )
        if self.accepted:
            return self.status, {"Content-Type": "application/json"}, _json({"id": self.delivery_id})
        headers = {"Content-Type": "application/json"}
        if self.result == "unavailable":
            headers["Retry-After"] = "5"
        return self.status, headers, _json({"message": _MESSAGES.get(self.status, "Rejected")})


_MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def rejected(status: int, reason: str) -> Verification:
    return Verification(result="rejected", status=status, reason=reason)


UNAUTHORIZED = rejected(401, "unauthorized")


def check(
    request: Request,
    *,
    scheme: Scheme,
    options: Mapping[str, Any],
    secrets: Sequence[str],
    now: float,
    tolerance_seconds: int,
    handshake: Handshake | None = None,
    tokens: Mapping[str, str] | None = None,
    acknowledgement: Answer | None = None,
    fetch: Callable[[str], bytes] | None = None,
    api_version_from: ApiVersionFrom | None = None,
) -> Verification:
    """The decision for ``request`` (see the module's docstring); ``acknowledgement`` replaces 202 when accepted.

    ``api_version_from``: where the delivery states its API version, to read it (none: not read).
    """
    context = Context(secrets=secrets, keys=scheme.keys(secrets), options=options, tokens=tokens or {}, now=now)
    try:
        if handshake is not None:
            answer = handshake.before_verification(request, context)
            if answer is not None:
                return _handshake(answer)
        if request.method != "POST":
            return rejected(405, "method_not_allowed")
        verified = scheme.verified_request(
            request, secrets, now=now, tolerance_seconds=tolerance_seconds, options=options, fetch=fetch
        )
        if verified is None:
            return UNAUTHORIZED
        if handshake is not None:
            answer = handshake.after_verification(verified, context)
            if answer is not None:
                return _handshake(answer)
    except KeyUnavailable:
        return Verification(result="unavailable", status=503, reason="key_unavailable")
    delivery_id = scheme.delivery_id(verified, options) or body_sha256(request.body)
    api_version = api_version_from.read(verified.headers, verified.body) if api_version_from else None
    return Verification(
        result="accepted",
        status=acknowledgement.status if acknowledgement is not None else 202,
        answer=acknowledgement,
        request=verified,
        body=scheme.queued_body(verified, options),
        delivery_id=delivery_id,
        delivery_id_signed=scheme.delivery_id_signed(options),
        event_type=scheme.event_type(verified, options),
        event_type_signed=scheme.event_type_signed(options),
        api_version=api_version,
        api_version_signed=api_version is not None and api_version_from is not None and api_version_from.signed(),
        idempotency_keys=idempotency_keys(scheme, verified, options, delivery_id),
    )


def idempotency_keys(
    scheme: Scheme, verified: Request, options: Mapping[str, Any], delivery_id: str
) -> tuple[str, ...]:
    """What a verified delivery is deduplicated on (docs/signatures.md).

    A signed id is the key. An unsigned one can be replaced in a replay, so the
    key is the digest of the signed material instead; when the scheme signs a
    timestamp the provider may sign a retry anew (another digest), so the id is
    kept as a second key to recognise genuine retries.
    """
    if scheme.delivery_id_signed(options):
        return (delivery_id,)
    digest_key = "sha256:" + scheme.replay_digest(verified, options)
    return (delivery_id, digest_key) if scheme.signs_timestamp(options) else (digest_key,)


def _handshake(answer: Answer) -> Verification:
    if answer.refused:
        # A wrong handshake token is answered as a failed signature is; a challenge that cannot be echoed is a
        # bad request.
        return rejected(401, "handshake_unauthorized") if answer.status == 401 else rejected(400, "bad_challenge")
    return Verification(result="handshake", status=answer.status, answer=answer)
