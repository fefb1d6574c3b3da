"""Providers that send a secret as it is instead of signing: a header token, HTTP basic auth, a body field.

Nothing is signed. Anyone who sees one delivery (a proxy, a log, the queue)
holds the secret and can forge the next, with any body, id or event type; the
kit can only refuse requests that do not carry it. The catalogue marks these
providers ``"verification": "shared-token"`` and the docs recommend the
source's IP allow-list with them (docs/signatures.md, "Shared tokens").

Where the secret travels, one of (options):

* ``token_header`` (and optional ``token_prefix``, e.g. ``"Bearer "``): the
  header's value is ``prefix + secret`` (GitLab's ``X-Gitlab-Token``, Okta's
  authentication field);
* ``basic_auth = true``: the secret is ``user:password`` and the request
  carries ``Authorization: Basic base64(user:password)`` (a URL with
  credentials, as Postmark's);
* ``token_field``: a dotted path in the JSON body holding the secret, or with
  ``token_items`` (a dotted path to a list) in every item of that list
  (Microsoft Graph's ``clientState`` in each notification of ``value``).

Secrets are compared as SHA-256 digests with ``hmac.compare_digest``, so the
time taken says nothing about the secret's content or its length.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Check, Scheme, SchemeConfigError, SigningInput
from .helpers import body_sha256, field, header_or_field, json_body
from .request import Request

_LOCATIONS = ("token_header", "basic_auth", "token_field")
_TEXT_OPTIONS = (
    "token_header",
    "token_prefix",
    "token_field",
    "token_items",
    "delivery_id_header",
    "delivery_id_field",
    "event_type_header",
    "event_type_field",
)
_AUTHORIZATION = "authorization"


def _header(options: Mapping[str, Any]) -> str | None:
    """The header that carries the secret, lower-cased (``authorization`` with basic auth), or None."""
    if options.get("basic_auth") is True:
        return _AUTHORIZATION
    name = options.get("token_header")
    return name.lower() if isinstance(name, str) and name else None


def _fingerprint(value: bytes) -> bytes:
    # Equal-length digests: compare_digest then leaks neither content nor length.
    return hashlib.sha256(value).digest()


def _matches_any(provided: bytes, fingerprints: Sequence[bytes]) -> bool:
    # No early exit: every key is compared, whichever matches.
    candidate = _fingerprint(provided)
    result = False
    for expected in fingerprints:
        result |= hmac.compare_digest(expected, candidate)
    return result


def basic_credentials(value: str | None) -> bytes | None:
    """The ``user:password`` bytes of an ``Authorization: Basic`` value (RFC 7617), or None.

    The scheme name is case-insensitive; the credentials must be canonical
    base64 (padding as encoding writes it) of text holding a colon. They are returned as bytes and
    compared as bytes, so no charset guess is made.
    """
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        encoded = token.encode("ascii")
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    # Only the one canonical spelling: extra padding or stray low bits are refused.
    if base64.b64encode(decoded) != encoded or b":" not in decoded:
        return None
    return decoded


def _usable_basic_secret(key: bytes) -> bool:
    # "user:password" with a password: a secret without one would let a
    # request with the user name alone through.
    _user, colon, password = key.partition(b":")
    return bool(colon and password)


def _body_tokens(request: Request, options: Mapping[str, Any]) -> list[Any] | None:
    """The values at ``token_field`` (one per item with ``token_items``), or None if the body has none."""
    document = json_body(request.body)
    path = str(options["token_field"])
    items_path = options.get("token_items")
    if not items_path:
        return [field(document, path)]
    items = field(document, str(items_path))
    if not isinstance(items, list) or not items:
        return None
    return [field(item, path) for item in items]


def _token_holders(document: Any, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The objects that hold the token's last path segment: the document, or each item of ``token_items``."""
    *parents, _last = str(options["token_field"]).split(".")
    items_path = options.get("token_items")
    items = field(document, str(items_path)) if items_path else [document]
    holders = []
    for item in items if isinstance(items, list) else []:
        holder = field(item, ".".join(parents)) if parents else item
        if isinstance(holder, dict):
            holders.append(holder)
    return holders


def _text(value: Any) -> bytes | None:
    return value.encode("utf-8", "replace") if isinstance(value, str) and value else None


