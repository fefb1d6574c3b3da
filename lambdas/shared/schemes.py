"""Webhook signature schemes: pure functions, no AWS, no I/O.

Each scheme in ``SCHEMES`` checks one provider's signature over the exact bytes
received, derives the provider's delivery id (the idempotency key) and event
type, and can sign a body the same way (tests, a future CLI).

Rules every scheme follows:

* ``verify`` never raises on anything a sender controls: a missing, malformed
  or oversized header, a body that is not UTF-8 or JSON, a secret that does not
  decode. Any of these is simply ``False``.
* Every active secret is tried; digests are compared with
  ``hmac.compare_digest`` on the encoded form the provider sends (hex or
  base64 text), so a non-canonical spelling of a right digest does not pass.
* An empty secret verifies nothing (an HMAC keyed with ``b""`` is forgeable).

Timestamp policy (schemes that sign a timestamp: standard-webhooks, svix,
stripe, slack, paddle, and generic-hmac with a ``timestamp_header``):

* the timestamp must be an integer of Unix seconds written as 1 to 20 ASCII
  digits (no sign, no fraction, no spaces); anything else is rejected;
* it is accepted when ``now - tolerance <= ts <= now + tolerance``: a closed,
  symmetric window. A timestamp from the future is as suspicious as an old one
  (a clock that runs ahead, or a signature minted to outlive the window), so it
  gets no more slack than the tolerance itself, which also absorbs clock skew.
  At exactly ``tolerance`` seconds either way the webhook is accepted; one
  second more and it is rejected. A negative tolerance accepts nothing.

Schemes without a signed timestamp (github, shopify, square, twilio) cannot
bound replays here; the processor's idempotency does. Where the delivery id
is not signed (github, shopify, twilio, generic-hmac with a
``delivery_id_header``) a replay can carry any id, so each scheme says what it
signs (``delivery_id_signed``, ``event_type_signed``) and gives the digest of
its signed material (``replay_digest``) for the idempotency key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# A delivery id or event type longer than this is not trusted as a key.
MAX_ID_LENGTH = 256
# Headers this long are not parsed: no provider sends one, and parsing is linear.
MAX_HEADER_LENGTH = 8192

_TIMESTAMP = re.compile(r"[0-9]{1,20}")
# Printable ASCII only: ids go into SQS attributes, DynamoDB keys and logs.
_ID_CHARS = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


@dataclass(frozen=True)
class Request:
    """An inbound webhook as the verifier sees it.

    ``headers`` has lower-cased names. ``url`` is the public URL the request
    was sent to, without the query string; ``query`` holds the query
    parameters in order (API Gateway hands them over decoded).
    """

    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    query: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        if not isinstance(value, str) or len(value) > MAX_HEADER_LENGTH:
            return None
        return value


class Scheme(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def timestamped(self) -> bool:
        """Whether the scheme signs a timestamp (and so enforces the window)."""
        ...

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool: ...

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, options: Mapping[str, Any], **extra: Any
    ) -> dict[str, str]: ...

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None: ...

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None: ...

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]: ...

    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        """Whether the delivery id is read from what the signature covers.

        When it is not (a header outside the signed material), a captured
        request can be re-sent with any id, so the processor must not trust
        the id alone as the idempotency key (see ``replay_digest``).
        """
        ...

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        """Whether the event type is read from what the signature covers (or there is none)."""
        ...

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        """SHA-256 (hex) of the material the signature covers.

        A replay of a verified request has the same digest whatever unsigned
        headers it carries; two different signed requests never share one.
        """
        ...


# --------------------------------------------------------------------------- helpers


def _equal(expected: str, provided: str) -> bool:
    # compare_digest refuses non-ASCII str; bytes never raise.
    return hmac.compare_digest(expected.encode("ascii"), provided.encode("utf-8", "replace"))


def _any_equal(expected: str, provided: Iterable[str]) -> bool:
    # No early exit: every candidate is compared, so timing says nothing about
    # which one (if any) matched.
    result = False
    for candidate in provided:
        result |= _equal(expected, candidate)
    return result


def _hmac(key: bytes, message: bytes, digest: str = "sha256") -> bytes:
    return hmac.new(key, message, digest).digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _active(secrets: Sequence[str] | str) -> list[str]:
    if isinstance(secrets, str):
        secrets = [secrets]
    return [s for s in secrets if isinstance(s, str) and s]


def parse_timestamp(value: str | None) -> int | None:
    """The integer Unix seconds in ``value``, or None if it is not exactly that."""
    if value is None or not _TIMESTAMP.fullmatch(value):
        return None
    return int(value)


def timestamp_in_window(value: str | None, now: float, tolerance_seconds: int) -> bool:
    """True if ``value`` is integer seconds within ``tolerance_seconds`` of ``now``."""
    ts = parse_timestamp(value)
    if ts is None or tolerance_seconds < 0:
        return False
    return now - tolerance_seconds <= ts <= now + tolerance_seconds


def clean_id(value: Any) -> str | None:
    """``value`` as an id if it is a short printable string (or an integer), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH or not _ID_CHARS.fullmatch(value):
        return None
    return value


