"""Any provider that sends ``prefix + encode(HMAC(secret, template))`` in one header, configured by options."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, Scheme, SchemeConfigError, SigningInput, any_key_signs
from .helpers import b64, body_field, body_sha256, clean_id, mac
from .request import Request

_ALGORITHMS = frozenset({"sha1", "sha256", "sha512"})
_TEMPLATE_PART = re.compile(r"(\{timestamp\}|\{body\})")


def _settings(options: Mapping[str, Any]) -> tuple[str, str, str, str, str | None, str]:
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


def _encoded(key: bytes, message: bytes, algorithm: str, encoding: str) -> str:
    raw = mac(key, message, algorithm)
    return raw.hex() if encoding == "hex" else b64(raw)


@dataclass(frozen=True)
class GenericHmac(Scheme):
    """Options (docs/runtime-contract.md): ``signature_header`` (required),
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
        header, algorithm, encoding, _prefix, timestamp_header, template = _settings(options)
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

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        header, *_, timestamp_header, _template = _settings(options)
        return (header, timestamp_header) if timestamp_header else (header,)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        try:
            self.validate_options(check.options)
        except SchemeConfigError:
            return False
        header, algorithm, encoding, prefix, timestamp_header, template = _settings(check.options)
        provided = request.header(header)
        if not provided or not provided.startswith(prefix):
            return False
        provided = provided[len(prefix) :]
        if encoding == "hex":
            provided = provided.lower()
        timestamp = ""
        if timestamp_header:
            value = request.header(timestamp_header)
            if not check.in_window(value):
                return False
            assert value is not None
            timestamp = value
        message = _render(template, timestamp, request.body)
        return any_key_signs(keys, lambda key: [_encoded(key, message, algorithm, encoding)], [provided])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        self.validate_options(options)
        header, algorithm, encoding, prefix, timestamp_header, template = _settings(options)
        message = _render(template, str(delivery.timestamp), delivery.body)
        headers = {header: prefix + _encoded(self.signing_key(secret), message, algorithm, encoding)}
        if timestamp_header:
            headers[timestamp_header] = str(delivery.timestamp)
        return headers

    def _lookup(self, request: Request, options: Mapping[str, Any], kind: str) -> str | None:
        header = options.get(f"{kind}_header")
        if header:
            found = clean_id(request.header(str(header).lower()))
            if found is not None:
                return found
        path = options.get(f"{kind}_field")
        if path:
            return body_field(request, str(path))
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
        return _settings(options)[4] is not None

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        *_, timestamp_header, template = _settings(options)
        timestamp = (request.header(timestamp_header) or "") if timestamp_header else ""
        return hashlib.sha256(_render(template, timestamp, request.body)).hexdigest()

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return self._lookup(request, options, "event_type")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        header = _settings(options)[0]
        return frozenset({header} if header else ())
