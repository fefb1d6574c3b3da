"""EasyPost: ``X-Hmac-Signature: hmac-sha256-hex=<hex>``, HMAC-SHA256 of the body, keyed with the NFKD secret.

EasyPost's client libraries normalise the webhook secret to Unicode NFKD
before using its UTF-8 bytes as the key, so a secret typed with a composed
accent (``é``) and one typed decomposed (``e`` + combining acute) are the same
key. Everything else is a plain body HMAC; the prefix and the lower-case hex
are compared exactly as EasyPost writes them.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import IdShape, body_field, mac
from .request import Request

_HEADER = "x-hmac-signature"
_PREFIX = "hmac-sha256-hex="
# EasyPost event ids: "evt_" and 32 lower-case hex digits.
_EVENT_ID = IdShape("evt_", string.hexdigits[:16], 32)


@dataclass(frozen=True)
class EasyPost(Scheme):
    """The delivery id is the Event's ``id`` and the type its ``description`` (both in the signed body)."""

    name: str = "easypost"
    timestamped: bool = False
    id_shape: IdShape | None = _EVENT_ID

    def key(self, secret: str) -> bytes | None:
        return unicodedata.normalize("NFKD", secret).encode()

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return (_HEADER,)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        value = request.header(_HEADER)
        if not value or not value.startswith(_PREFIX):
            return False
        return any_key_signs(keys, lambda key: [mac(key, request.body).hex()], [value[len(_PREFIX) :]])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        return {_HEADER: _PREFIX + mac(self.signing_key(secret), delivery.body).hex()}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "id")

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "description")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({_HEADER})
