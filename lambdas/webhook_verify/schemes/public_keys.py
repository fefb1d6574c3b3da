"""Ed25519 and ECDSA P-256 keys and signatures for the public-key schemes, on the ``cryptography`` package.

``cryptography`` is imported inside the functions, never at module level: a
verifier whose sources all use HMAC never loads it (its cold start stays as it
was), and only the schemes with ``needs_cryptography`` reach these functions.

A source's secret is its provider's public key, in the provider's own text
form; each scheme decodes that form itself. For test senders (``send``, the
local pipeline, the tests) a secret may instead be a private key as PKCS#8 PEM
(``-----BEGIN PRIVATE KEY-----``, RFC 5208 / RFC 8410): the scheme derives the
public key from it to verify, and signs with it. ``example_secret`` makes such
a key deterministically from a seed.

Nothing here raises on text a sender controls: a key or signature that does
not decode, or a signature that does not verify, is ``None`` or ``False``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from typing import Any

# No provider's key text is near this long (a PEM P-256 private key is about 240
# characters); a longer secret is not parsed.
MAX_KEY_TEXT = 4096
PRIVATE_PEM = "-----BEGIN PRIVATE KEY-----"
ED25519_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
# A DER ECDSA P-256 signature is at most 72 bytes; anything longer is not parsed.
MAX_DER_SIGNATURE_BYTES = 80
# The order of the P-256 group (FIPS 186-4, D.1.2.3): private scalars lie in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def strict_b64decode(text: str) -> bytes | None:
    """The bytes of canonical, padded standard base64 ``text``, else None.

    Canonical: re-encoding gives the same text, so unused trailing bits are zero
    and a near miss of a right signature's spelling does not pass.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def is_private_pem(secret: str) -> bool:
    return secret.lstrip().startswith(PRIVATE_PEM)


def _seed(purpose: bytes, material: bytes) -> bytes:
    return hashlib.sha256(b"webhook-kit test key|" + purpose + b"|" + material).digest()


def _pem(private_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    pem: bytes = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode("ascii")


def _load_private_pem(secret: str) -> Any:
    """The private key in PEM ``secret``, or None."""
    if len(secret) > MAX_KEY_TEXT or not is_private_pem(secret):
        return None
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(secret.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm):
        return None


# --------------------------------------------------------------------------- Ed25519


class Ed25519Key(bytes):
    """A raw 32-byte Ed25519 public key, marked as one: a scheme whose secrets may be
    HMAC keys or public keys (Standard Webhooks ``whsec_`` / ``whpk_``) keeps both in
    one list of keys and tells them apart by type."""

    __slots__ = ()


def ed25519_private_pem(material: bytes) -> str:
    """A PKCS#8 PEM Ed25519 private key whose seed is derived from ``material`` (tests, ``send``)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return _pem(Ed25519PrivateKey.from_private_bytes(_seed(b"ed25519", material)))


def ed25519_private_key(secret: str) -> Any:
    """The ``Ed25519PrivateKey`` in PEM ``secret``, or None."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = _load_private_pem(secret)
    return key if isinstance(key, Ed25519PrivateKey) else None


def ed25519_private_from_seed(seed: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(seed)


def ed25519_raw_public(private_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    raw: bytes = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw


def ed25519_public_from_pem(secret: str) -> bytes | None:
    """The raw 32-byte public key of the Ed25519 private key in PEM ``secret``, or None."""
    key = ed25519_private_key(secret)
    return ed25519_raw_public(key) if key is not None else None


@functools.lru_cache(maxsize=64)
def _ed25519_public(raw: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def ed25519_verify(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` (64 bytes) is the Ed25519 signature of ``message`` under ``public_raw``."""
    from cryptography.exceptions import InvalidSignature

    if len(public_raw) != ED25519_KEY_BYTES or len(signature) != ED25519_SIGNATURE_BYTES:
        return False
    key = _ed25519_public(bytes(public_raw))
    if key is None:
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


# --------------------------------------------------------------------------- ECDSA P-256


def p256_private_pem(material: bytes) -> str:
    """A PKCS#8 PEM P-256 private key whose scalar is derived from ``material`` (tests, ``send``)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    scalar = int.from_bytes(_seed(b"p256", material), "big") % (_P256_ORDER - 1) + 1
    return _pem(ec.derive_private_key(scalar, ec.SECP256R1()))


def p256_private_key(secret: str) -> Any:
    """The P-256 ``EllipticCurvePrivateKey`` in PEM ``secret``, or None."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = _load_private_pem(secret)
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    return None


def p256_spki(public_key: Any) -> bytes:
    """The DER SubjectPublicKeyInfo of a P-256 public key."""
    from cryptography.hazmat.primitives import serialization

    der: bytes = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def p256_public_from_pem(secret: str) -> bytes | None:
    """The DER SubjectPublicKeyInfo of the P-256 private key in PEM ``secret``, or None."""
    key = p256_private_key(secret)
    return p256_spki(key.public_key()) if key is not None else None


@functools.lru_cache(maxsize=64)
def _p256_public(spki: bytes) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    return None


def p256_canonical_spki(der: bytes) -> bytes | None:
    """``der`` re-encoded if it is a P-256 SubjectPublicKeyInfo (one spelling per key), else None."""
    key = _p256_public(bytes(der))
    return p256_spki(key) if key is not None else None


def p256_verify(spki: bytes, signature: bytes, message: bytes) -> bool:
    """Whether DER ``signature`` is an ECDSA P-256 / SHA-256 signature of ``message`` under ``spki``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if not signature or len(signature) > MAX_DER_SIGNATURE_BYTES:
        return False
    key = _p256_public(bytes(spki))
    if key is None:
        return False
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def p256_sign(private_key: Any, message: bytes) -> bytes:
    """A DER ECDSA P-256 / SHA-256 signature, deterministic (RFC 6979): a test sender
    signing the same message twice sends the same bytes, as with HMAC. A verifier
    cannot tell it from a randomised one."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    signature: bytes = private_key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return signature
