"""The public-key schemes: Ed25519 (Discord, Telnyx, Standard Webhooks v1a) and ECDSA P-256 (SendGrid).

Their keys in the providers' own text forms and as test senders' private keys,
canonical signature spellings, the Discord PING, and that an HMAC-only verifier
never imports ``cryptography``. Official vectors are in vectors/providers/ and
vectors/schemes/ (test_providers.py, test_schemes.py); the providers' own
libraries as oracles are in test_schemes_asymmetric_oracles.py.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.verifier import FakeAws, api_event
from verifier.config import SourceConfig, VerifierConfig
from verifier.core import process
from webhook_verify.handshakes import Answer, Context, get_handshake
from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import SCHEMES, Request, body_sha256, get_scheme
from webhook_verify.schemes.public_keys import Ed25519Key
from webhook_verify.schemes.standard_webhooks import MAX_V1A_SIGNATURES

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_700_000_000
PUBLIC_KEY_SCHEMES = ("discord", "telnyx", "sendgrid")
BODY = b'{"id":"1234567890123456789","type":2,"data":{"id":"0ccc7b54","event_type":"message.received"}}'
quick = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _verify(scheme: str, headers: dict[str, str], body: bytes, secrets: list[str], now: int = NOW) -> bool:
    request = Request(headers={k.lower(): v for k, v in headers.items()}, body=body)
    return get_scheme(scheme).verify(request, secrets, now=now, tolerance_seconds=300, options={})


def _provider_public_text(scheme: str, private_pem: str) -> str:
    """The public key of ``private_pem`` written as the scheme's provider shows it."""
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public = private.public_key()
    if scheme == "sendgrid":
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex() if scheme == "discord" else base64.b64encode(raw).decode()


# --------------------------------------------------------------------------- cryptography stays out of HMAC verifiers

# The HMAC schemes checked (Twilio and the token schemes need a URL or options the
# generic helpers build; their verify paths import nothing but the standard library).
_HMAC_ONLY = """
import sys
sys.path.insert(0, "lambdas")
import webhook_verify.schemes, webhook_verify.handshakes, webhook_verify.providers
from webhook_verify.schemes import Request, get_scheme
assert "cryptography" not in sys.modules, "imported by the registry"
generic = {"signature_header": "X-Signature", "algorithm": "sha256", "encoding": "hex"}
checked = {"standard-webhooks": {}, "svix": {}, "stripe": {}, "github": {}, "shopify": {}, "slack": {},
           "paddle": {}, "square": {"public_url": "https://hooks.example.com/sq"}, "generic-hmac": generic}
for name, options in checked.items():
    scheme = get_scheme(name)
    secret = scheme.example_secret(bytes(range(32)))
    headers = scheme.sign(b'{"id":"x"}', secret, timestamp=1700000000, options=options)
    request = Request(headers={k.lower(): v for k, v in headers.items()}, body=b'{"id":"x"}')
    assert scheme.verify(request, [secret], now=1700000000, tolerance_seconds=300, options=options), name
    assert "cryptography" not in sys.modules, name
print("ok")
"""


def test_importing_the_schemes_and_verifying_hmac_never_imports_cryptography() -> None:
    # A fresh interpreter: this test process has long imported cryptography. Standard
    # Webhooks and Svix with whsec_ secrets are HMAC too: only a v1a key needs it.
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own snippet
        [sys.executable, "-c", _HMAC_ONLY], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok"


