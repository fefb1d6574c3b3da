"""The public-key schemes against their providers' own libraries, as independent oracles.

Discord: discord-interactions 0.4.0 (``verify_key``, on PyNaCl). Telnyx: telnyx
4.189.0 (``telnyx.lib.webhook_verification.verify_webhook_signature``, on PyNaCl).
SendGrid: sendgrid 6.12.5 (``EventWebhook.verify_signature``). None of them can
sign, so the other direction is PyNaCl (libsodium) signing the way the
providers' own tests sign, checked by our verifier. Standard Webhooks' libraries
(standardwebhooks 1.1.0, svix 2.9.1) do not implement ``v1a``: its evidence is
the Svix server's vector (vectors/schemes/standard-webhooks.json).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook_verify.schemes import Request, get_scheme

NOW = 1_700_000_000
VECTORS = Path(__file__).parent / "vectors" / "providers"
quick = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
bodies = st.binary(max_size=300).map(lambda raw: base64.b64encode(raw))  # text bodies: the libraries take str


def _vectors(name: str) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads((VECTORS / f"{name}.json").read_text())["vectors"]
    return vectors


def _public_text(scheme: str, private_pem: str) -> str:
    public = serialization.load_pem_private_key(private_pem.encode(), password=None).public_key()
    if scheme == "sendgrid":
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex() if scheme == "discord" else base64.b64encode(raw).decode()


def _ours(scheme: str, headers: dict[str, str], body: bytes, secret: str, now: int = NOW) -> bool:
    request = Request(headers={k.lower(): v for k, v in headers.items()}, body=body)
    return get_scheme(scheme).verify(request, [secret], now=now, tolerance_seconds=300, options={})


# --------------------------------------------------------------------------- Discord


@pytest.mark.parametrize("vector", _vectors("discord"), ids=lambda v: v["name"])
def test_discord_interactions_accepts_the_discord_vectors(vector: dict[str, Any]) -> None:
    from discord_interactions import verify_key

    headers = vector["headers"]
    body = vector["body"].encode()
    assert verify_key(body, headers["x-signature-ed25519"], headers["x-signature-timestamp"], vector["secret"])
    assert not verify_key(
        body + b" ", headers["x-signature-ed25519"], headers["x-signature-timestamp"], vector["secret"]
    )


@quick
@given(body=bodies, seed=st.binary(min_size=1, max_size=32))
def test_discord_interactions_accepts_our_signature_and_we_accept_pynacls(body: bytes, seed: bytes) -> None:
    from discord_interactions import verify_key
    from nacl.signing import SigningKey

    scheme = get_scheme("discord")
    secret = scheme.example_secret(seed)
    public = _public_text("discord", secret)
    headers = scheme.sign(body, secret, timestamp=NOW, options={})
    assert verify_key(body, headers["x-signature-ed25519"], headers["x-signature-timestamp"], public)
    assert not verify_key(body + b"x", headers["x-signature-ed25519"], headers["x-signature-timestamp"], public)

    # discord-interactions-js's tests sign timestamp + body and send the hex signature.
    signer = SigningKey(seed.ljust(32, b"\0"))
    theirs = signer.sign(str(NOW).encode() + body).signature.hex()
    their_public = signer.verify_key.encode().hex()
    assert _ours("discord", {"x-signature-ed25519": theirs, "x-signature-timestamp": str(NOW)}, body, their_public)


# --------------------------------------------------------------------------- Telnyx


def _telnyx_verifies(body: bytes, headers: dict[str, str], public: str, now: int = NOW) -> bool:
    from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature

    # It reads the clock itself (time.time()): pin it to the vector's.
    with mock.patch("time.time", return_value=float(now)):
        try:
            verify_webhook_signature(body, headers, public)
        except WebhookVerificationError:
            return False
    return True


@pytest.mark.parametrize("vector", _vectors("telnyx"), ids=lambda v: v["name"])
def test_telnyx_accepts_the_telnyx_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    assert _telnyx_verifies(body, vector["headers"], vector["secret"], vector["now"])
    assert not _telnyx_verifies(body + b" ", vector["headers"], vector["secret"], vector["now"])


@quick
@given(body=bodies, seed=st.binary(min_size=1, max_size=32))
def test_telnyx_accepts_our_signature_and_we_accept_pynacls(body: bytes, seed: bytes) -> None:
    from nacl.signing import SigningKey

    scheme = get_scheme("telnyx")
    secret = scheme.example_secret(seed)
    public = _public_text("telnyx", secret)
    headers = scheme.sign(body, secret, timestamp=NOW, options={})
    assert _telnyx_verifies(body, headers, public)
    assert not _telnyx_verifies(body + b"x", headers, public)

    # telnyx-python's own tests signed with PyNaCl: timestamp + b"|" + payload, base64.
    signer = SigningKey(seed.ljust(32, b"\0"))
    theirs = base64.b64encode(signer.sign(str(NOW).encode() + b"|" + body).signature).decode()
    their_public = base64.b64encode(signer.verify_key.encode()).decode()
    headers = {"telnyx-signature-ed25519": theirs, "telnyx-timestamp": str(NOW)}
    assert _ours("telnyx", headers, body, their_public)


# --------------------------------------------------------------------------- SendGrid


def _sendgrid_verifies(body: bytes, headers: dict[str, str], public: str) -> bool:
    from sendgrid.helpers.eventwebhook import EventWebhook

    hook = EventWebhook(public)
    return bool(
        hook.verify_signature(
            body.decode("utf-8"),
            headers["x-twilio-email-event-webhook-signature"],
            headers["x-twilio-email-event-webhook-timestamp"],
        )
    )


@pytest.mark.parametrize("vector", _vectors("sendgrid"), ids=lambda v: v["name"])
def test_sendgrid_accepts_the_sendgrid_vectors(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    assert _sendgrid_verifies(body, vector["headers"], vector["secret"])
    assert not _sendgrid_verifies(body + b" ", vector["headers"], vector["secret"])


@quick
@given(body=bodies, seed=st.binary(min_size=1, max_size=32))
def test_sendgrid_accepts_our_signature(body: bytes, seed: bytes) -> None:
    scheme = get_scheme("sendgrid")
    secret = scheme.example_secret(seed)
    public = _public_text("sendgrid", secret)
    headers = {k.lower(): v for k, v in scheme.sign(body, secret, timestamp=NOW, options={}).items()}
    assert _sendgrid_verifies(body, headers, public)
    assert not _sendgrid_verifies(body + b"x", headers, public)
    assert _ours("sendgrid", headers, body, public)


def test_sendgrids_library_and_ours_agree_on_a_signature_of_another_key() -> None:
    scheme = get_scheme("sendgrid")
    body = b'[{"event":"delivered","sg_event_id":"e1"}]\r\n'
    headers = {
        k.lower(): v for k, v in scheme.sign(body, scheme.example_secret(b"a"), timestamp=NOW, options={}).items()
    }
    other = _public_text("sendgrid", scheme.example_secret(b"b"))
    assert not _sendgrid_verifies(body, headers, other)
    assert not _ours("sendgrid", headers, body, other)