@dataclass(frozen=True)
class SharedToken(Scheme):
    """Options and their meaning: docs/signatures.md, "shared-token options"."""

    name: str = "shared-token"
    timestamped: bool = False
    signs_body: ClassVar[bool] = False

    @staticmethod
    def validate_options(options: Mapping[str, Any]) -> None:
        for key in _TEXT_OPTIONS:
            value = options.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise SchemeConfigError(f"options.{key} must be non-empty text")
        basic = options.get("basic_auth")
        if basic is not None and not isinstance(basic, bool):
            raise SchemeConfigError("options.basic_auth must be true or false")
        chosen = [key for key in _LOCATIONS if options.get(key)]
        if len(chosen) != 1:
            raise SchemeConfigError(
                "shared-token needs exactly one of options.token_header (a header holding the secret), "
                "options.basic_auth = true (HTTP basic auth, the secret is user:password) or options.token_field "
                f"(a JSON body field holding the secret); got {', '.join(chosen) or 'none'}"
            )
        if options.get("token_prefix") and not options.get("token_header"):
            raise SchemeConfigError("options.token_prefix applies to options.token_header only")
        if options.get("token_items") and not options.get("token_field"):
            raise SchemeConfigError("options.token_items needs options.token_field: the field each item holds")
        header = _header(options)
        for kind in ("delivery_id", "event_type"):
            # The id and type are logged, answered and queued: never the secret's header or field.
            if header and str(options.get(f"{kind}_header", "")).lower() == header:
                raise SchemeConfigError(
                    f"options.{kind}_header is the header that carries the secret: the secret would be "
                    "logged and queued as the delivery id or event type"
                )
            token_field = options.get("token_field")
            if token_field and not options.get("token_items") and options.get(f"{kind}_field") == token_field:
                raise SchemeConfigError(
                    f"options.{kind}_field is the field that carries the secret: the secret would be "
                    "logged and queued as the delivery id or event type"
                )

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        header = _header(options)
        return (header,) if header else ()

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        try:
            self.validate_options(check.options)
        except SchemeConfigError:
            return False
        options = check.options
        if options.get("basic_auth") is True:
            fingerprints = [_fingerprint(key) for key in keys if _usable_basic_secret(key)]
            provided = basic_credentials(request.header(_AUTHORIZATION))
            return bool(fingerprints) and provided is not None and _matches_any(provided, fingerprints)
        fingerprints = [_fingerprint(key) for key in keys]
        if not fingerprints:
            return False
        if options.get("token_field"):
            tokens = _body_tokens(request, options)
            if not tokens:
                return False
            # Every item must carry a secret (any active one: a batch may mix
            # items sent before and after a rotation); no early exit.
            result = True
            for token in tokens:
                text = _text(token)
                result &= text is not None and _matches_any(text, fingerprints)
            return result
        header, prefix = _header(options), str(options.get("token_prefix", ""))
        value = request.header(header) if header else None
        if not value or not value.startswith(prefix) or len(value) == len(prefix):
            return False
        return _matches_any(value[len(prefix) :].encode("utf-8", "replace"), fingerprints)

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        self.validate_options(options)
        key = self.signing_key(secret)
        if options.get("basic_auth") is True:
            if not _usable_basic_secret(key):
                raise ValueError("with basic_auth the secret is user:password (a colon, then a password)")
            return {_AUTHORIZATION: "Basic " + base64.b64encode(key).decode("ascii")}
        if options.get("token_field"):
            # The provider writes the secret into the body, which sign cannot
            # rewrite: the body given must already carry it.
            tokens = _body_tokens(Request(headers={}, body=delivery.body), options)
            if not tokens or any(token != secret for token in tokens):
                raise ValueError(
                    f"the body must carry the secret in {options['token_field']}"
                    + (f" of every item of {options['token_items']}" if options.get("token_items") else "")
                )
            return {}
        header = _header(options)
        assert header is not None
        return {header: str(options.get("token_prefix", "")) + secret}

    def queued_body(self, request: Request, options: Mapping[str, Any]) -> bytes:
        """The body without the token when the provider sends it in the body (re-encoded JSON)."""
        if not options.get("token_field"):
            return request.body
        document = json_body(request.body)
        holders = _token_holders(document, options)
        last = str(options["token_field"]).rsplit(".", 1)[-1]
        if not any(last in holder for holder in holders):
            return request.body
        for holder in holders:
            holder.pop(last, None)
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def envelope(
        self,
        body: bytes,
        secret: str,
        *,
        timestamp: int,
        options: Mapping[str, Any],
        delivery_id: str | None = None,
    ) -> bytes:
        """The body with the secret written where the provider writes it (a test sender's body)."""
        if not options.get("token_field"):
            return body
        document = json_body(body)
        items_path = options.get("token_items")
        if items_path and isinstance(document, dict) and not isinstance(field(document, str(items_path)), list):
            document = {str(items_path): [document]}
        holders = _token_holders(document, options)
        if not holders:
            raise ValueError(f"the body must be JSON with objects to carry {options['token_field']}")
        last = str(options["token_field"]).rsplit(".", 1)[-1]
        for holder in holders:
            holder[last] = secret
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    def example_secret(self, seed: bytes) -> str:
        # user:password in form, so one secret serves every option set (basic auth needs the colon).
        return f"kit:{seed.hex()[:40]}"

    def _lookup(self, request: Request, options: Mapping[str, Any], kind: str) -> str | None:
        return header_or_field(request, options, kind)

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return self._lookup(request, options, "delivery_id") or body_sha256(request.body)

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return self._lookup(request, options, "event_type")

    # Nothing is signed: whoever holds the secret writes any id and type, so
    # the processor keys on the body's digest (replay_digest, the default).
    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        return False

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        return not (options.get("event_type_header") or options.get("event_type_field"))

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        header = _header(options)
        return frozenset({header} if header else ())