# The last body parsed and its document: the delivery id and the event type are
# both read from the body, and a 1 MB body should be parsed once, not twice.
# Holding the bytes object keeps its identity unique while it is cached.
_last_parsed: tuple[bytes, Any] | None = None


def _json_body(body: bytes) -> Any:
    global _last_parsed
    cached = _last_parsed
    if cached is not None and cached[0] is body:
        return cached[1]
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    _last_parsed = (body, document)
    return document


def _field(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a JSON document, or None."""
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def _body_field(request: Request, *paths: str) -> str | None:
    document = _json_body(request.body)
    for path in paths:
        found = clean_id(_field(document, path))
        if found is not None:
            return found
    return None


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def signed_url(request: Request, options: Mapping[str, Any]) -> str:
    """The URL a provider signs: ``options["public_url"]`` (else the request URL) plus the query."""
    base = options.get("public_url") or request.url
    if not isinstance(base, str):
        return ""
    if not request.query:
        return base
    return base + ("&" if "?" in base else "?") + urlencode(request.query)


def _url_and_body_digest(request: Request, options: Mapping[str, Any]) -> str:
    # A NUL cannot occur in a URL, so URL and body cannot trade bytes.
    return hashlib.sha256(signed_url(request, options).encode() + b"\0" + request.body).hexdigest()


# --------------------------------------------------------------------------- schemes


class _Signed:
    """What a scheme signs, for the idempotency key (DESIGN.md, "Delivery id").

    By default the id and the event type come from signed material (the body,
    or a header the signature covers) and a replay is recognised by the body.
    Schemes that read them from unsigned headers, or that also sign a URL or a
    timestamp, override these.
    """

    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        return True

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        return True

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        return body_sha256(request.body)


class _UnsignedHeaders(_Signed):
    """Delivery id and event type in headers outside the signature (GitHub, Shopify)."""

    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        return False

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        return False


@dataclass(frozen=True)
class StandardWebhooks(_Signed):
    """Standard Webhooks (https://www.standardwebhooks.com/), and Svix under its own header names.

    Signed content ``{id}.{timestamp}.{body}``, HMAC-SHA256, base64; the
    signature header is a space-separated list of ``v1,<base64>``. The secret
    is ``whsec_`` + base64 of the key. Asymmetric ``v1a`` signatures are not
    supported and are ignored.
    """

    name: str = "standard-webhooks"
    prefix: str = "webhook"
    timestamped: bool = True

    @staticmethod
    def key(secret: str) -> bytes | None:
        if secret.startswith("whsec_"):
            secret = secret[len("whsec_") :]
        secret = secret.rstrip("=")
        try:
            key = base64.b64decode(secret + "=" * (-len(secret) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
        return key or None

    def _headers(self, request: Request) -> tuple[str | None, str | None, str | None]:
        return (
            request.header(f"{self.prefix}-id"),
            request.header(f"{self.prefix}-timestamp"),
            request.header(f"{self.prefix}-signature"),
        )

    @staticmethod
    def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
        return _b64(_hmac(key, f"{msg_id}.{timestamp}.".encode() + body))

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        msg_id, timestamp, signature = self._headers(request)
        if not msg_id or not signature or not timestamp_in_window(timestamp, now, tolerance_seconds):
            return False
        assert timestamp is not None
        provided = [entry[3:] for entry in signature.split(" ") if entry.startswith("v1,")]
        if not provided:
            return False
        result = False
        for secret in _active(secrets):
            key = self.key(secret)
            if key is not None:
                result |= _any_equal(self._signature(key, msg_id, timestamp, request.body), provided)
        return result

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, options: Mapping[str, Any], **extra: Any
    ) -> dict[str, str]:
        msg_id = str(extra.get("msg_id", "msg_" + body_sha256(body)[:24]))
        key = self.key(secret)
        if key is None:
            raise ValueError("secret is not base64 (optionally prefixed with whsec_)")
        return {
            f"{self.prefix}-id": msg_id,
            f"{self.prefix}-timestamp": str(timestamp),
            f"{self.prefix}-signature": "v1," + self._signature(key, msg_id, str(timestamp), body),
        }

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header(f"{self.prefix}-id"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return _body_field(request, "type", "eventType")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({f"{self.prefix}-signature"})


@dataclass(frozen=True)
class _TimestampAndHexSignatures(_Signed):
    """One header of ``key=value`` items: exactly one timestamp and one or more
    hex HMAC-SHA256 signatures of ``{timestamp}{joiner}{body}``, keyed by the
    secret as UTF-8 text. Several signatures appear while a secret is rotated.
    """

    name: str
    header: str
    separator: str
    timestamp_key: str
    signature_key: str
    joiner: bytes
    id_field: str
    type_field: str
    timestamped: bool = True

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        header = request.header(self.header)
        if not header:
            return False
        timestamps, provided = [], []
        for item in header.split(self.separator):
            key, sep, value = item.partition("=")
            if not sep:
                return False
            if key == self.timestamp_key:
                timestamps.append(value)
            elif key == self.signature_key:
                provided.append(value)
        if len(timestamps) != 1 or not provided or not timestamp_in_window(timestamps[0], now, tolerance_seconds):
            return False
        message = timestamps[0].encode() + self.joiner + request.body
        result = False
        for secret in _active(secrets):
            result |= _any_equal(_hmac(secret.encode(), message).hex(), provided)
        return result

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, options: Mapping[str, Any], **extra: Any
    ) -> dict[str, str]:
        digest = _hmac(secret.encode(), str(timestamp).encode() + self.joiner + body).hex()
        return {self.header: f"{self.timestamp_key}={timestamp}{self.separator}{self.signature_key}={digest}"}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return _body_field(request, self.id_field)

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return _body_field(request, self.type_field)

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({self.header})


# Stripe: ``Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of ``{t}.{body}``.
# The ``whsec_...`` secret is the HMAC key as UTF-8 text (not base64-decoded).
# Exactly one ``t`` is required; ``v0`` (test-mode legacy) entries are ignored.
STRIPE = _TimestampAndHexSignatures(
    name="stripe",
    header="stripe-signature",
    separator=",",
    timestamp_key="t",
    signature_key="v1",
    joiner=b".",
    id_field="id",
    type_field="type",
)


@dataclass(frozen=True)
class GitHub(_UnsignedHeaders):
    """GitHub: ``X-Hub-Signature-256: sha256=<hex>`` of the body (the legacy SHA-1 header is ignored)."""

    name: str = "github"
    timestamped: bool = False

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        header = request.header("x-hub-signature-256")
        if not header or not header.startswith("sha256="):
            return False
        provided = header[len("sha256=") :]
        result = False
        for secret in _active(secrets):
            result |= _equal(_hmac(secret.encode(), request.body).hex(), provided)
        return result

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, options: Mapping[str, Any], **extra: Any
    ) -> dict[str, str]:
        return {"x-hub-signature-256": "sha256=" + _hmac(secret.encode(), body).hex()}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header("x-github-delivery"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header("x-github-event"))

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-hub-signature-256", "x-hub-signature"})


@dataclass(frozen=True)
class Shopify(_UnsignedHeaders):
    """Shopify: ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body, keyed with the app secret."""

    name: str = "shopify"
    timestamped: bool = False

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        provided = request.header("x-shopify-hmac-sha256")
        if not provided:
            return False
        result = False
        for secret in _active(secrets):
            result |= _equal(_b64(_hmac(secret.encode(), request.body)), provided)
        return result

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, options: Mapping[str, Any], **extra: Any
    ) -> dict[str, str]:
        return {"x-shopify-hmac-sha256": _b64(_hmac(secret.encode(), body))}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header("x-shopify-event-id")) or clean_id(request.header("x-shopify-webhook-id"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header("x-shopify-topic"))

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-shopify-hmac-sha256"})


def _slack_document(body: bytes) -> Any:
    """Slack posts JSON (Events API) or a form whose ``payload`` field is JSON (interactivity)."""
    document = _json_body(body)
    if document is not None:
        return document
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None
    if "payload" in form:
        return _json_body(form["payload"].encode("utf-8"))
    return None


@dataclass(frozen=True)
class Slack(_Signed):
    """Slack: ``X-Slack-Signature: v0=<hex>`` of ``v0:{X-Slack-Request-Timestamp}:{body}``."""

    name: str = "slack"
    timestamped: bool = True

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        timestamp = request.header("x-slack-request-timestamp")
        provided = request.header("x-slack-signature")
        if not provided or not timestamp_in_window(timestamp, now, tolerance_seconds):
            return False
        message = f"v0:{timestamp}:".encode() + request.body
        result = False
        for secret in _active(secrets):
            result |= _equal("v0=" + _hmac(secret.encode(), message).hex(), provided)
        return result

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, options: Mapping[str, Any], **extra: Any
    ) -> dict[str, str]:
        digest = _hmac(secret.encode(), f"v0:{timestamp}:".encode() + body).hex()
        return {"x-slack-request-timestamp": str(timestamp), "x-slack-signature": "v0=" + digest}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(_field(_slack_document(request.body), "event_id"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        document = _slack_document(request.body)
        return clean_id(_field(document, "event.type")) or clean_id(_field(document, "type"))

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-slack-signature"})


_TWILIO_DIGESTS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}


def _twilio_url_variants(url: str) -> list[str]:
    """The URL as given plus its twin with/without the scheme's default port, as Twilio's libraries check."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [url]
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or not parts.hostname:
        return [url]
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    if port is None:
        return [url, urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default}"))]
    if port == default:
        bare = host.rsplit(":", 1)[0]
        return [url, urlunsplit(parts._replace(netloc=f"{userinfo}{bare}"))]
    return [url]


@dataclass(frozen=True)
class Twilio(_Signed):
    """Twilio: ``X-Twilio-Signature``, base64 HMAC-SHA1 (or SHA-256 when the unsigned
    ``X-Twilio-Webhooks-Signature-Settings`` header names ``HMAC_SHA256``) of the
    public URL followed, for form posts, by every parameter as name+value sorted
    by name (then value; duplicate pairs count once, as Twilio's libraries do).

    For JSON posts Twilio adds ``bodySHA256=<hex sha256 of the body>`` to the URL;
    it must match the body, and the parameters are then not signed.

    The signature covers the *decoded* form parameters, not the body bytes: two
    spellings of the same parameters (``%41`` vs ``A``) verify alike. The public
    URL comes from ``options["public_url"]`` (API Gateway rewrites host and path);
    the query string is rebuilt from API Gateway's decoded parameters, so a query
    that Twilio was given with unusual escaping may not verify.
    """

    name: str = "twilio"
    timestamped: bool = False

    @staticmethod
    def _string_to_sign(url: str, params: Sequence[tuple[str, str]]) -> str:
        return url + "".join(k + v for k, v in sorted(set(params)))

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        provided = request.header("x-twilio-signature")
        url = signed_url(request, options)
        if not provided or not url:
            return False
        digest = "sha1"
        settings = request.header("x-twilio-webhooks-signature-settings")
        if settings:
            for part in settings.split(","):
                name, sep, value = part.partition("=")
                if sep and name.strip() == "algorithm" and value.strip():
                    found = _TWILIO_DIGESTS.get(value.strip().upper())
                    if found is None:
                        return False
                    digest = found
        body_hashes = [v for k, v in request.query if k == "bodySHA256"]
        params: list[tuple[str, str]] = []
        if body_hashes:
            if len(body_hashes) != 1 or not _equal(body_sha256(request.body), body_hashes[0]):
                return False
        else:
            try:
                params = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
            except (UnicodeDecodeError, ValueError):
                return False
        candidates = [self._string_to_sign(u, params).encode() for u in _twilio_url_variants(url)]
        result = False
        for secret in _active(secrets):
            for message in candidates:
                result |= _equal(_b64(_hmac(secret.encode(), message, digest)), provided)
        return result

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, options: Mapping[str, Any], **extra: Any
    ) -> dict[str, str]:
        """Headers for ``body`` posted to ``public_url`` with ``extra["query"]`` pairs.

        Pass ``json=True`` to sign a JSON body: the query must then carry
        ``bodySHA256`` (see ``twilio_json_query``) and the body is not parsed.
        """
        query = tuple(extra.get("query", ()))
        url = signed_url(Request(headers={}, body=body, query=query), options)
        params = [] if extra.get("json") else parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        digest = _TWILIO_DIGESTS[extra.get("algorithm", "HMAC_SHA1")]
        return {"x-twilio-signature": _b64(_hmac(secret.encode(), self._string_to_sign(url, params).encode(), digest))}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header("i-twilio-idempotency-token"))

    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        return False  # I-Twilio-Idempotency-Token is outside the signature

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        return _url_and_body_digest(request, options)

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return None

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-twilio-signature"})


