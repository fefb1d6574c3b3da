"""Shopify: ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the body, keyed with the app secret."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, SigningInput, UnsignedHeadersScheme, any_key_signs
from .helpers import b64, clean_id, mac
from .request import Request


@dataclass(frozen=True)
class Shopify(UnsignedHeadersScheme):
    """Shopify's Events deliveries carry the same headers without the ``X-``
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

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        provided = request.header(self._prefix_for(request) + "hmac-sha256")
        if not provided:
            return False
        return any_key_signs(keys, lambda key: [b64(mac(key, request.body))], [provided])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        return {"x-shopify-hmac-sha256": b64(mac(self.signing_key(secret), delivery.body))}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        prefix = self._prefix_for(request)
        return clean_id(request.header(prefix + "event-id")) or clean_id(request.header(prefix + "webhook-id"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header(self._prefix_for(request) + "topic"))

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-shopify-hmac-sha256", "shopify-hmac-sha256"})
