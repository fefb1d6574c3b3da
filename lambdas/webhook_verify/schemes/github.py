"""GitHub: ``X-Hub-Signature-256: sha256=<hex>`` of the body (the legacy SHA-1 header is ignored)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Check, SigningInput, UnsignedHeadersScheme, any_key_signs
from .helpers import clean_id, mac
from .request import Request


@dataclass(frozen=True)
class GitHub(UnsignedHeadersScheme):
    name: str = "github"
    timestamped: bool = False

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("x-hub-signature-256",)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        header = request.header("x-hub-signature-256")
        if not header or not header.startswith("sha256="):
            return False
        return any_key_signs(keys, lambda key: [mac(key, request.body).hex()], [header[len("sha256=") :]])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        return {"x-hub-signature-256": "sha256=" + mac(self.signing_key(secret), delivery.body).hex()}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header("x-github-delivery"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header("x-github-event"))

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-hub-signature-256", "x-hub-signature"})