def twilio_json_query(body: bytes) -> tuple[tuple[str, str], ...]:
    """The query Twilio appends to the URL when it posts a JSON body."""
    return (("bodySHA256", body_sha256(body)),)


@dataclass(frozen=True)
class Square(_Signed):
    """Square: ``x-square-hmacsha256-signature``, base64 HMAC-SHA256 of notification URL + body.

    The notification URL is ``options["public_url"]``, exactly as registered
    with Square.
    """

    name: str = "square"
    timestamped: bool = False

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        provided = request.header("x-square-hmacsha256-signature")
        url = signed_url(request, options)
        if not provided or not url:
            return False
        message = url.encode() + request.body
        result = False
        for secret in _active(secrets):
            result |= _equal(_b64(_hmac(secret.encode(), message)), provided)
        return result

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, options: Mapping[str, Any], **extra: Any
    ) -> dict[str, str]:
        url = signed_url(Request(headers={}, body=body, query=tuple(extra.get("query", ()))), options)
        return {"x-square-hmacsha256-signature": _b64(_hmac(secret.encode(), url.encode() + body))}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return _body_field(request, "event_id")

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        return _url_and_body_digest(request, options)

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return _body_field(request, "type")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-square-hmacsha256-signature", "x-square-signature"})


# Paddle Billing: ``Paddle-Signature: ts=<ts>;h1=<hex>[;h1=<hex>...]``, HMAC-SHA256
# of ``{ts}:{body}``. Several ``h1`` appear while a secret is being rotated; exactly one ``ts``.
PADDLE = _TimestampAndHexSignatures(
    name="paddle",
    header="paddle-signature",
    separator=";",
    timestamp_key="ts",
    signature_key="h1",
    joiner=b":",
    id_field="event_id",
    type_field="event_type",
)


