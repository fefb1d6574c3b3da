"""Any provider that sends ``prefix + encode(HMAC(secret, template))`` in one header, configured by options.

With ``signature_separator`` the header is a list of such items (PagerDuty
and CircleCI send ``v1=<hex>,v1=<hex>``, one per active secret during a
rotation); any item carrying ``prefix`` may match.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, Scheme, SchemeConfigError, SigningInput, any_key_signs
from .helpers import b64, body_sha256, field, header_or_field, json_body, mac, timestamp_in_window
from .request import Request

_ALGORITHMS = frozenset({"sha1", "sha256", "sha512"})
_TEMPLATE_PART = re.compile(r"(\{timestamp\}|\{body\})")
# How many of a body timestamp's units make a second.
_UNITS = {"seconds": 1, "milliseconds": 1000}
# A list header with more items than this is refused: each item is compared
# with every active secret's digest, so the sender must not choose the CPU a
# request costs. Providers send one item per secret they sign with (two
# during a rotation).
MAX_SIGNATURES = 10
# Base64 digests contain these, so a list of them cannot be split on one.
_BASE64_PUNCTUATION = frozenset("+/=")


def _settings(options: Mapping[str, Any]) -> tuple[str, str, str, str, str | None, str]:
    header = str(options.get("signature_header", "")).lower()
    algorithm = str(options.get("algorithm", "sha256")).lower()
    encoding = str(options.get("encoding", "hex")).lower()
    prefix = str(options.get("prefix", ""))
    timestamp_header = options.get("timestamp_header")
    timestamp_header = str(timestamp_header).lower() if timestamp_header else None
    template = str(options.get("signed_template") or ("{timestamp}.{body}" if timestamp_header else "{body}"))
    return header, algorithm, encoding, prefix, timestamp_header, template


def _provided_signatures(value: str, prefix: str, separator: str | None) -> list[str] | None:
    """The digests in a signature header value (prefix removed), or None if it is refused.

    Without a separator the whole value is one item and must carry the prefix.
    With one, items are split off and stripped of spaces and tabs; empty items
    and items without the prefix (another signature version) are skipped.
    """
    if separator is None:
        return [value[len(prefix) :]] if value.startswith(prefix) else None
    # maxsplit bounds the work on a huge header before the count is checked.
    items = value.split(separator, MAX_SIGNATURES)
    if len(items) > MAX_SIGNATURES:
        return None
    stripped = (item.strip(" \t") for item in items)
    return [item[len(prefix) :] for item in stripped if item and item.startswith(prefix)]


def _validate_separator(options: Mapping[str, Any], prefix: str, encoding: str) -> None:
    separator = options.get("signature_separator")
    if separator is None:
        return
    if not isinstance(separator, str) or not separator:
        raise SchemeConfigError('options.signature_separator must be a non-empty string, e.g. ","')
    if any(char.isalnum() for char in separator):
        raise SchemeConfigError(
            f"options.signature_separator must not contain letters or digits (got {separator!r}): a digest does"
        )
    if encoding == "base64" and _BASE64_PUNCTUATION & set(separator):
        raise SchemeConfigError(f"options.signature_separator {separator!r} occurs in base64 digests (+, / or =)")
    if separator in prefix:
        raise SchemeConfigError(f"options.signature_separator {separator!r} occurs in options.prefix {prefix!r}")


def _body_timestamp_in_window(request: Request, options: Mapping[str, Any], check: Check) -> bool:
    """Whether the body's ``timestamp_field`` is a whole number of ``timestamp_unit`` within the window.

    The window is scaled to the unit rather than the timestamp rounded, so it
    stays closed to the millisecond. A JSON number or a string of digits is
    read; a fraction, a sign, a boolean or a missing field is refused.
    """
    value = field(json_body(request.body), str(options["timestamp_field"]))
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    scale = _UNITS[str(options.get("timestamp_unit", "seconds"))]
    return timestamp_in_window(str(value), check.now * scale, check.tolerance_seconds * scale)


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


def _encoded(key: bytes, message: bytes, algorithm: str, encoding: str) -> str:
    raw = mac(key, message, algorithm)
    return raw.hex() if encoding == "hex" else b64(raw)


def _validate_body_timestamp(options: Mapping[str, Any], timestamp_header: str | None) -> None:
    timestamp_field = options.get("timestamp_field")
    if timestamp_field and timestamp_header:
        raise SchemeConfigError(
            "options.timestamp_header and options.timestamp_field are both set: a sender puts its timestamp in "
            "one place; keep timestamp_header if it is a header, timestamp_field if it is in the JSON body"
        )
    unit = options.get("timestamp_unit")
    if unit is not None and not timestamp_field:
        raise SchemeConfigError(
            "options.timestamp_unit applies to a body timestamp only: set timestamp_field, or remove timestamp_unit "
            "(a timestamp_header is always in seconds)"
        )
    if unit is not None and unit not in _UNITS:
        raise SchemeConfigError(f"options.timestamp_unit must be one of {sorted(_UNITS)}, got {unit!r}")


@dataclass(frozen=True)
class GenericHmac(Scheme):
    """Options and their defaults: docs/signatures.md, "generic-hmac options"."""

    name: str = "generic-hmac"
    timestamped: bool = False

    @staticmethod
    def validate_options(options: Mapping[str, Any]) -> None:
        header, algorithm, encoding, prefix, timestamp_header, template = _settings(options)
        if not header:
            raise SchemeConfigError("generic-hmac needs options.signature_header")
        if algorithm not in _ALGORITHMS:
            raise SchemeConfigError(f"options.algorithm must be one of {sorted(_ALGORITHMS)}")
        if encoding not in {"hex", "base64"}:
            raise SchemeConfigError("options.encoding must be hex or base64")
        if "{body}" not in template:
            raise SchemeConfigError("options.signed_template must contain {body}")
        if timestamp_header and "{timestamp}" not in template:
            # An unsigned timestamp would let anyone refresh a captured webhook.
            raise SchemeConfigError("options.signed_template must contain {timestamp} with a timestamp_header")
        if "{timestamp}" in template and not timestamp_header:
            raise SchemeConfigError("options.signed_template uses {timestamp} but no timestamp_header is set")
        _validate_body_timestamp(options, timestamp_header)
        _validate_separator(options, prefix, encoding)

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        header, *_, timestamp_header, _template = _settings(options)
        return (header, timestamp_header) if timestamp_header else (header,)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        try:
            self.validate_options(check.options)
        except SchemeConfigError:
            return False
        header, algorithm, encoding, prefix, timestamp_header, template = _settings(check.options)
        value = request.header(header)
        if not value:
            return False
        provided = _provided_signatures(value, prefix, check.options.get("signature_separator"))
        if not provided:
            return False
        if encoding == "hex":
            provided = [digest.lower() for digest in provided]
        timestamp = ""
        if timestamp_header:
            value = request.header(timestamp_header)
            if not check.in_window(value):
                return False
            assert value is not None
            timestamp = value
        # A body timestamp is signed with the body; read it only once the
        # signature holds, so an unsigned body is never parsed.
        message = _render(template, timestamp, request.body)
        signed = any_key_signs(keys, lambda key: [_encoded(key, message, algorithm, encoding)], provided)
        if signed and check.options.get("timestamp_field"):
            return _body_timestamp_in_window(request, check.options, check)
        return signed

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        self.validate_options(options)
        header, algorithm, encoding, prefix, timestamp_header, template = _settings(options)
        message = _render(template, str(delivery.timestamp), delivery.body)
        headers = {header: prefix + _encoded(self.signing_key(secret), message, algorithm, encoding)}
        if timestamp_header:
            headers[timestamp_header] = str(delivery.timestamp)
        return headers

    def _lookup(self, request: Request, options: Mapping[str, Any], kind: str) -> str | None:
        return header_or_field(request, options, kind)

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return self._lookup(request, options, "delivery_id") or body_sha256(request.body)

    # A configured header is outside the signature (only the template is
    # signed), so an id or type read from one counts as unsigned even when
    # the request lacks the header and the body field is used instead.
    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        return not options.get("delivery_id_header")

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        return not options.get("event_type_header")

    # A body timestamp is signed too (the body always is): a provider that
    # retries with a fresh one sends a new digest, so the id stays a key.
    def signs_timestamp(self, options: Mapping[str, Any]) -> bool:
        return _settings(options)[4] is not None or bool(options.get("timestamp_field"))

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        *_, timestamp_header, template = _settings(options)
        timestamp = (request.header(timestamp_header) or "") if timestamp_header else ""
        return hashlib.sha256(_render(template, timestamp, request.body)).hexdigest()

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return self._lookup(request, options, "event_type")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        header = _settings(options)[0]
        return frozenset({header} if header else ())
