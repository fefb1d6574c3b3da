"""Development signing secrets, derived from the source name: for the local pipeline only.

The local pipeline stores these in its (in-memory) Secrets Manager and ``send``
signs with them, so the two agree without any coordination. Anyone who reads
this file can compute them: never configure a real provider with one.
"""

from __future__ import annotations

import hashlib

from shared.schemes import get_scheme

_SEED = "webhook-kit local development secret (not for production)"


def dev_secret(source: str, scheme: str) -> str:
    """The development secret of ``source``, in the format its scheme's providers issue."""
    return get_scheme(scheme).example_secret(hashlib.sha256(f"{_SEED}|{source}".encode()).digest())