_GENERIC_ALGORITHMS = frozenset({"sha1", "sha256", "sha512"})
_TEMPLATE_PART = re.compile(r"(\{timestamp\}|\{body\})")


class SchemeConfigError(ValueError):
    """Scheme options that cannot work (raised by ``validate_options``, never by ``verify``)."""


def _generic_settings(options: Mapping[str, Any]) -> tuple[str, str, str, str, str | None, str]:
    header = str(options.get("signature_header", "")).lower()
    algorithm = str(options.get("algorithm", "sha256")).lower()
    encoding = str(options.get("encoding", "hex")).lower()
    prefix = str(options.get("prefix", ""))
    timestamp_header = options.get("timestamp_header")
    timestamp_header = str(timestamp_header).lower() if timestamp_header else None
    template = str(options.get("signed_template") or ("{timestamp}.{body}" if timestamp_header else "{body}"))
    return header, algorithm, encoding, prefix, timestamp_header, template


def _render(template: str, timestamp: str, body: bytes) -> bytes:
    # Split on the placeholders rather than str.replace, so a body that
    # contains "{timestamp}" is never rewritten.
    out = []
    for part in _TEMPLATE_PART.split(template):
        if part == "{body}":
            out.append(body)
        elif part == "{timestamp}":
            out.append(timestamp.encode())
        else:
            out.append(part.encode())
    return b"".join(out)


