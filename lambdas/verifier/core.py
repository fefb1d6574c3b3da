"""From an API Gateway REST proxy event to an HTTP answer: parse, verify, enqueue.

No Powertools and no boto3 here: AWS sits behind ``Adapters`` and the caller
turns the returned ``Outcome`` into logs and metrics.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.contract import REASON_UNAUTHORIZED
from shared.message import SIGNED, ClaimCheck, Provenance, QueuedWebhook, to_send_message_kwargs
from verifier.adapters import (
    CAPTURE_TOKEN_FIELD,
    Adapters,
    DependencyError,
    SecretConflict,
    Secrets,
    StaleSecrets,
    captured_document,
)
from verifier.config import SourceConfig, VerifierConfig
from verifier.proxy_event import (
    BadRequest,
    TooLarge,
    merged_headers,
    query_pairs,
    raw_body,
    request_url,
    source_name,
    utf8_encodable,
)
from webhook_verify.check import Verification, check
from webhook_verify.handshakes import Answer, Handshake, get_handshake
from webhook_verify.schemes import Request, Scheme, body_sha256, get_scheme

RETRY_AFTER_SECONDS = "5"
# The other text fields of a source's secret document (handshake tokens, a capture's arming).
Tokens = Mapping[str, str]
# Never forwarded to the queue: credentials, and (per scheme) the signature itself.
PRIVATE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
UNAUTHORIZED_BODY = {"message": "Unauthorized"}
# The one reason every signature or timestamp failure is counted under (the
# stack's signature-rejection alarm reads it).
UNAUTHORIZED_REASON = REASON_UNAUTHORIZED


@dataclass(frozen=True)
class Outcome:
    """The HTTP answer plus what happened, for logs and metrics (never secrets or bodies)."""

    status: int
    body: Mapping[str, Any]
    result: str  # accepted | handshake | rejected | unavailable
    reason: str = ""
    source: str | None = None
    delivery_id: str | None = None
    event_type: str = ""
    claim_check: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    # Verified with the last good secrets because a refresh failed (adapters.StaleSecrets).
    stale_secret: bool = False
    # A handshake's or provider's own answer, sent instead of ``body`` as JSON.
    answer: Answer | None = None
    # Accepted although verification failed: the source has ``enforce = false``.
    unenforced: bool = False

    def response(self) -> dict[str, Any]:
        if self.answer is not None:
            return {
                "statusCode": self.answer.status,
                "headers": {"Content-Type": self.answer.content_type, **self.answer.headers, **self.headers},
                "body": self.answer.body.decode("utf-8"),
                "isBase64Encoded": False,
            }
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": "application/json", **self.headers},
            "body": json.dumps(self.body, separators=(",", ":")),
            "isBase64Encoded": False,
        }


def _rejected(status: int, reason: str, message: str, source: str | None = None) -> Outcome:
    return Outcome(status=status, body={"message": message}, result="rejected", reason=reason, source=source)


class Web(Protocol):
    """The verifier's only HTTP client: key and certificate fetches, and handshake confirmations."""

    def fetch_key(self, url: str) -> bytes:
        """The key or certificate at ``url`` (cached per cold start); raises KeyUnavailable."""
        ...

    def confirm(self, url: str) -> None:
        """GET ``url`` (a provider's confirmation link); raises DependencyError."""
        ...


