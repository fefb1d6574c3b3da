"""Where a provider states the API version a delivery was rendered with, and reading it from a delivery.

A provider that versions its payloads says which version rendered each one:
Stripe in the signed body (``api_version``), Shopify in a header its signature
does not cover (``X-Shopify-API-Version``), Twitch EventSub in the signed body
(``subscription.version``). The place is written ``body:<dotted JSON path>``
or ``header:<name>``: in a provider's catalogue entry (``api_version_from``),
or in a source's own ``api_version_from`` setting for anything else.

A version is read only when it looks like one (1 to 64 characters of letters,
digits and ``._+-``, starting with a letter or digit: ``2024-06-20``,
``2025-03-31.basil``, ``2024-07``, ``1``), so whatever else a sender writes
there never reaches a router pattern or a log line. A version read from the
body is covered by the signature; one read from a header is not, and anyone
replaying a captured delivery can change it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
# An HTTP header name (RFC 9110 token) and a dotted path of JSON object keys.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
_BODY_PATH = re.compile(r"[A-Za-z0-9_$-]{1,64}(?:\.[A-Za-z0-9_$-]{1,64}){0,7}")

Place = Literal["body", "header"]


@dataclass(frozen=True)
class ApiVersionFrom:
    """Where a delivery states its API version: ``body`` (a dotted JSON path) or ``header`` (a name)."""

    place: Place
    name: str

    @classmethod
    def parse(cls, spec: object) -> ApiVersionFrom:
        """``body:<path>`` or ``header:<name>``; ValueError saying what is wrong and what is expected."""
        if not isinstance(spec, str):
            raise ValueError("must be text: 'body:<dotted JSON path>' or 'header:<header name>'")
        place, _, name = spec.partition(":")
        if place == "body" and _BODY_PATH.fullmatch(name):
            return cls("body", name)
        if place == "header" and _HEADER_NAME.fullmatch(name):
            return cls("header", name)
        raise ValueError(
            f"{spec!r} is not 'body:<dotted JSON path>' (e.g. body:api_version) "
            "or 'header:<header name>' (e.g. header:X-Shopify-API-Version)"
        )

    def __str__(self) -> str:
        return f"{self.place}:{self.name}"

    def read(self, headers: Mapping[str, str], body: bytes | None = None, *, document: Any = None) -> str | None:
        """The version this delivery states, or None when it states none that looks like a version.

        For a body place, ``document`` (the body already parsed) saves parsing
        ``body`` again; header names are compared case-insensitively.
        """
        if self.place == "header":
            wanted = self.name.lower()
            value: Any = next((v for k, v in headers.items() if k.lower() == wanted), None)
        else:
            if document is None and body is not None:
                # The verifier's cache: the scheme has usually just parsed these bytes for the id and type.
                from webhook_verify.schemes.helpers import json_body

                document = json_body(body)
            value = document
            for part in self.name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return value if isinstance(value, str) and VERSION.fullmatch(value) else None

    def signed(self, *, verified: bool = True) -> bool:
        """Whether the signature covers the version: read from the body of a delivery that verified."""
        return self.place == "body" and verified