@dataclass(frozen=True)
class GenericHmac(_Signed):
    """Any provider that sends ``prefix + encode(HMAC(secret, template))`` in one header.

    Options (docs/runtime-contract.md): ``signature_header`` (required),
    ``algorithm`` sha1/sha256/sha512 (default sha256), ``encoding`` hex/base64
    (default hex; hex compares case-insensitively), ``prefix`` (e.g. "sha256="),
    ``timestamp_header`` (enables the timestamp window), ``signed_template``
    with ``{timestamp}`` and ``{body}`` (default "{body}", or "{timestamp}.{body}"
    with a timestamp header), ``delivery_id_header`` / ``delivery_id_field`` and
    ``event_type_header`` / ``event_type_field`` (dotted JSON paths).
    """

    name: str = "generic-hmac"
    timestamped: bool = False

    @staticmethod
    def validate_options(options: Mapping[str, Any]) -> None:
        header, algorithm, encoding, _prefix, timestamp_header, template = _generic_settings(options)
        if not header:
            raise SchemeConfigError("generic-hmac needs options.signature_header")
        if algorithm not in _GENERIC_ALGORITHMS:
            raise SchemeConfigError(f"options.algorithm must be one of {sorted(_GENERIC_ALGORITHMS)}")
        if encoding not in {"hex", "base64"}:
            raise SchemeConfigError("options.encoding must be hex or base64")
        if "{body}" not in template:
            raise SchemeConfigError("options.signed_template must contain {body}")
        if timestamp_header and "{timestamp}" not in template:
            # An unsigned timestamp would let anyone refresh a captured webhook.
            raise SchemeConfigError("options.signed_template must contain {timestamp} with a timestamp_header")
        if "{timestamp}" in template and not timestamp_header:
            raise SchemeConfigError("options.signed_template uses {timestamp} but no timestamp_header is set")

    def _expected(self, secret: str, message: bytes, algorithm: str, encoding: str) -> str:
        raw = _hmac(secret.encode(), message, algorithm)
        return raw.hex() if encoding == "hex" else _b64(raw)

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        try:
            self.validate_options(options)
        except SchemeConfigError:
            return False
        header, algorithm, encoding, prefix, timestamp_header, template = _generic_settings(options)
        provided = request.header(header)
        if not provided or not provided.startswith(prefix):
            return False
        provided = provided[len(prefix) :]
        if encoding == "hex":
            provided = provided.lower()
        timestamp = ""
        if timestamp_header:
            value = request.header(timestamp_header)
            if not timestamp_in_window(value, now, tolerance_seconds):
                return False
            assert value is not None
            timestamp = value
        message = _render(template, timestamp, request.body)
        result = False
        for secret in _active(secrets):
            result |= _equal(self._expected(secret, message, algorithm, encoding), provided)
        return result

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, options: Mapping[str, Any], **extra: Any
    ) -> dict[str, str]:
        self.validate_options(options)
        header, algorithm, encoding, prefix, timestamp_header, template = _generic_settings(options)
        signed = self._expected(secret, _render(template, str(timestamp), body), algorithm, encoding)
        headers = {header: prefix + signed}
        if timestamp_header:
            headers[timestamp_header] = str(timestamp)
        return headers

    def _lookup(self, request: Request, options: Mapping[str, Any], kind: str) -> str | None:
        header = options.get(f"{kind}_header")
        if header:
            found = clean_id(request.header(str(header).lower()))
            if found is not None:
                return found
        path = options.get(f"{kind}_field")
        if path:
            return _body_field(request, str(path))
        return None

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return self._lookup(request, options, "delivery_id") or body_sha256(request.body)

    # A configured header is outside the signature (only the template is
    # signed), so an id or type read from one counts as unsigned even when
    # the request lacks the header and the body field is used instead.
    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        return not options.get("delivery_id_header")

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        return not options.get("event_type_header")

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        *_, timestamp_header, template = _generic_settings(options)
        timestamp = (request.header(timestamp_header) or "") if timestamp_header else ""
        return hashlib.sha256(_render(template, timestamp, request.body)).hexdigest()

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return self._lookup(request, options, "event_type")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        header = _generic_settings(options)[0]
        return frozenset({header} if header else ())


SCHEMES: dict[str, Scheme] = {
    scheme.name: scheme
    for scheme in (
        StandardWebhooks(),
        StandardWebhooks(name="svix", prefix="svix"),
        STRIPE,
        GitHub(),
        Shopify(),
        Slack(),
        Twilio(),
        Square(),
        PADDLE,
        GenericHmac(),
    )
}


def get_scheme(name: str) -> Scheme:
    """The scheme registered under ``name``; KeyError names the known ones."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise KeyError(f"unknown signature scheme {name!r}; known: {', '.join(sorted(SCHEMES))}") from None


__all__ = [
    "MAX_ID_LENGTH",
    "SCHEMES",
    "Request",
    "Scheme",
    "SchemeConfigError",
    "body_sha256",
    "clean_id",
    "get_scheme",
    "parse_timestamp",
    "signed_url",
    "timestamp_in_window",
    "twilio_json_query",
]