def _unavailable(reason: str, source: str) -> Outcome:
    return Outcome(
        status=503,
        body={"message": "Service Unavailable"},
        result="unavailable",
        reason=reason,
        source=source,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _message_size(kwargs: Mapping[str, Any]) -> int:
    size = len(kwargs["MessageBody"].encode("utf-8"))
    for name, attribute in kwargs["MessageAttributes"].items():
        size += len(name.encode()) + len(attribute["DataType"]) + len(attribute["StringValue"].encode("utf-8"))
    return size


def claim_check_key(source: str, delivery_id: str, body_digest: str) -> str:
    # The id is hashed: it is provider text and may hold characters S3 keys
    # handle badly. The body's hash is part of the key, so a request that
    # reuses a pending delivery id (an unsigned header) cannot overwrite the
    # body a queued message points at; a retry of the same delivery writes
    # the same bytes to the same key.
    return f"{source}/{hashlib.sha256(delivery_id.encode()).hexdigest()}/{body_digest}"


def provenance(decision: Verification) -> Provenance:
    """What the signature covers, and so which values the processor deduplicates on (``check``'s keys;
    none on the queue when the id is signed: the processor then keys on the id itself)."""
    if decision.delivery_id_signed and decision.event_type_signed:
        return SIGNED
    return Provenance(
        delivery_id_signed=decision.delivery_id_signed,
        event_type_signed=decision.event_type_signed,
        idempotency_keys=() if decision.delivery_id_signed else decision.idempotency_keys,
    )


def process(
    event: Mapping[str, Any], *, config: VerifierConfig, adapters: Adapters, now: float, web: Web | None = None
) -> Outcome:
    """Answer one webhook request. Never raises for anything the sender controls."""
    if not isinstance(event, Mapping):
        return _rejected(400, "unparseable", "Bad Request")
    name = source_name(event)
    source: SourceConfig | None = config.sources.get(name) if name else None
    if source is None:
        return _rejected(404, "unknown_source", "Not Found")
    try:
        body = raw_body(event, config.max_body_bytes)
    except TooLarge:
        return _rejected(413, "too_large", "Payload Too Large", source.name)
    except BadRequest:
        return _rejected(400, "unparseable", "Bad Request", source.name)

    headers = merged_headers(event)
    query = query_pairs(event)
    if not utf8_encodable(headers, query):
        return _rejected(400, "unparseable", "Bad Request", source.name)
    method = event.get("httpMethod")
    method = method.upper() if isinstance(method, str) and method else "POST"
    request = Request(headers=headers, body=body, url=request_url(event, headers), query=query, method=method)
    scheme = get_scheme(source.scheme)
    handshake = get_handshake(source.handshake) if source.handshake else None
    if method != "POST" and (handshake is None or method not in handshake.methods):
        return _rejected(405, "method_not_allowed", "Method Not Allowed", source.name)

    try:
        secrets = adapters.get_secrets(source.secret_arn)
    except DependencyError:
        return _unavailable("secret_unavailable", source.name)
    outcome = _answer(
        request,
        source=source,
        scheme=scheme,
        handshake=handshake,
        secrets=secrets,
        tokens=secrets.tokens if isinstance(secrets, Secrets) else {},
        now=now,
        config=config,
        adapters=adapters,
        web=web,
    )
    return replace(outcome, stale_secret=True) if isinstance(secrets, StaleSecrets) else outcome


def _handshake_outcome(
    answer: Answer, source: SourceConfig, web: Web | None, adapters: Adapters, tokens: Tokens
) -> Outcome:
    """A handshake's answer, once the side effect it asks for (a confirmation, a captured secret) is done."""
    if answer.confirm_url is not None:
        try:
            if web is None:
                raise DependencyError("no HTTP client to confirm with")
            web.confirm(answer.confirm_url)
        except DependencyError:
            return _unavailable("confirm_failed", source.name)
    if answer.store_secret is not None:
        # A captured secret (docs/handshakes.md): stored before the provider is told it is
        # kept, replacing the source's secrets and disarming the capture, once per arming.
        try:
            adapters.put_secret(
                source.secret_arn,
                captured_document(answer.store_secret, tokens),
                once=tokens.get(CAPTURE_TOKEN_FIELD, ""),
            )
        except SecretConflict:
            # Another instance stored a secret for this arming first: this one is refused.
            return _unauthorized(source)
        except DependencyError:
            return _unavailable("secret_store_failed", source.name)
        answer = replace(answer, store_secret=None)
    return Outcome(status=answer.status, body={}, result="handshake", source=source.name, answer=answer)


def _unauthorized(source: SourceConfig) -> Outcome:
    # One answer for every failure: no hint whether the signature, the timestamp, a header or a token was wrong.
    return Outcome(
        status=401, body=UNAUTHORIZED_BODY, result="rejected", reason=UNAUTHORIZED_REASON, source=source.name
    )


def _answer(
    request: Request,
    *,
    source: SourceConfig,
    scheme: Scheme,
    handshake: Handshake | None,
    secrets: Sequence[str],
    tokens: Tokens,
    now: float,
    config: VerifierConfig,
    adapters: Adapters,
    web: Web | None,
) -> Outcome:
    """The answer to a request of a known source, once its secrets are at hand: ``webhook_verify.check``
    decides, and this carries the decision out (a handshake's side effect, the queue)."""
    decision = check(
        request,
        scheme=scheme,
        options=source.options,
        secrets=secrets,
        now=now,
        tolerance_seconds=source.tolerance_seconds,
        handshake=handshake,
        tokens=tokens,
        acknowledgement=source.acknowledgement,
        fetch=web.fetch_key if web is not None else None,
    )
    if decision.result == "handshake":
        assert decision.answer is not None  # a handshake always has its answer
        return _handshake_outcome(decision.answer, source, web, adapters, tokens)
    if decision.result == "unavailable":
        return _unavailable("key_unavailable", source.name)
    if decision.result == "accepted":
        return _enqueue(request, decision, source=source, scheme=scheme, config=config, adapters=adapters, now=now)
    if decision.reason == "unauthorized" and not source.enforce:
        # The signature did not verify; the source takes it anyway, marked and counted.
        outcome = _enqueue(request, None, source=source, scheme=scheme, config=config, adapters=adapters, now=now)
        return replace(outcome, unenforced=True)
    if decision.reason in ("unauthorized", "handshake_unauthorized"):
        return _unauthorized(source)
    if decision.reason == "bad_challenge":
        return _rejected(400, "bad_challenge", "Bad Request", source.name)
    return _rejected(405, "method_not_allowed", "Method Not Allowed", source.name)


def _enqueue(
    request: Request,
    decision: Verification | None,
    *,
    source: SourceConfig,
    scheme: Scheme,
    config: VerifierConfig,
    adapters: Adapters,
    now: float,
) -> Outcome:
    """Queue a webhook: ``decision`` is ``check``'s acceptance, None when it did not verify (``enforce = false``).

    From here on, every header is read with the value that verified (a proxy
    may have repeated a header with a signed and an unsigned value). An
    unverified request is keyed on its body alone and marked so on the queue.
    """
    headers = request.headers
    trail: Provenance
    if decision is None:
        # The bytes received, less any secret the provider writes into them (a body-field token).
        body = scheme.queued_body(request, source.options)
        event_type = scheme.event_type(request, source.options) or ""
        # Nothing is authenticated: the id a sender wrote is not used, the received bytes are the key.
        delivery_id = body_sha256(request.body)
        trail = Provenance(
            delivery_id_signed=False,
            event_type_signed=False,
            idempotency_keys=("sha256:" + delivery_id,),
            verified=False,
        )
    else:
        assert decision.request is not None and decision.body is not None and decision.delivery_id is not None
        body, event_type, delivery_id = decision.body, decision.event_type or "", decision.delivery_id
        trail = provenance(decision)

    hidden = PRIVATE_HEADERS | scheme.signature_headers(source.options)
    content_type = headers.get("content-type", "")
    message = QueuedWebhook(
        source=source.name,
        delivery_id=delivery_id,
        event_type=event_type,
        received_at=datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        content_type=content_type,
        headers={k: v for k, v in headers.items() if k not in hidden},
        body=body,
        provenance=trail,
    )
    # The encoded message counts too: base64 and the headers attribute can push a
    # body under the threshold over the SQS limit. Without a bucket, SQS decides.
    # A body over the threshold is claim-checked without encoding it first.
    threshold = config.claim_check_threshold_bytes
    claim_checked = bool(config.claim_check_bucket) and len(body) > threshold
    kwargs = {} if claim_checked else to_send_message_kwargs(message)
    if not claim_checked and config.claim_check_bucket and _message_size(kwargs) > threshold:
        claim_checked = True
    if claim_checked:
        digest = body_sha256(body)
        pointer = ClaimCheck(
            bucket=config.claim_check_bucket,
            key=claim_check_key(source.name, delivery_id, digest),
            size=len(body),
            sha256=digest,
        )
        try:
            adapters.put_object(pointer.bucket, pointer.key, body, content_type)
        except DependencyError:
            return _unavailable("claim_check_failed", source.name)
        message = replace(message, body=None, claim_check=pointer)
        kwargs = to_send_message_kwargs(message)

    try:
        adapters.send_message(source.queue_url, kwargs)
    except DependencyError:
        return _unavailable("enqueue_failed", source.name)

    return Outcome(
        status=202,
        body={"id": delivery_id},
        result="accepted",
        source=source.name,
        delivery_id=delivery_id,
        event_type=event_type,
        claim_check=claim_checked,
        answer=source.acknowledgement,
    )
