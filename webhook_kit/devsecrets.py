"""Development signing secrets, derived from the source name: for the local pipeline only.

The local pipeline stores these in its (in-memory) Secrets Manager and ``send``
signs with them, so the two agree without any coordination. Anyone who reads
this file can compute them: never configure a real provider with one.
"""

from __future__ import annotations

import base64
import hashlib

_SEED = "webhook-kit local development secret (not for production)"


def dev_secret(source: str, scheme: str) -> str:
    """The development secret of ``source``, in the format its scheme's providers issue."""
    digest = hashlib.sha256(f"{_SEED}|{source}".encode()).digest()
    if scheme in ("standard-webhooks", "svix"):
        # whsec_ + base64 of the key bytes, as Standard Webhooks and Svix issue them.
        return "whsec_" + base64.b64encode(digest[:24]).decode("ascii")
    if scheme == "stripe":
        # Stripe's whsec_ secrets are used as text, not decoded.
        return "whsec_" + digest.hex()[:32]
    return digest.hex()[:40]
