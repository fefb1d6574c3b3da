"""Square: ``x-square-hmacsha256-signature``, base64 HMAC-SHA256 of notification URL + body."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import b64, body_field, mac, signed_url, signed_urls, url_and_body_digest
from .request import Request


@dataclass(frozen=True)
class Square(Scheme):
    """The notification URL is ``options["public_url"]``, exactly as registered with Square."""

    name: str = "square"
    timestamped: bool = False
    needs_public_url: ClassVar[bool] = True

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("x-square-hmacsha256-signature",)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        provided = request.header("x-square-hmacsha256-signature")
        urls = signed_urls(request, check.options)
        if not provided or not urls:
            return False
        return any_key_signs(keys, lambda key: [b64(mac(key, url.encode() + request.body)) for url in urls], [provided])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        url = signed_url(Request(headers={}, body=delivery.body, query=delivery.query), options)
        return {"x-square-hmacsha256-signature": b64(mac(self.signing_key(secret), url.encode() + delivery.body))}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "event_id")

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        return url_and_body_digest(request, options)

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return body_field(request, "type")

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-square-hmacsha256-signature", "x-square-signature"})
