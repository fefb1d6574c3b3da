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
* A header a proxy repeated is read once per distinct value: identical repeats
  count once, and different values are tried one combination at a time
  (``verified_request``), so a signature, timestamp or id is only ever checked
  together with the values it was signed with. The delivery id, event type and
  replay digest are read from the combination that verified.

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
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

# A delivery id or event type longer than this is not trusted as a key.
MAX_ID_LENGTH = 256
# Headers this long are not parsed: no provider sends one, and parsing is linear.
MAX_HEADER_LENGTH = 8192
# A proxy that repeats a header repeats one value; a request whose repeated
# signature, timestamp or id headers make more combinations than this is refused.
MAX_HEADER_COMBINATIONS = 4

_TIMESTAMP = re.compile(r"[0-9]{1,20}")
# Printable ASCII only: ids go into SQS attributes, DynamoDB keys and logs.
_ID_CHARS = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


class Headers(Mapping[str, str]):
    """Request headers: lower-cased names, each with its distinct values in arrival order.

    As a mapping, a name gives its values joined with "," (RFC 9110 5.3), the
    name -> string shape forwarded to the queue; ``multi`` keeps the values
    apart, and identical repeats count once.
    """

    __slots__ = ("_values",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        seen: dict[str, dict[str, None]] = {}
        for name, value in pairs:
            seen.setdefault(name.lower(), {})[value] = None
        self._values = {name: tuple(values) for name, values in seen.items()}

    @property
    def multi(self) -> Mapping[str, tuple[str, ...]]:
        return self._values

    def __getitem__(self, name: str) -> str:
        return ",".join(self._values[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Headers({self._values!r})"


@dataclass(frozen=True)
class Request:
    """An inbound webhook as the verifier sees it.

    ``headers`` has lower-cased names: a ``Headers`` when a header may have
    been repeated, else any mapping of one value per name. ``url`` is the
    public URL the request was sent to, without the query string; ``query``
    holds the query parameters in order (API Gateway hands them over decoded).
    """

    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    query: tuple[tuple[str, str], ...] = ()

    @cached_property
    def header_values(self) -> Mapping[str, tuple[str, ...]]:
        """Every distinct value of each header."""
        if isinstance(self.headers, Headers):
            return self.headers.multi
        return {name: (value,) for name, value in self.headers.items() if isinstance(value, str)}

    def header(self, name: str) -> str | None:
        """The value of ``name`` if it has exactly one (a header repeated with different values has none)."""
        values = self.header_values.get(name, ())
        if len(values) != 1 or len(values[0]) > MAX_HEADER_LENGTH:
            return None
        return values[0]

    def combinations(self, names: Iterable[str]) -> list[Request]:
        """This request once per combination of the values of ``names`` repeated with
        different values, each with one value per such header; none above the cap."""
        values = self.header_values
        repeated = [name for name in dict.fromkeys(names) if len(values.get(name, ())) > 1]
        if not repeated:
            return [self]
        if math.prod(len(values[name]) for name in repeated) > MAX_HEADER_COMBINATIONS:
            return []
        fixed = [(name, value) for name, all_values in values.items() if name not in repeated for value in all_values]
        return [
            replace(self, headers=Headers([*fixed, *zip(repeated, chosen, strict=True)]))
            for chosen in itertools.product(*(values[name] for name in repeated))
        ]


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

    def verified_request(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> Request | None:
        """The request as it verified (one value per repeated header), or None.

        Read the delivery id, event type and replay digest from it: a header
        repeated with a signed and an unsigned value has no single value in
        ``request`` itself.
        """
        ...

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

    def signs_timestamp(self, options: Mapping[str, Any]) -> bool:
        """Whether, with these options, a timestamp is signed (so a retry may be signed anew)."""
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


# API Gateway's REST proxy event holds the query decoded ("+" and %20 both as a
# space), never as sent, while a provider signs the URL as it was configured.
# These are the spellings re-tried, as (quote function, characters left as
# they are): urlencode's form encoding, strict percent-encoding, JavaScript's
# encodeURIComponent, and a URL typed by hand (only what must be escaped is),
# with a space as "+" or %20. "=" stays unescaped in values only.
_HAND_TYPED = "/?:@!$'()*,;="
_QUERY_SPELLINGS: tuple[tuple[Callable[..., str], str], ...] = (
    (quote_plus, ""),
    (quote, ""),
    (quote, "!'()*"),
    (quote, _HAND_TYPED),
    (quote_plus, _HAND_TYPED),
)


def _query_spellings(query: Sequence[tuple[str, str]]) -> list[str]:
    spellings = (
        "&".join(f"{quoted(k, safe=safe.replace('=', ''))}={quoted(v, safe=safe)}" for k, v in query)
        for quoted, safe in _QUERY_SPELLINGS
    )
    return list(dict.fromkeys(spellings))


def signed_urls(request: Request, options: Mapping[str, Any]) -> list[str]:
    """The URLs a provider may have signed: ``options["public_url"]`` (else the request
    URL) plus the query in each spelling of ``_QUERY_SPELLINGS``, urlencode's first."""
    base = options.get("public_url") or request.url
    if not isinstance(base, str) or not base:
        return []
    if not request.query:
        return [base]
    joiner = "&" if "?" in base else "?"
    return [base + joiner + query for query in _query_spellings(request.query)]


def signed_url(request: Request, options: Mapping[str, Any]) -> str:
    """The URL a provider signs, with the query as ``urlencode`` spells it (what ``sign`` uses)."""
    urls = signed_urls(request, options)
    return urls[0] if urls else ""


def _url_and_body_digest(request: Request, options: Mapping[str, Any]) -> str:
    # A NUL cannot occur in a URL, so URL and body cannot trade bytes.
    return hashlib.sha256(signed_url(request, options).encode() + b"\0" + request.body).hexdigest()


# --------------------------------------------------------------------------- schemes


class _Verifier:
    """The one verify loop: every combination of repeated header values, each on its own.

    A scheme implements ``_verify_one`` for a request with one value per header
    and names the headers it reads (``_checked_headers``).
    """

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        raise NotImplementedError

    def _verify_one(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        raise NotImplementedError

    def verified_request(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> Request | None:
        for candidate in request.combinations(self._checked_headers(options)):
            if self._verify_one(candidate, secrets, now=now, tolerance_seconds=tolerance_seconds, options=options):
                return candidate
        return None

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        found = self.verified_request(request, secrets, now=now, tolerance_seconds=tolerance_seconds, options=options)
        return found is not None


class _Signed(_Verifier):
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

    def signs_timestamp(self, options: Mapping[str, Any]) -> bool:
        return bool(getattr(self, "timestamped", False))

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

    Svix also sends the unbranded ``webhook-*`` set (``fallback_prefix``): the
    id, timestamp and signature are all read from ``{prefix}-*`` when all three
    are there, else all from the fallback set, never a mix of the two.
    """

    name: str = "standard-webhooks"
    prefix: str = "webhook"
    timestamped: bool = True
    fallback_prefix: str = ""

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

    def _prefixes(self) -> tuple[str, ...]:
        return (self.prefix, self.fallback_prefix) if self.fallback_prefix else (self.prefix,)

    def _prefix_for(self, request: Request) -> str:
        """The header set the request carries (the first one complete)."""
        for prefix in self._prefixes():
            if all(f"{prefix}-{part}" in request.header_values for part in ("id", "timestamp", "signature")):
                return prefix
        return self.prefix

    def _headers(self, request: Request) -> tuple[str | None, str | None, str | None]:
        prefix = self._prefix_for(request)
        return (
            request.header(f"{prefix}-id"),
            request.header(f"{prefix}-timestamp"),
            request.header(f"{prefix}-signature"),
        )

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return [f"{prefix}-{part}" for prefix in self._prefixes() for part in ("id", "timestamp", "signature")]

    @staticmethod
    def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
        return _b64(_hmac(key, f"{msg_id}.{timestamp}.".encode() + body))

    def _verify_one(
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
        return clean_id(request.header(f"{self._prefix_for(request)}-id"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return _body_field(request, "type", "eventType")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(f"{prefix}-signature" for prefix in self._prefixes())


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

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (self.header,)

    def _verify_one(
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

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("x-hub-signature-256",)

    def _verify_one(
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
    """Shopify: ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body, keyed with the app secret.

    Shopify's Events deliveries carry the same headers without the ``X-``
    (``Shopify-Hmac-Sha256``, ``Shopify-Topic``, ``Shopify-Event-Id``, ...),
    and for now both sets. As Shopify's own library does (shopify-app-js,
    ``shopify-api/lib/webhooks/validate.ts``), a request with
    ``Shopify-Hmac-Sha256`` is read from the un-prefixed set, signature, id
    and topic alike; any other from the ``X-Shopify-*`` set.
    """

    name: str = "shopify"
    timestamped: bool = False

    @staticmethod
    def _prefix_for(request: Request) -> str:
        return "shopify-" if "shopify-hmac-sha256" in request.header_values else "x-shopify-"

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("shopify-hmac-sha256", "x-shopify-hmac-sha256")

    def _verify_one(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        provided = request.header(self._prefix_for(request) + "hmac-sha256")
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
        prefix = self._prefix_for(request)
        return clean_id(request.header(prefix + "event-id")) or clean_id(request.header(prefix + "webhook-id"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header(self._prefix_for(request) + "topic"))

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-shopify-hmac-sha256", "shopify-hmac-sha256"})


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

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("x-slack-request-timestamp", "x-slack-signature")

    def _verify_one(
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
# Twilio posts a few dozen form fields. A form with more is not Twilio's, and
# parsing and sorting half a million forged fields before the HMAC check would
# cost about a second of CPU (parse_qsl counts the fields before parsing).
MAX_TWILIO_FORM_FIELDS = 1000


def _twilio_url_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with one (the scheme's default if it has
    none): twilio-python's ``RequestValidator.validate`` accepts a signature of the
    URL with its port removed or added (``remove_port``/``add_port``), whatever the port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [url]
    if not parts.hostname:
        return [url]
    at, _, hostport = parts.netloc.rpartition("@")
    userinfo = at + "@" if _ else ""
    host = hostport.rpartition(":")[0] if port is not None else hostport
    default = 443 if parts.scheme == "https" else 80  # as twilio-python's add_port
    without = urlunsplit(parts._replace(netloc=userinfo + host))
    with_port = url if port is not None else urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default}"))
    return list(dict.fromkeys([url, without, with_port]))


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
    URL comes from ``options["public_url"]`` (API Gateway rewrites host and path),
    tried with and without its port; the query string is rebuilt from API
    Gateway's decoded parameters in each spelling of ``_QUERY_SPELLINGS``.
    A form of more than ``MAX_TWILIO_FORM_FIELDS`` fields is refused unparsed.
    """

    name: str = "twilio"
    timestamped: bool = False

    @staticmethod
    def _string_to_sign(url: str, params: Sequence[tuple[str, str]]) -> str:
        return url + "".join(k + v for k, v in sorted(set(params)))

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("x-twilio-signature", "x-twilio-webhooks-signature-settings")

    def _verify_one(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        provided = request.header("x-twilio-signature")
        urls = signed_urls(request, options)
        if not provided or not urls:
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
                params = parse_qsl(
                    request.body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_TWILIO_FORM_FIELDS
                )
            except (UnicodeDecodeError, ValueError):
                return False
        signed_params = self._string_to_sign("", params)
        variants = dict.fromkeys(variant for url in urls for variant in _twilio_url_variants(url))
        candidates = [(variant + signed_params).encode() for variant in variants]
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

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("x-square-hmacsha256-signature",)

    def _verify_one(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
    ) -> bool:
        provided = request.header("x-square-hmacsha256-signature")
        urls = signed_urls(request, options)
        if not provided or not urls:
            return False
        result = False
        for secret in _active(secrets):
            for url in urls:
                result |= _equal(_b64(_hmac(secret.encode(), url.encode() + request.body)), provided)
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

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        header, *_, timestamp_header, _template = _generic_settings(options)
        return (header, timestamp_header) if timestamp_header else (header,)

    def _verify_one(
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

    def signs_timestamp(self, options: Mapping[str, Any]) -> bool:
        return _generic_settings(options)[4] is not None

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
        StandardWebhooks(name="svix", prefix="svix", fallback_prefix="webhook"),
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
    "MAX_HEADER_COMBINATIONS",
    "MAX_ID_LENGTH",
    "MAX_TWILIO_FORM_FIELDS",
    "SCHEMES",
    "Headers",
    "Request",
    "Scheme",
    "SchemeConfigError",
    "body_sha256",
    "clean_id",
    "get_scheme",
    "parse_timestamp",
    "signed_url",
    "signed_urls",
    "timestamp_in_window",
    "twilio_json_query",
]
