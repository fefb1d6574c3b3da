"""What the schemes share: constant-time comparison, the timestamp window, ids, body fields, signed URLs.

Timestamp policy (every scheme that signs a timestamp):

* the timestamp must be an integer of Unix seconds written as 1 to 20 ASCII
  digits (no sign, no fraction, no spaces); anything else is rejected;
* it is accepted when ``now - tolerance <= ts <= now + tolerance``: a closed,
  symmetric window. A timestamp from the future is as suspicious as an old one
  (a clock that runs ahead, or a signature minted to outlive the window), so it
  gets no more slack than the tolerance itself, which also absorbs clock skew.
  At exactly ``tolerance`` seconds either way the webhook is accepted; one
  second more and it is rejected. A negative tolerance accepts nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from .request import Request

# A delivery id or event type longer than this is not trusted as a key.
MAX_ID_LENGTH = 256

_TIMESTAMP = re.compile(r"[0-9]{1,20}")
# Printable ASCII only: ids go into SQS attributes, DynamoDB keys and logs.
_ID_CHARS = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")

BASE62 = string.ascii_letters + string.digits


def equal(expected: str, provided: str) -> bool:
    # compare_digest refuses non-ASCII str; bytes never raise.
    return hmac.compare_digest(expected.encode("ascii"), provided.encode("utf-8", "replace"))


def any_equal(expected: str, provided: Iterable[str]) -> bool:
    # No early exit: every candidate is compared, so timing says nothing about
    # which one (if any) matched.
    result = False
    for candidate in provided:
        result |= equal(expected, candidate)
    return result


def mac(key: bytes, message: bytes, digest: str = "sha256") -> bytes:
    return hmac.new(key, message, digest).digest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


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


@dataclass(frozen=True)
class IdShape:
    """How a provider spells its delivery ids, so a test sender's ids look like the real ones."""

    prefix: str
    alphabet: str
    length: int

    def new(self) -> str:
        return self.prefix + "".join(secrets.choice(self.alphabet) for _ in range(self.length))


# The last body parsed and its document: the delivery id and the event type are
# both read from the body, and a 1 MB body should be parsed once, not twice.
# Holding the bytes object keeps its identity unique while it is cached.
_last_parsed: tuple[bytes, Any] | None = None


def json_body(body: bytes) -> Any:
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


def field(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a JSON document, or None."""
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def body_field(request: Request, *paths: str) -> str | None:
    """The first of ``paths`` in the JSON body that holds an id-like value."""
    document = json_body(request.body)
    for path in paths:
        found = clean_id(field(document, path))
        if found is not None:
            return found
    return None


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


def url_and_body_digest(request: Request, options: Mapping[str, Any]) -> str:
    # A NUL cannot occur in a URL, so URL and body cannot trade bytes.
    return hashlib.sha256(signed_url(request, options).encode() + b"\0" + request.body).hexdigest()


def header_or_field(request: Request, options: Mapping[str, Any], kind: str) -> str | None:
    """A value the options place in a header (``<kind>_header``), else in a body field (``<kind>_field``)."""
    header = options.get(f"{kind}_header")
    if header:
        found = clean_id(request.header(str(header).lower()))
        if found is not None:
            return found
    path = options.get(f"{kind}_field")
    return body_field(request, str(path)) if path else None
