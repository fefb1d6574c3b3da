"""What the certificate schemes share (AWS SNS, PayPal): an RSA signature checked with the
public key of an X.509 certificate that the request names by URL.

The URL is the sender's claim, so it is checked before anything is fetched:
``https``, exactly one of the provider's documented hosts (no port, no user
info, no query), a path of the provider's shape. The verifier's HTTP client
(``verifier.web``) checks the host again and fetches over TLS with bounded time
and size, caching per cold start; a fetch that fails raises ``KeyUnavailable``
(503, the provider retries), never a 401 and never a 2xx. The certificate
itself must be current at the request's ``now``, name the provider in its
subject and hold an RSA key of 2048 bits or more. Its chain is not checked
here: it came over TLS from the provider's own host, which is what vouches
for it.

``cryptography`` is imported inside the functions only: an HMAC-only verifier
never loads it (``Scheme.needs_cryptography``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

from .base import Check, Scheme

# No provider's signature is near this long (an RSA-8192 signature is 1,368 base64 characters).
MAX_SIGNATURE_CHARS = 1400
MAX_CERTIFICATE_URL_LENGTH = 512
# RSA keys below this size are refused whatever the certificate says.
MIN_RSA_BITS = 2048
HASHES = ("sha1", "sha256")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def decoded_signature(value: Any) -> bytes | None:
    """The bytes of a base64 signature, or None when it is not short, strict, canonical base64."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_SIGNATURE_CHARS or not _BASE64.fullmatch(value):
        return None
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    # Only the canonical spelling: another letter in the last place can decode to the same bytes.
    return decoded if base64.b64encode(decoded).decode("ascii") == value else None


def certificate_key(pem: bytes, *, now: float, subjects: Callable[[str], bool]) -> Any | None:
    """The RSA public key of the PEM certificate ``pem`` if it is current at ``now`` and its
    subject's common name passes ``subjects``; else None (never raises)."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        certificate = x509.load_pem_x509_certificate(pem)
        if not certificate.not_valid_before_utc.timestamp() <= now <= certificate.not_valid_after_utc.timestamp():
            return None
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(names) != 1 or not isinstance(names[0].value, str) or not subjects(names[0].value.lower()):
            return None
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
            return None
        return key
    except Exception:
        return None


def rsa_signs(key: Any, signature: bytes, message: bytes, digest: str) -> bool:
    """Whether ``signature`` is ``key``'s PKCS #1 v1.5 signature of ``message`` with ``digest``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    algorithm = hashes.SHA1() if digest == "sha1" else hashes.SHA256()  # noqa: S303 (SNS SignatureVersion 1)
    try:
        key.verify(signature, message, padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def rsa_sign(private_key_pem: str, message: bytes, digest: str) -> str:
    """The base64 PKCS #1 v1.5 signature of ``message`` (test senders only: the provider signs for real)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = _rsa_private_key(private_key_pem)
    algorithm = hashes.SHA1() if digest == "sha1" else hashes.SHA256()  # noqa: S303
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), algorithm)).decode("ascii")


@functools.lru_cache(maxsize=8)
def _rsa_private_key(private_key_pem: str) -> Any:
    """The loaded test key, kept: loading checks the RSA key (about 36 ms), signing takes 1 ms."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("signing_key must be an RSA private key (PEM)")
    return key


def signing_key(options: Mapping[str, Any], scheme: str) -> str:
    """The test sender's private key from ``options["signing_key"]`` (never a verifier option)."""
    key = options.get("signing_key")
    if not isinstance(key, str) or "PRIVATE KEY" not in key:
        raise ValueError(
            f"{scheme} is signed by the provider's private key: a test sender passes its own test key as "
            'options["signing_key"] (webhook_kit.local.certificates.signing_options)'
        )
    return key


class CertificateScheme(Scheme):
    """A scheme whose public key comes from a certificate the request names by URL."""

    needs_cryptography: ClassVar[bool] = True
    # The hosts its certificates (and confirmation links) may be on: the verifier's
    # HTTP client refuses every other host whatever a scheme asks for.
    key_hosts: ClassVar[re.Pattern[str]]

    def fetch_key(self, url: str, check: Check, *, subjects: Callable[[str], bool]) -> Any | None:
        """The public key of the certificate at ``url`` (already checked by the scheme), or None.

        Raises ``KeyUnavailable`` when the certificate cannot be fetched now.
        """
        if check.fetch is None:
            return None
        return certificate_key(check.fetch(url), now=check.now, subjects=subjects)

    def validate_options(self, options: Mapping[str, Any]) -> None:
        from .base import SchemeConfigError

        if "signing_key" in options:
            raise SchemeConfigError(
                f"options.signing_key: {self.name} is verified with the provider's certificate; a private key "
                "belongs to a test sender, never to a source's configuration"
            )


def key_host_patterns(schemes: Collection[Scheme]) -> tuple[re.Pattern[str], ...]:
    """The hosts the certificate schemes among ``schemes`` may fetch from (for ``verifier.web``)."""
    return tuple(scheme.key_hosts for scheme in schemes if isinstance(scheme, CertificateScheme))
