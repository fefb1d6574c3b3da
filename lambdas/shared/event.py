"""What a user's webhook handler receives, and what it raises when a webhook can never succeed."""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from webhook_verify.api_version import ApiVersionFrom

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
    (onboarding): then nothing in it is authenticated. ``api_version`` is the
    provider's API version that rendered the payload, where the source says
    where deliveries state it (``api_version_from``) and this one does;
    ``api_version_signed`` says whether the signature covers it (a header's
    never is).
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
    # Where the source's deliveries state their API version (the ``api_version`` property reads it).
    api_version_from: ApiVersionFrom | None = field(default=None, repr=False)
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

    @property
    def api_version(self) -> str | None:
        """The provider's API version that rendered this payload, when the delivery states one (else None).

        Read from the header or body field ``api_version_from`` names; a body
        that is not JSON states none. Only a value shaped like a version is
        returned (``webhook_verify.api_version.VERSION``).
        """
        where = self.api_version_from
        if where is None:
            return None
        if where.place == "header":
            return where.read(self.headers)
        try:
            document = self.json()
        except InvalidJsonError:
            return None
        return where.read(self.headers, document=document)

    @property
    def api_version_signed(self) -> bool:
        """Whether the signature covers ``api_version``: read from the body of a delivery that verified."""
        where = self.api_version_from
        return where is not None and self.api_version is not None and where.signed(verified=self.verified)

    def text(self, encoding: str = "utf-8") -> str:
        return self.body.decode(encoding)

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by case-insensitive name (HTTP header names are case-insensitive)."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default