def test_verifying_a_public_key_scheme_imports_it_lazily() -> None:
    code = (
        "import sys; sys.path.insert(0, 'lambdas')\n"
        "from webhook_verify.schemes import Request, get_scheme\n"
        "assert 'cryptography' not in sys.modules\n"
        "request = Request(headers={'x-signature-ed25519': '00' * 64, 'x-signature-timestamp': '1'}, body=b'{}')\n"
        "get_scheme('discord').verify(request, ['00' * 32], now=1, tolerance_seconds=5, options={})\n"
        "print('cryptography' in sys.modules)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own snippet
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "True", done.stderr


@pytest.mark.parametrize("scheme", [*PUBLIC_KEY_SCHEMES, "standard-webhooks", "svix"])
def test_the_public_key_schemes_say_they_need_cryptography(scheme: str) -> None:
    assert SCHEMES[scheme].needs_cryptography


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("scheme", PUBLIC_KEY_SCHEMES)
@quick
@given(seed=st.binary(min_size=1, max_size=48), body=st.binary(max_size=256))
def test_the_providers_public_key_verifies_what_the_private_key_signs(scheme: str, seed: bytes, body: bytes) -> None:
    impl = get_scheme(scheme)
    private = impl.example_secret(seed)
    public = _provider_public_text(scheme, private)
    assert impl.key(private) == impl.key(public)
    headers = impl.sign(body, private, timestamp=NOW, options={})
    assert _verify(scheme, headers, body, [public])
    assert _verify(scheme, headers, body, [private])


@pytest.mark.parametrize("scheme", PUBLIC_KEY_SCHEMES)
def test_the_example_secret_is_a_private_key_derived_from_its_seed(scheme: str) -> None:
    impl = get_scheme(scheme)
    first, again, other = impl.example_secret(b"a" * 32), impl.example_secret(b"a" * 32), impl.example_secret(b"b" * 32)
    assert first == again != other
    assert first.startswith("-----BEGIN PRIVATE KEY-----")


@pytest.mark.parametrize("scheme", PUBLIC_KEY_SCHEMES)
def test_signing_with_the_public_key_is_refused_with_the_fix(scheme: str) -> None:
    impl = get_scheme(scheme)
    public = _provider_public_text(scheme, impl.example_secret(b"k" * 32))
    with pytest.raises(ValueError, match="private key"):
        impl.sign(b"{}", public, timestamp=NOW, options={})


def test_sendgrid_signs_deterministically_as_a_test_sender_should() -> None:
    # RFC 6979: send and the fuzzers get the same bytes for the same delivery.
    sendgrid = get_scheme("sendgrid")
    secret = sendgrid.example_secret(b"same" * 8)
    assert sendgrid.sign(BODY, secret, timestamp=NOW, options={}) == sendgrid.sign(
        BODY, secret, timestamp=NOW, options={}
    )


def test_discord_reads_its_public_key_in_either_case_and_nothing_else() -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(b"\x07" * 32).public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    discord = get_scheme("discord")
    assert discord.key(raw.hex()) == discord.key(raw.hex().upper()) == discord.key(f" {raw.hex()}\n") == raw
    for text in (raw.hex()[:-2], raw.hex() + "00", "zz" * 32, base64.b64encode(raw).decode(), ""):
        assert discord.key(text) is None


def test_telnyx_reads_the_base64_of_32_bytes_only() -> None:
    telnyx = get_scheme("telnyx")
    assert telnyx.key(base64.b64encode(b"\x01" * 32).decode()) == b"\x01" * 32
    for text in (base64.b64encode(b"\x01" * 31).decode(), "AQ" * 22, "01" * 32, "not base64!"):
        assert telnyx.key(text) is None


def test_sendgrid_reads_a_p256_verification_key_only() -> None:
    sendgrid = get_scheme("sendgrid")
    key = ec.derive_private_key(7, ec.SECP256R1()).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert sendgrid.key(base64.b64encode(der).decode()) == der
    p384 = ec.derive_private_key(7, ec.SECP384R1()).public_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    for other in (p384, rsa_key):
        spki = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert sendgrid.key(base64.b64encode(spki).decode()) is None
    ed_pem = get_scheme("discord").example_secret(b"x" * 32)
    assert sendgrid.key(ed_pem) is None  # an Ed25519 private key is not a P-256 one
    assert get_scheme("discord").key(sendgrid.example_secret(b"x" * 32)) is None
    x25519_pem = x25519.X25519PrivateKey.from_private_bytes(b"\x09" * 32).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for scheme in PUBLIC_KEY_SCHEMES:
        assert get_scheme(scheme).key(x25519_pem.decode()) is None


hostile_secrets = st.one_of(
    st.text(max_size=200),
    st.text(max_size=200).map(lambda tail: "-----BEGIN PRIVATE KEY-----\n" + tail),
    st.binary(max_size=120).map(lambda raw: "-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(raw).decode()),
    st.sampled_from(["whpk_", "whsk_", "whsec_"]).flatmap(
        lambda prefix: st.binary(max_size=80).map(lambda raw: prefix + base64.b64encode(raw).decode())
    ),
    st.just("-----BEGIN PRIVATE KEY-----" + "A" * 10_000),
)


@pytest.mark.parametrize("scheme", [*PUBLIC_KEY_SCHEMES, "standard-webhooks"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secrets=st.lists(hostile_secrets, max_size=3), body=st.binary(max_size=64))
def test_hostile_secrets_never_raise_and_never_verify_a_forgery(scheme: str, secrets: list[str], body: bytes) -> None:
    impl = get_scheme(scheme)
    forged = impl.sign(body, impl.example_secret(b"not any of these" * 2), timestamp=NOW, options={})
    assert not _verify(scheme, forged, body, secrets)


# --------------------------------------------------------------------------- signature spellings


def _non_canonical(signature: str) -> str | None:
    """The same bytes in base64 with a non-zero unused trailing bit, if the length has one."""
    stripped = signature.rstrip("=")
    if len(stripped) % 4 == 0:
        return None
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(stripped[-1])
    return stripped[:-1] + alphabet[last | 1] + signature[len(stripped) :]


@pytest.mark.parametrize(
    ("scheme", "header"),
    [("telnyx", "telnyx-signature-ed25519"), ("sendgrid", "x-twilio-email-event-webhook-signature")],
)
def test_a_non_canonical_base64_spelling_of_a_right_signature_is_refused(scheme: str, header: str) -> None:
    impl = get_scheme(scheme)
    secret = impl.example_secret(b"spelling" * 4)
    for attempt in range(20):  # ECDSA signatures vary in length: find one with unused bits
        body = b'{"n":%d}' % attempt
        headers = impl.sign(body, secret, timestamp=NOW, options={})
        spelled = _non_canonical(headers[header])
        if spelled is None:
            continue
        assert base64.b64decode(spelled) == base64.b64decode(headers[header])
        assert _verify(scheme, headers, body, [secret])
        assert not _verify(scheme, {**headers, header: spelled}, body, [secret])
        return
    pytest.fail("no signature with unused base64 bits")


def test_an_ed25519_signature_with_s_not_reduced_is_refused() -> None:
    # S + L verifies the same equation; RFC 8032 (5.1.7) and OpenSSL refuse S >= L, so a
    # right signature has one byte string only (docs/signatures.md, "Public keys").
    order = 2**252 + 27742317777372353535851937790883648493
    discord = get_scheme("discord")
    secret = discord.example_secret(b"malleable" * 4)
    headers = discord.sign(BODY, secret, timestamp=NOW, options={})
    raw = bytes.fromhex(headers["x-signature-ed25519"])
    s_value = int.from_bytes(raw[32:], "little")
    stretched = raw[:32] + (s_value + order).to_bytes(32, "little")
    assert _verify("discord", headers, BODY, [secret])
    assert not _verify("discord", {**headers, "x-signature-ed25519": stretched.hex()}, BODY, [secret])


def test_discord_reads_its_hex_signature_in_lower_case_only_as_discord_sends_it() -> None:
    # One spelling per signature (webhook_verify.schemes.base): an upper-case copy of a right
    # signature is another text, refused as the security fuzz expects.
    discord = get_scheme("discord")
    secret = discord.example_secret(b"case" * 8)
    headers = discord.sign(BODY, secret, timestamp=NOW, options={})
    assert headers["x-signature-ed25519"] == headers["x-signature-ed25519"].lower()
    assert _verify("discord", headers, BODY, [secret])
    for spelled in (headers["x-signature-ed25519"].upper(), " " + headers["x-signature-ed25519"]):
        assert not _verify("discord", {**headers, "x-signature-ed25519": spelled}, BODY, [secret])


@pytest.mark.parametrize("scheme", PUBLIC_KEY_SCHEMES)
def test_a_signature_outside_the_window_is_refused_though_it_verifies(scheme: str) -> None:
    impl = get_scheme(scheme)
    secret = impl.example_secret(b"window" * 6)
    headers = impl.sign(BODY, secret, timestamp=NOW - 301, options={})
    assert _verify(scheme, headers, BODY, [secret], now=NOW - 301)
    assert not _verify(scheme, headers, BODY, [secret], now=NOW)


# --------------------------------------------------------------------------- ids and types


def test_discord_ids_and_interaction_types_come_from_the_signed_body() -> None:
    discord = get_scheme("discord")
    for kind, name in ((1, "PING"), (2, "APPLICATION_COMMAND"), (5, "MODAL_SUBMIT"), (9, "9")):
        request = Request(headers={}, body=json.dumps({"id": "787053080478613555", "type": kind}).encode())
        assert discord.delivery_id(request, {}) == "787053080478613555"
        assert discord.event_type(request, {}) == name
    assert discord.event_type(Request(headers={}, body=b'{"type":true}'), {}) is None
    assert discord.new_delivery_id().isdigit()


def test_telnyx_reads_the_event_inside_or_without_its_data_envelope() -> None:
    telnyx = get_scheme("telnyx")
    wrapped = Request(headers={}, body=b'{"data":{"id":"e1","event_type":"message.received"},"meta":{"attempt":1}}')
    bare = Request(headers={}, body=b'{"id":"e2","event_type":"call.hangup","record_type":"event"}')
    assert (telnyx.delivery_id(wrapped, {}), telnyx.event_type(wrapped, {})) == ("e1", "message.received")
    assert (telnyx.delivery_id(bare, {}), telnyx.event_type(bare, {})) == ("e2", "call.hangup")


# --------------------------------------------------------------------------- Standard Webhooks v1a

V1A = json.loads((Path(__file__).parent / "vectors" / "schemes" / "standard-webhooks.json").read_text())["vectors"]
SVIX_V1A = next(vector for vector in V1A if vector["name"] == "svix-server-v1a-ed25519")
SVIX_PUBLIC = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="


def _std(headers: dict[str, str], body: bytes, secrets: list[str], now: int, ed25519: bool = True) -> bool:
    # v1a is verified only for a source that says its keys are Ed25519 (and so has the layer).
    return get_scheme("standard-webhooks").verify(
        Request(headers=headers, body=body), secrets, now=now, tolerance_seconds=300, options={"ed25519": ed25519}
    )


def test_v1a_is_not_verified_for_a_source_without_ed25519_so_it_never_needs_the_layer() -> None:
    body = SVIX_V1A["body"].encode()
    assert not _std(SVIX_V1A["headers"], body, [SVIX_PUBLIC], SVIX_V1A["now"], ed25519=False)
    scheme = get_scheme("standard-webhooks")
    assert (scheme.uses_cryptography({}), scheme.uses_cryptography({"ed25519": True})) == (False, True)


def test_the_svix_v1a_vector_verifies_with_its_whpk_public_key_and_its_whsk_secret_key() -> None:
    body = SVIX_V1A["body"].encode()
    assert _std(SVIX_V1A["headers"], body, [SVIX_PUBLIC], SVIX_V1A["now"])
    assert _std(SVIX_V1A["headers"], body, [SVIX_V1A["secret"]], SVIX_V1A["now"])
    scheme = get_scheme("standard-webhooks")
    assert scheme.key(SVIX_PUBLIC) == scheme.key(SVIX_V1A["secret"])
    assert isinstance(scheme.key(SVIX_PUBLIC), Ed25519Key)
    assert scheme.secret_for_key(scheme.key(SVIX_V1A["secret"])) == SVIX_PUBLIC


def test_a_v1a_signature_is_checked_only_against_public_keys_and_v1_only_against_hmac_keys() -> None:
    vector = SVIX_V1A
    body = vector["body"].encode()
    # The public key's 32 bytes as an HMAC secret: a v1a entry is never an HMAC digest.
    as_hmac = "whsec_" + SVIX_PUBLIC.removeprefix("whpk_")
    assert not _std(vector["headers"], body, [as_hmac], vector["now"])
    hmac_vector = next(v for v in V1A if v["name"] == "standard-webhooks-spec-vector")
    assert not _std(hmac_vector["headers"], body, [SVIX_PUBLIC], vector["now"])


def test_one_header_with_v1_and_v1a_verifies_with_either_kind_of_secret() -> None:
    hmac_vector = next(v for v in V1A if v["name"] == "standard-webhooks-spec-vector")
    assert hmac_vector["body"] == SVIX_V1A["body"]
    both = {**hmac_vector["headers"]}
    both["webhook-signature"] = (
        hmac_vector["headers"]["webhook-signature"] + " " + SVIX_V1A["headers"]["webhook-signature"]
    )
    body = hmac_vector["body"].encode()
    assert _std(both, body, [hmac_vector["secret"]], hmac_vector["now"])
    assert _std(both, body, [SVIX_PUBLIC], hmac_vector["now"])
    assert not _std(both, body + b" ", [hmac_vector["secret"], SVIX_PUBLIC], hmac_vector["now"])


@quick
@given(seed=st.binary(min_size=32, max_size=32), body=st.binary(max_size=256), other=st.binary(max_size=256))
def test_a_whsk_key_signs_v1a_that_its_whpk_key_verifies_and_nothing_else(
    seed: bytes, body: bytes, other: bytes
) -> None:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    whsk = "whsk_" + base64.b64encode(seed + public).decode()
    whpk = "whpk_" + base64.b64encode(public).decode()
    scheme = get_scheme("standard-webhooks")
    headers = scheme.sign(body, whsk, timestamp=NOW, options={}, delivery_id="msg_1")
    assert headers["webhook-signature"].startswith("v1a,")
    assert _std(headers, body, [whpk], NOW)
    assert _std(headers, body, ["whsk_" + base64.b64encode(seed).decode()], NOW)  # the 32-byte seed alone
    if other != body:
        assert not _std(headers, other, [whpk], NOW)
    assert not _std({**headers, "webhook-id": "msg_2"}, body, [whpk], NOW)


def test_a_whsk_key_whose_public_half_is_not_its_own_is_refused() -> None:
    seed = b"\x05" * 32
    assert get_scheme("standard-webhooks").key("whsk_" + base64.b64encode(seed + b"\x00" * 32).decode()) is None
    with pytest.raises(ValueError, match="whpk_"):
        get_scheme("standard-webhooks").sign(b"{}", SVIX_PUBLIC, timestamp=NOW, options={})


def test_more_v1a_signatures_than_the_cap_are_not_tried() -> None:
    vector = SVIX_V1A
    filler = "v1a," + base64.b64encode(b"\x00" * 64).decode()
    many = {**vector["headers"], "webhook-signature": " ".join([filler] * MAX_V1A_SIGNATURES)}
    many["webhook-signature"] += " " + vector["headers"]["webhook-signature"]
    assert not _std(many, vector["body"].encode(), [SVIX_PUBLIC], vector["now"])
    enough = {**vector["headers"]}
    enough["webhook-signature"] = " ".join(
        [filler] * (MAX_V1A_SIGNATURES - 1) + [vector["headers"]["webhook-signature"]]
    )
    assert _std(enough, vector["body"].encode(), [SVIX_PUBLIC], vector["now"])


# --------------------------------------------------------------------------- Discord through the verifier

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/discord"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-discord"
DISCORD_SECRET = get_scheme("discord").example_secret(b"discord through the verifier")


def _discord(body: bytes, *, sign: bool = True) -> tuple[Any, FakeAws]:
    provider = PROVIDERS["discord"]
    answer = provider.answer or {}
    source = SourceConfig(
        name="discord",
        scheme="discord",
        queue_url=QUEUE,
        secret_arn=ARN,
        options={},
        handshake=provider.handshake_kind,
        acknowledgement=Answer(answer["status"], answer["body"].encode(), answer["content_type"]),
    )
    aws = FakeAws()
    aws.set_secrets(ARN, _provider_public_text("discord", DISCORD_SECRET))
    headers = get_scheme("discord").sign(body, DISCORD_SECRET, timestamp=NOW, options={})
    if not sign:
        headers["x-signature-ed25519"] = "00" * 64
    event = api_event("discord", body, headers)
    config = VerifierConfig(sources={"discord": source}, max_body_bytes=1024 * 1024)
    return process(event, config=config, adapters=aws, now=float(NOW)).response(), aws


def test_a_signed_discord_ping_is_answered_pong_and_not_queued() -> None:
    response, aws = _discord(b'{"id":"787053080478613555","token":"t","type":1,"version":1}')
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"type": 1})
    assert response["headers"]["Content-Type"] == "application/json"
    assert aws.sent == []


def test_a_badly_signed_discord_ping_is_401_as_discords_security_check_expects() -> None:
    response, aws = _discord(b'{"id":"787053080478613555","token":"t","type":1,"version":1}', sign=False)
    assert response["statusCode"] == 401
    assert aws.sent == []


def test_a_signed_discord_command_is_queued_and_deferred_with_the_catalogues_answer() -> None:
    body = b'{"id":"787053080478613556","token":"t","type":2,"version":1,"data":{"name":"test"}}'
    response, aws = _discord(body)
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"type": 5})
    [(queue, message)] = aws.sent
    assert queue == QUEUE
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["delivery_id"] == "787053080478613556"
    assert attributes["event_type"] == "APPLICATION_COMMAND"


@pytest.mark.parametrize("body", [b'{"type":true}', b'{"type":"1"}', b"[1]", b"not json", b'{"type":2}'])
def test_the_discord_ping_handshake_answers_only_an_integer_type_1(body: bytes) -> None:
    context = Context(secrets=[], keys=[], options={})
    assert get_handshake("discord-ping").after_verification(Request(headers={}, body=body), context) is None


def test_the_discord_ping_is_the_discord_schemes_default_handshake() -> None:
    assert SCHEMES["discord"].default_handshake == PROVIDERS["discord"].handshake_kind == "discord-ping"


def test_a_sendgrid_batch_is_keyed_on_its_body() -> None:
    sendgrid = get_scheme("sendgrid")
    request = Request(headers={}, body=b'[{"sg_event_id":"a","event":"delivered"}]\r\n')
    assert sendgrid.delivery_id(request, {}) is None
    assert sendgrid.event_type(request, {}) is None
    assert sendgrid.replay_digest(request, {}) == body_sha256(request.body)
