"""From API Gateway's REST proxy event to what the verifier reads: the source, headers, query, URL, body.

Nothing here trusts the event: every field a sender controls is checked for
type and size, and a body is refused before it is decoded when it cannot fit.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from webhook_verify.schemes import Headers


def source_name(event: Mapping[str, Any]) -> str | None:
    """The ``{source}`` path parameter, else the last segment of the path."""
    params = event.get("pathParameters") or {}
    name = params.get("source") if isinstance(params, dict) else None
    if not isinstance(name, str) or not name:
        path = event.get("path") or ""
        name = path.rstrip("/").rsplit("/", 1)[-1] if isinstance(path, str) else None
    return name or None


def merged_headers(event: Mapping[str, Any]) -> Mapping[str, str]:
    """Lower-cased headers (a ``webhook_verify.schemes.Headers``) with every distinct value a proxy repeated.

    As a mapping, repeated values are joined with "," as HTTP allows (RFC 9110
    5.3) and identical repeats count once; the schemes try distinct values one
    at a time (``Request.combinations``).
    """
    pairs: list[tuple[str, str]] = []
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        for name, values in multi.items():
            if isinstance(values, list):
                pairs.extend((str(name), str(v)) for v in values)
    seen = {name.lower() for name, _ in pairs}
    single = event.get("headers")
    if isinstance(single, dict):
        for name, value in single.items():
            # multiValueHeaders already has every value when API Gateway sends both.
            if str(name).lower() not in seen and value is not None:
                pairs.append((str(name), str(value)))
    return Headers(pairs)


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
    """The exact bytes the provider sent; raises BadRequest or TooLarge.

    A request without a body (API Gateway sends ``null``) is the empty body:
    providers sign that too (Standard Webhooks signs ``{id}.{timestamp}.``),
    and an unsigned one fails verification like any other.
    """
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequest("body is not a string")
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
    return data


def utf8_encodable(headers: Mapping[str, str], query: tuple[tuple[str, str], ...]) -> bool:
    """False when a header or query string holds a lone surrogate (a JSON ``\\ud800`` escape)."""
    try:
        for name, value in (*headers.items(), *query):
            name.encode("utf-8")
            value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
