"""The provider catalogue: what the kit knows about each service that sends webhooks.

A source may name its provider (``provider = "github"`` in webhook-kit.toml)
instead of a scheme and its options: the entry supplies them, and says where
the provider puts its delivery id and event type, what it expects as an
answer, the replay window and retries it documents, whether it publishes its
source addresses, and how strongly a delivery can be authenticated at all.

One JSON file per provider in ``catalogue/``, checked on import: its scheme is
registered and accepts its options, and its ``answer`` is one the verifier can
send (``Answer.acknowledgement``). Every entry is backed by a vector from the
provider's own documentation or SDK test suite
(``tests/unit/vectors/providers/<name>.json``, or the scheme's vectors when the
provider is the scheme; ``tests/unit/test_providers.py`` keeps it so), and
docs/providers.md is generated from the catalogue
(``python -m webhook_kit providers --markdown``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from webhook_verify.api_version import ApiVersionFrom
from webhook_verify.handshakes import HANDSHAKES, Answer
from webhook_verify.schemes import SCHEMES, SchemeConfigError

CATALOGUE = Path(__file__).with_name("catalogue")
PROVIDER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")

# How far a delivery can be authenticated: a signature over the bytes; a secret the
# provider sends as it is (a token or basic auth: anyone who sees one request can
# forge the next); nothing at all. The weaker two want the source's IP allow-list.
Verification = Literal["signature", "shared-token", "none"]
VERIFICATIONS: tuple[Verification, ...] = ("signature", "shared-token", "none")


class CatalogueError(ValueError):
    """A catalogue entry that cannot work; names the file and the field."""


@dataclass(frozen=True)
class Provider:
    """One provider's entry (docs/providers.md shows every field)."""

    name: str
    title: str
    scheme: str
    docs: str
    verification: Verification
    delivery_id: str
    event_type: str
    acknowledgement: str
    replay_window: str
    retries: str
    options: Mapping[str, Any] = field(default_factory=dict)
    handshake: str | None = None
    ip_ranges: str | None = None
    notes: str = ""
    # The handshake the kit answers for it (webhook_verify.handshakes), when it has one.
    handshake_kind: str | None = None
    # What the provider expects as the answer to an accepted webhook, when a 202
    # with the delivery id will not do: {"status": 200, "body": "[accepted]", "content_type": ...}.
    answer: Mapping[str, Any] | None = None
    # Where each delivery states the API version that rendered it, when the provider versions its payloads.
    api_version_from: ApiVersionFrom | None = None

    @property
    def weaker(self) -> bool:
        """Whether a delivery cannot be authenticated by a signature (the IP allow-list is recommended)."""
        return self.verification != "signature"

    @property
    def answered_handshake(self) -> str | None:
        """The handshake the kit answers for this provider: its entry's, else its scheme's default."""
        return self.handshake_kind or SCHEMES[self.scheme].default_handshake

    def delivery_id_signed(self) -> bool:
        return SCHEMES[self.scheme].delivery_id_signed(self.options)

    def event_type_signed(self) -> bool:
        return SCHEMES[self.scheme].event_type_signed(self.options)


_REQUIRED = ("title", "scheme", "docs", "verification", "delivery_id", "event_type", "acknowledgement")
_TEXT = (
    *_REQUIRED,
    "replay_window",
    "retries",
    "handshake",
    "ip_ranges",
    "notes",
    "handshake_kind",
    "api_version_from",
)


def _entry(path: Path) -> Provider:
    where = f"{CATALOGUE.name}/{path.name}"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CatalogueError(f"{where} is not JSON: {error}") from None
    name = path.stem
    if not PROVIDER_NAME.fullmatch(name):
        raise CatalogueError(f"{where}: a provider's name is 1-32 lower-case letters, digits and inner hyphens")
    unknown = sorted(set(raw) - {*_TEXT, "options", "answer"})
    if unknown:
        raise CatalogueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = [key for key in _REQUIRED if not isinstance(raw.get(key), str) or not raw[key]]
    if missing:
        raise CatalogueError(f"{where}: {', '.join(missing)} required (text)")
    for key in _TEXT:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise CatalogueError(f"{where}: {key} must be text")
    if raw["scheme"] not in SCHEMES:
        raise CatalogueError(f"{where}: scheme {raw['scheme']!r} is not one of {', '.join(sorted(SCHEMES))}")
    if raw["verification"] not in VERIFICATIONS:
        raise CatalogueError(f"{where}: verification must be one of {', '.join(VERIFICATIONS)}")
    for key in ("docs", "ip_ranges"):
        if raw.get(key) is not None and not raw[key].startswith("https://"):
            raise CatalogueError(f"{where}: {key} must be an https:// link to the provider's documentation")
    kind = raw.get("handshake_kind")
    if kind is not None and kind not in HANDSHAKES:
        raise CatalogueError(f"{where}: handshake_kind {kind!r} is not one of {', '.join(sorted(HANDSHAKES))}")
    if kind is not None and not raw.get("handshake"):
        raise CatalogueError(f"{where}: handshake (its description) is required with handshake_kind")
    answer = raw.get("answer")
    if answer is not None:
        try:
            Answer.acknowledgement(answer)
        except ValueError as error:
            raise CatalogueError(f"{where}: answer {error}") from None
    try:
        api_version_from = ApiVersionFrom.parse(raw["api_version_from"]) if raw.get("api_version_from") else None
    except ValueError as error:
        raise CatalogueError(f"{where}: api_version_from {error}") from None
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise CatalogueError(f"{where}: options must be an object")
    try:
        SCHEMES[raw["scheme"]].validate_options(options)
    except SchemeConfigError as error:
        raise CatalogueError(f"{where}: {error}") from None
    return Provider(
        name=name,
        title=raw["title"],
        scheme=raw["scheme"],
        docs=raw["docs"],
        verification=raw["verification"],
        delivery_id=raw["delivery_id"],
        event_type=raw["event_type"],
        acknowledgement=raw["acknowledgement"],
        replay_window=raw.get("replay_window") or "not documented",
        retries=raw.get("retries") or "not documented",
        options=MappingProxyType(dict(options)),
        handshake=raw.get("handshake"),
        ip_ranges=raw.get("ip_ranges"),
        notes=raw.get("notes") or "",
        handshake_kind=kind,
        answer=MappingProxyType(dict(answer)) if answer is not None else None,
        api_version_from=api_version_from,
    )


def load(directory: Path = CATALOGUE) -> dict[str, Provider]:
    """Every entry of a catalogue directory, by name, in name order."""
    return {path.stem: _entry(path) for path in sorted(directory.glob("*.json"))}


PROVIDERS: Mapping[str, Provider] = MappingProxyType(load())


def get_provider(name: str) -> Provider:
    """The catalogue's entry ``name``; KeyError names the closest ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, PROVIDERS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown provider {name!r}{hint} (python -m webhook_kit providers lists them)") from None


__all__ = ["CATALOGUE", "PROVIDERS", "VERIFICATIONS", "CatalogueError", "Provider", "get_provider", "load"]
