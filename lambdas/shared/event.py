"""What a user's webhook handler receives, and what it raises when a webhook can never succeed."""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_UNPARSED: Any = object()


class PermanentError(Exception):
    """Raise from a handler when retrying this webhook can never help.

    The processor sends the message to the source's dead-letter queue at once,
    with the exception's message as ``failure_reason``, instead of retrying it
    up to the queue's max receive count. Any other exception is retried.
    """


class InvalidJsonError(PermanentError, ValueError):
    """The body is not JSON: the same bytes will not parse on a retry either."""


@dataclass(frozen=True)
class WebhookEvent:
    """One verified webhook delivery, exactly as the provider sent it.

    ``body`` holds the byte-exact body (fetched from S3 first if it was too big
    for the queue). ``headers`` are the provider headers the verifier kept.

    ``event_type_signed`` is False when the provider sends the event type in a
    header its signature does not cover (GitHub, Shopify, a generic source's
    ``event_type_header``): whoever replays a captured request can write any
    type there, so a handler must check that the body is the kind of event it
    expects (docs/processor.md). ``delivery_id_signed`` says the same of the id.
    ``idempotency_keys`` are the values the processor deduplicated this
    delivery on (the id, or the digest of the signed material when the id is
    not signed: docs/signatures.md). ``verified`` is False only for a delivery
    accepted unverified because its source has ``enforce = false``
    (onboarding): then nothing in it is authenticated.
    """

    source: str
    delivery_id: str
    event_type: str
    received_at: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""
    delivery_id_signed: bool = True
    event_type_signed: bool = True
    idempotency_keys: tuple[str, ...] = ()
    verified: bool = True
    _json: Any = field(default=_UNPARSED, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A handler must not be able to change what later handlers or log lines see.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    def json(self) -> Any:
        """The body parsed as JSON, parsed on first use and cached.

        Raises InvalidJsonError (a PermanentError) when the body is not JSON.
        """
        if self._json is _UNPARSED:
            try:
                parsed = _json.loads(self.body)
            # RecursionError: a deeply nested document (valid JSON, but not
            # parseable here); retrying cannot change that either.
            except (ValueError, UnicodeDecodeError, RecursionError) as error:
                raise InvalidJsonError(f"body of {self.source} delivery {self.delivery_id} is not JSON") from error
            object.__setattr__(self, "_json", parsed)
        return self._json

    def text(self, encoding: str = "utf-8") -> str:
        return self.body.decode(encoding)

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by case-insensitive name (HTTP header names are case-insensitive)."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default
