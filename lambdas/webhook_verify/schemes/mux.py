"""Mux: ``Mux-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]``, hex HMAC-SHA256 of ``{t}.{body}``.

Stripe's layout under another header: exactly one ``t``, one or more ``v1``
(any may match), items of other versions ignored. The secret is the webhook's
signing secret (one per endpoint), the HMAC key as UTF-8 text.
"""

from __future__ import annotations

from .timestamp_hex import TimestampAndHexSignatures

MUX = TimestampAndHexSignatures(
    name="mux",
    header="mux-signature",
    separator=",",
    timestamp_key="t",
    signature_key="v1",
    joiner=b".",
    id_field="id",
    type_field="type",
)
