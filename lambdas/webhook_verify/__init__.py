"""webhook_verify: a webhook provider's signature checked over the exact bytes, on any platform.

    from webhook_verify import verify

    result = verify(provider="github", url=url, headers=headers, body=raw_body, secrets=[secret])
    if result.accepted:
        ...  # result.delivery_id, result.event_type, result.body

``verify`` (``webhook_verify.api``) answers a typed ``Verification``
(``webhook_verify.check``): accepted, a handshake's answer, or rejected with a
reason code, with the delivery id and event type and whether the signature
covers each. The package is standard-library Python; the public-key schemes
(Ed25519, ECDSA, RSA) import ``cryptography`` when first used. It holds no AWS
code: the AWS kit around it (webhook-kit) adds what verifying alone cannot,
durable buffering before the 2xx, exactly-once processing, dead letters and
alarms (README.md, "The library alone").

Importing the package costs nothing: ``verify`` and ``Verification`` load on
first use, so the Lambda verifier, which imports the subpackages directly,
does not pay for the catalogue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webhook_verify.api import verify
    from webhook_verify.check import Verification
    from webhook_verify.keys import KeyFetcher

__all__ = ["KeyFetcher", "Verification", "verify"]


def __getattr__(name: str) -> Any:
    if name == "verify":
        from webhook_verify.api import verify

        return verify
    if name == "Verification":
        from webhook_verify.check import Verification

        return Verification
    if name == "KeyFetcher":
        from webhook_verify.keys import KeyFetcher

        return KeyFetcher
    raise AttributeError(f"module 'webhook_verify' has no attribute {name!r}")
