"""Slack: ``X-Slack-Signature: v0=<hex>`` of ``v0:{X-Slack-Request-Timestamp}:{body}``."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import IdShape, clean_id, field, json_body, mac
from .request import Request

_EVENT_ID = IdShape("Ev", string.ascii_uppercase + string.digits, 9)


def _slack_document(body: bytes) -> Any:
    """Slack posts JSON (Events API) or a form whose ``payload`` field is JSON (interactivity)."""
    document = json_body(body)
    if document is not None:
        return document
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None
    if "payload" in form:
        return json_body(form["payload"].encode("utf-8"))
    return None


@dataclass(frozen=True)
class Slack(Scheme):
    name: str = "slack"
    timestamped: bool = True
    id_shape: IdShape | None = _EVENT_ID
    default_handshake: ClassVar[str | None] = "slack-url-verification"

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("x-slack-request-timestamp", "x-slack-signature")

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        timestamp = request.header("x-slack-request-timestamp")
        provided = request.header("x-slack-signature")
        if not provided or not check.in_window(timestamp):
            return False
        message = f"v0:{timestamp}:".encode() + request.body
        return any_key_signs(keys, lambda key: ["v0=" + mac(key, message).hex()], [provided])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        digest = mac(self.signing_key(secret), f"v0:{delivery.timestamp}:".encode() + delivery.body).hex()
        return {"x-slack-request-timestamp": str(delivery.timestamp), "x-slack-signature": "v0=" + digest}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(field(_slack_document(request.body), "event_id"))

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        document = _slack_document(request.body)
        return clean_id(field(document, "event.type")) or clean_id(field(document, "type"))

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-slack-signature"})
