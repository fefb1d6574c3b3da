"""From an API Gateway REST proxy event to an HTTP answer: parse, verify, enqueue.

No Powertools and no boto3 here: AWS sits behind ``Adapters`` and the caller
turns the returned ``Outcome`` into logs and metrics.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from shared.message import ClaimCheck, QueuedWebhook, to_send_message_kwargs
from shared.schemes import Request, body_sha256, get_scheme
from verifier.adapters import Adapters, DependencyError
from verifier.config import SourceConfig, VerifierConfig

RETRY_AFTER_SECONDS = "5"
# Never forwarded to the queue: credentials, and (per scheme) the signature itself.
PRIVATE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
UNAUTHORIZED_BODY = {"message": "Unauthorized"}
# The one reason every signature or timestamp failure is counted under (the
# stack's signature-rejection alarm reads it).
UNAUTHORIZED_REASON = "unauthorized"


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

    def response(self) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"Content-Type": "application/json", **self.headers},
            "body": json.dumps(self.body, separators=(",", ":")),
            "isBase64Encoded": False,
        }


def _rejected(status: int, reason: str, message: str, source: str | None = None) -> Outcome:
    return Outcome(status=status, body={"message": message}, result="rejected", reason=reason, source=source)


def _unavailable(reason: str, source: str) -> Outcome:
    return Outcome(
        status=503,
        body={"message": "Service Unavailable"},
        result="unavailable",
        reason=reason,
        source=source,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def source_name(event: Mapping[str, Any]) -> str | None:
    """The ``{source}`` path parameter, else the last segment of the path."""
    params = event.get("pathParameters") or {}
    name = params.get("source") if isinstance(params, dict) else None
    if not isinstance(name, str) or not name:
        path = event.get("path") or ""
        name = path.rstrip("/").rsplit("/", 1)[-1] if isinstance(path, str) else None
    return name or None


def merged_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """Lower-cased headers; repeated ones joined with "," as HTTP allows (RFC 9110 5.3)."""
    merged: dict[str, list[str]] = {}
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        for name, values in multi.items():
            if isinstance(values, list):
                merged.setdefault(str(name).lower(), []).extend(str(v) for v in values)
    single = event.get("headers")
    if isinstance(single, dict):
        for name, value in single.items():
            key = str(name).lower()
            # multiValueHeaders already has every value when API Gateway sends both.
            if key not in merged and value is not None:
                merged[key] = [str(value)]
    return {name: ",".join(values) for name, values in merged.items()}


def query_pairs(event: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, dict) and multi:
        return tuple((str(k), str(v)) for k, values in multi.items() if isinstance(values, list) for v in values)
    single = event.get("queryStringParameters")
    if isinstance(single, dict):
        return tuple((str(k), str(v)) for k, v in single.items())
    return ()


def request_url(event: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    """The URL as this API saw it; schemes that sign a URL prefer ``options["public_url"]``."""
    host = headers.get("host", "")
    path = event.get("path") or "/"
    proto = headers.get("x-forwarded-proto", "https")
    return f"{proto}://{host}{path}" if host else ""


class BadRequest(ValueError):
    pass


class TooLarge(ValueError):
    pass


def raw_body(event: Mapping[str, Any], max_bytes: int) -> bytes:
    """The exact bytes the provider sent; raises BadRequest or TooLarge."""
    body = event.get("body")
    if not isinstance(body, str) or body == "":
        raise BadRequest("missing body")
    if event.get("isBase64Encoded"):
        # Cheap bound first so a huge payload is not decoded just to be refused.
        if (len(body) // 4) * 3 - 2 > max_bytes:
            raise TooLarge
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("body is not valid base64") from None
    else:
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("body is not encodable as UTF-8") from None
    if len(data) > max_bytes:
        raise TooLarge
    if not data:
        raise BadRequest("empty body")
    return data


def _slack_challenge(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("type") == "url_verification":
        challenge = document.get("challenge")
        return challenge if isinstance(challenge, str) else ""
    return None


def _message_size(kwargs: Mapping[str, Any]) -> int:
    size = len(kwargs["MessageBody"].encode("utf-8"))
    for name, attribute in kwargs["MessageAttributes"].items():
        size += len(name.encode()) + len(attribute["DataType"]) + len(attribute["StringValue"].encode("utf-8"))
    return size


def claim_check_key(source: str, delivery_id: str) -> str:
    # Hashed: a delivery id is provider text and may hold characters S3 keys handle badly.
    # Deterministic, so a retried delivery overwrites its own object rather than adding one.
    return f"{source}/{hashlib.sha256(delivery_id.encode()).hexdigest()}"


def _utf8_encodable(headers: Mapping[str, str], query: tuple[tuple[str, str], ...]) -> bool:
    """False when a header or query string holds a lone surrogate (a JSON ``\\ud800`` escape)."""
    try:
        for name, value in (*headers.items(), *query):
            name.encode("utf-8")
            value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def process(event: Mapping[str, Any], *, config: VerifierConfig, adapters: Adapters, now: float) -> Outcome:
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
    if not _utf8_encodable(headers, query):
        return _rejected(400, "unparseable", "Bad Request", source.name)
    request = Request(headers=headers, body=body, url=request_url(event, headers), query=query)
    scheme = get_scheme(source.scheme)

    try:
        secrets = adapters.get_secrets(source.secret_arn)
    except DependencyError:
        return _unavailable("secret_unavailable", source.name)

    if not scheme.verify(request, secrets, now=now, tolerance_seconds=source.tolerance_seconds, options=source.options):
        # One answer for every failure: no hint whether the signature, the
        # timestamp or a header was wrong.
        return Outcome(
            status=401, body=UNAUTHORIZED_BODY, result="rejected", reason=UNAUTHORIZED_REASON, source=source.name
        )

    delivery_id = scheme.delivery_id(request, source.options) or body_sha256(body)
    event_type = scheme.event_type(request, source.options) or ""

    if source.scheme == "slack":
        challenge = _slack_challenge(body)
        if challenge is not None:
            return Outcome(
                status=200,
                body={"challenge": challenge},
                result="handshake",
                source=source.name,
                delivery_id=delivery_id,
                event_type=event_type,
            )

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
        pointer = ClaimCheck(
            bucket=config.claim_check_bucket,
            key=claim_check_key(source.name, delivery_id),
            size=len(body),
            sha256=body_sha256(body),
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
    )
