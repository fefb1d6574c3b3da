"""Development secrets, derived from the source name: for the local pipeline only.

The local pipeline stores these in its (in-memory) Secrets Manager and ``send``
signs with them, so the two agree without any coordination. Anyone who reads
this file can compute them: never configure a real provider with one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from webhook_verify.handshakes import get_handshake
from webhook_verify.handshakes.post_challenges import CAPTURE_QUERY, CAPTURE_TOKEN
from webhook_verify.schemes import get_scheme

_SEED = "webhook-kit local development secret (not for production)"


def dev_secret(source: str, scheme: str) -> str:
    """The development secret of ``source``, in the format its scheme's providers issue."""
    return get_scheme(scheme).example_secret(hashlib.sha256(f"{_SEED}|{source}".encode()).digest())


def dev_tokens(source: str, handshake: str | None) -> dict[str, str]:
    """The named tokens ``source``'s handshake reads from its secret document (Meta's ``verify_token``).

    A source whose handshake captures its secret (Asana, Notion) starts armed locally: its
    ``capture_token`` is set, so a handshake sent to its URL with ``?capture=<that token>``
    is captured once (docs/handshakes.md).
    """
    names = get_handshake(handshake).tokens if handshake else ()
    if handshake and get_handshake(handshake).captures_secret:
        names = (*names, CAPTURE_TOKEN)
    return {name: hashlib.sha256(f"{_SEED}|{source}|{name}".encode()).hexdigest()[:32] for name in names}


def dev_secret_document(source: str, scheme: str, handshake: str | None) -> dict[str, Any]:
    """The secret document the local pipeline stores for ``source``: its secret, and its handshake's tokens."""
    return {"secrets": [dev_secret(source, scheme)], **dev_tokens(source, handshake)}


def capture_url(webhook_url: str, tokens: dict[str, str]) -> str | None:
    """The URL that arms a capture (``webhook_url?capture=<capture_token>``), if the source has a capture token."""
    token = tokens.get(CAPTURE_TOKEN)
    return f"{webhook_url}?{CAPTURE_QUERY}={token}" if token else None
