"""Catalogue entries LINE, Pusher, EasyPost, Onfido, Cloudinary, OpenAI, Mux and Buildkite, checked against
what their providers publish.

Where the provider has a Python library it is an independent oracle: what the
catalogue's scheme signs must pass its check and a change must not; where it
can sign (Pusher's ``sign``, Cloudinary's ``compute_hex_hash``), its
signatures must verify here. Mux and Buildkite publish no Python verifier:
their entries are held to the cases their Node and Go SDKs' tests assert.
The published vectors verify through tests/unit/test_providers.py.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import Request, body_sha256, get_scheme

NOW = 1_700_000_000
VECTORS = Path(__file__).parent / "vectors" / "providers"
BODIES = [
    b'{"destination":"U8189cf6745fc0d808977bdb0b9f22995","events":[]}',
    '{"events":[{"type":"message","message":{"type":"text","text":"caf\u00e9 \u2713"}}]}\n'.encode(),
    b"{}",
]


def _signed(provider: str, body: bytes, secret: str, *, timestamp: int = NOW) -> Request:
    entry = PROVIDERS[provider]
    headers = get_scheme(entry.scheme).sign(body, secret, timestamp=timestamp, options=dict(entry.options))
    return Request(headers={name.lower(): value for name, value in headers.items()}, body=body)


def _verify(provider: str, request: Request, secret: str, *, now: float = NOW, **options: Any) -> bool:
    entry = PROVIDERS[provider]
    return get_scheme(entry.scheme).verify(
        request, [secret], now=now, tolerance_seconds=300, options={**entry.options, **options}
    )


def _read(provider: str, request: Request) -> tuple[str | None, str | None]:
    entry = PROVIDERS[provider]
    scheme = get_scheme(entry.scheme)
    return scheme.delivery_id(request, entry.options), scheme.event_type(request, entry.options)


# --------------------------------------------------------------------------- LINE

LINE_SECRET = "8c570fa6dd201bb328f1c1eac23a96d8"  # the shape of a channel secret: 32 hex digits


@pytest.mark.parametrize("body", BODIES)
def test_line_library_accepts_what_the_catalogue_entry_signs(body: bytes) -> None:
    pytest.importorskip("linebot")
    from linebot.v3.webhook import SignatureValidator

    request = _signed("line", body, LINE_SECRET)
    validator = SignatureValidator(LINE_SECRET)
    assert validator.validate(body.decode(), request.headers["x-line-signature"])
    assert not validator.validate(body.decode() + " ", request.headers["x-line-signature"])
    assert not SignatureValidator(LINE_SECRET + "x").validate(body.decode(), request.headers["x-line-signature"])


def test_line_is_keyed_on_the_body_and_reads_no_event_type_from_a_batch() -> None:
    request = _signed("line", BODIES[1], LINE_SECRET)
    assert _verify("line", request, LINE_SECRET)
    # A batch of events has no single id or type: the verifier keys it on the body's digest.
    assert _read("line", request) == (body_sha256(BODIES[1]), None)
    assert PROVIDERS["line"].answer is not None and PROVIDERS["line"].answer["status"] == 200


# --------------------------------------------------------------------------- Pusher

PUSHER_KEY, PUSHER_SECRET = "278d425bdf160c739803", "7ad3773142a6692b25b8"  # Pusher's docs' example app


def _pusher_body(time_ms: int) -> bytes:
    return json.dumps({"time_ms": time_ms, "events": [{"name": "channel_occupied", "channel": "test"}]}).encode()


def test_pusher_library_accepts_what_the_catalogue_entry_signs() -> None:
    pytest.importorskip("pusher")
    import pusher

    client = pusher.Pusher(app_id="4", key=PUSHER_KEY, secret=PUSHER_SECRET)
    body = _pusher_body(NOW * 1000)
    signature = _signed("pusher", body, PUSHER_SECRET).headers["x-pusher-signature"]
    with mock.patch("time.time", return_value=float(NOW)):
        assert client.validate_webhook(PUSHER_KEY, signature, body.decode()) == json.loads(body)
        assert client.validate_webhook(PUSHER_KEY, signature, body.decode() + " ") is None


def test_pusher_library_signature_is_accepted_by_the_catalogue_entry() -> None:
    pytest.importorskip("pusher")
    from pusher.signature import sign

    body = _pusher_body(NOW * 1000 - 299_000)
    request = Request(
        headers={"x-pusher-key": PUSHER_KEY, "x-pusher-signature": sign(PUSHER_SECRET, body.decode())}, body=body
    )
    assert _verify("pusher", request, PUSHER_SECRET)
    assert not _verify("pusher", request, PUSHER_SECRET + "x")


@pytest.mark.parametrize("offset_ms", [301_000, -301_000])
def test_pusher_time_ms_outside_the_window_is_refused_as_the_library_refuses_it(offset_ms: int) -> None:
    pytest.importorskip("pusher")
    import pusher

    body = _pusher_body(NOW * 1000 + offset_ms)
    request = _signed("pusher", body, PUSHER_SECRET)
    assert not _verify("pusher", request, PUSHER_SECRET)
    client = pusher.Pusher(app_id="4", key=PUSHER_KEY, secret=PUSHER_SECRET)
    with mock.patch("time.time", return_value=float(NOW)):
        assert client.validate_webhook(PUSHER_KEY, request.headers["x-pusher-signature"], body.decode()) is None


@pytest.mark.parametrize("body", [b'{"events":[]}', b'{"time_ms":"soon","events":[]}', b'{"time_ms":true}'])
def test_pusher_body_without_a_time_ms_in_milliseconds_is_refused(body: bytes) -> None:
    assert not _verify("pusher", _signed("pusher", body, PUSHER_SECRET), PUSHER_SECRET)


# --------------------------------------------------------------------------- EasyPost

EASYPOST_EVENT = json.dumps(
    {"id": "evt_0b3a8f1b5c2d4e6f8a9b0c1d2e3f4a5b", "object": "Event", "description": "tracker.updated", "result": {}},
    separators=(",", ":"),
).encode()


@pytest.mark.parametrize("secret", ["whsec_plain_ascii", "s\u00e9cret", "se\u0301cret", "\ufb01ligree"])
def test_easypost_library_accepts_what_the_catalogue_entry_signs(secret: str) -> None:
    pytest.importorskip("easypost")
    from easypost.errors import SignatureVerificationError
    from easypost.util import validate_webhook

    headers = {"X-Hmac-Signature": _signed("easypost", EASYPOST_EVENT, secret).headers["x-hmac-signature"]}
    assert validate_webhook(EASYPOST_EVENT, headers, secret)["id"] == "evt_0b3a8f1b5c2d4e6f8a9b0c1d2e3f4a5b"
    with pytest.raises(SignatureVerificationError):
        validate_webhook(EASYPOST_EVENT + b" ", headers, secret)


def test_easypost_secret_verifies_however_its_accents_were_typed() -> None:
    composed, decomposed = "s\u00e9cret", "se\u0301cret"
    assert composed != decomposed and unicodedata.normalize("NFKD", composed) == decomposed
    assert _verify("easypost", _signed("easypost", EASYPOST_EVENT, composed), decomposed)
    assert not _verify("easypost", _signed("easypost", EASYPOST_EVENT, composed), "secret")


@pytest.mark.parametrize(
    "value",
    ["", "hmac-sha256-hex=", "HMAC-SHA256-HEX={digest}", "hmac-sha256-hex={upper}", "{digest}", "sha256={digest}"],
)
def test_easypost_signature_in_another_spelling_is_refused(value: str) -> None:
    digest = _signed("easypost", EASYPOST_EVENT, "whsec").headers["x-hmac-signature"].removeprefix("hmac-sha256-hex=")
    header = value.format(digest=digest, upper=digest.upper())
    assert not _verify("easypost", Request(headers={"x-hmac-signature": header}, body=EASYPOST_EVENT), "whsec")


def test_easypost_reads_the_signed_event_id_and_description() -> None:
    request = _signed("easypost", EASYPOST_EVENT, "whsec")
    assert _read("easypost", request) == ("evt_0b3a8f1b5c2d4e6f8a9b0c1d2e3f4a5b", "tracker.updated")
    assert PROVIDERS["easypost"].delivery_id_signed() and PROVIDERS["easypost"].event_type_signed()


# --------------------------------------------------------------------------- Onfido

ONFIDO_TOKEN = "wU99mE6jJ7nXOLFwZ0tJymM1lpI15pZh"  # onfido-python's classic verification test token
ONFIDO_EVENTS = [
    b'{"payload":{"resource_type":"check","action":"check.completed","object":{"id":"f2302f45-227d-413d-ad61-'
    b'09ec077a086a","status":"complete","completed_at_iso8601":"2024-04-04T09:21:21Z","href":"https://api.onf'
    b'ido.com/v3.6/checks/f2302f45-227d-413d-ad61-09ec077a086a"}}}',
    b'{"payload":{"resource_type":"workflow_run","action":"workflow_run.completed","object":{"id":"bc77c6e5-753a'
    b'-4580-96a6-aaed3e5a8d19","status":"approved","completed_at_iso8601":"2024-07-10T12:49:09Z","href":"https:'
    b'//api.eu.onfido.com/v3.6/workflow_runs/bc77c6e5-753a-4580-96a6-aaed3e5a8d19"}}}',
]


@pytest.mark.parametrize("body", ONFIDO_EVENTS)
def test_onfido_library_accepts_what_the_catalogue_entry_signs(body: bytes) -> None:
    pytest.importorskip("onfido")
    from onfido.webhook_event_verifier import OnfidoInvalidSignatureError, WebhookEventVerifier

    signature = _signed("onfido", body, ONFIDO_TOKEN).headers["x-sha2-signature"]
    event = WebhookEventVerifier(ONFIDO_TOKEN).read_payload(body.decode(), signature)
    assert event is not None and event.payload.action.value == json.loads(body)["payload"]["action"]
    with pytest.raises(OnfidoInvalidSignatureError):
        WebhookEventVerifier(ONFIDO_TOKEN + "x").read_payload(body.decode(), signature)


def test_onfido_reads_the_signed_action_and_keys_on_the_body() -> None:
    request = _signed("onfido", ONFIDO_EVENTS[0], ONFIDO_TOKEN)
    assert _verify("onfido", request, ONFIDO_TOKEN)
    assert _read("onfido", request)[1] == "check.completed"
    assert PROVIDERS["onfido"].event_type_signed() and PROVIDERS["onfido"].delivery_id_signed()


def test_onfido_legacy_sha1_header_alone_is_refused() -> None:
    import hashlib
    import hmac

    legacy = hmac.new(ONFIDO_TOKEN.encode(), ONFIDO_EVENTS[0], hashlib.sha1).hexdigest()
    assert not _verify("onfido", Request(headers={"x-signature": legacy}, body=ONFIDO_EVENTS[0]), ONFIDO_TOKEN)


# --------------------------------------------------------------------------- Cloudinary

CLOUDINARY_SECRET = "X7qLTrsES31MzxxkxPPA-pAGGfU"  # pycloudinary's test API secret
UPLOAD = b'{"notification_type":"upload","public_id":"sample","version":1700000000,"resource_type":"image"}'


@pytest.fixture
def cloudinary_config() -> Any:
    cloudinary = pytest.importorskip("cloudinary")
    config = cloudinary.config()
    saved = config.api_secret
    config.api_secret = CLOUDINARY_SECRET
    with mock.patch("time.time", return_value=float(NOW)):
        yield cloudinary
    config.api_secret = saved


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_cloudinary_library_accepts_what_the_catalogue_entry_signs(cloudinary_config: Any, algorithm: str) -> None:
    from cloudinary.utils import verify_notification_signature

    headers = get_scheme("cloudinary").sign(UPLOAD, CLOUDINARY_SECRET, timestamp=NOW, options={"algorithm": algorithm})
    signature, timestamp = headers["x-cld-signature"], headers["x-cld-timestamp"]
    assert verify_notification_signature(UPLOAD.decode(), timestamp, signature, algorithm=algorithm)
    assert not verify_notification_signature(UPLOAD.decode() + " ", timestamp, signature, algorithm=algorithm)
    assert not verify_notification_signature(UPLOAD.decode(), str(NOW + 1), signature, algorithm=algorithm)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_cloudinary_library_signature_is_accepted_by_the_catalogue_entry(
    cloudinary_config: Any, algorithm: str
) -> None:
    from cloudinary.utils import compute_hex_hash

    timestamp = str(NOW - 299)
    signature = compute_hex_hash(UPLOAD.decode() + timestamp + CLOUDINARY_SECRET, algorithm)
    request = Request(headers={"x-cld-signature": signature, "x-cld-timestamp": timestamp}, body=UPLOAD)
    assert _verify("cloudinary", request, CLOUDINARY_SECRET)  # the entry: either hash, by the digest's length
    assert _verify("cloudinary", request, CLOUDINARY_SECRET, algorithm=algorithm)
    other = "sha256" if algorithm == "sha1" else "sha1"
    assert not _verify("cloudinary", request, CLOUDINARY_SECRET, algorithm=other)
    assert not _verify("cloudinary", request, CLOUDINARY_SECRET + "x", algorithm=algorithm)


@pytest.mark.parametrize("timestamp", [NOW - 301, NOW + 301])
def test_cloudinary_timestamp_outside_the_window_is_refused(timestamp: int) -> None:
    assert not _verify(
        "cloudinary", _signed("cloudinary", UPLOAD, CLOUDINARY_SECRET, timestamp=timestamp), CLOUDINARY_SECRET
    )


def test_cloudinary_timestamp_is_signed() -> None:
    request = _signed("cloudinary", UPLOAD, CLOUDINARY_SECRET)
    moved = Request(headers={**request.headers, "x-cld-timestamp": str(NOW - 1)}, body=UPLOAD)
    assert _verify("cloudinary", request, CLOUDINARY_SECRET)
    assert not _verify("cloudinary", moved, CLOUDINARY_SECRET)


def test_cloudinary_reads_the_signed_notification_type_and_keys_on_the_body() -> None:
    request = _signed("cloudinary", UPLOAD, CLOUDINARY_SECRET)
    assert _read("cloudinary", request) == (None, "upload")
    with pytest.raises(ValueError, match="algorithm"):
        get_scheme("cloudinary").sign(UPLOAD, CLOUDINARY_SECRET, timestamp=NOW, options={"algorithm": "md5"})
    assert not _verify("cloudinary", request, CLOUDINARY_SECRET, algorithm="md5")


# --------------------------------------------------------------------------- OpenAI

OPENAI_SECRET = "whsec_RdvaYFYUXuIFuEbvZHwMfYFhUf7aMYjYcmM24+Aj40c="  # openai-python's test secret
OPENAI_EVENT = (
    b'{"id":"evt_685c059ae3a481909bdc86819b066fb6","object":"event","created_at":1700000000,'
    b'"type":"batch.completed","data":{"id":"batch_abc123"}}'
)


def test_openai_library_accepts_what_the_catalogue_entry_signs() -> None:
    pytest.importorskip("openai")
    from openai import InvalidWebhookSignatureError, OpenAI

    entry = PROVIDERS["openai"]
    headers = get_scheme(entry.scheme).sign(
        OPENAI_EVENT, OPENAI_SECRET, timestamp=NOW, options=dict(entry.options), delivery_id="wh_685c059ae39c81"
    )
    client = OpenAI(api_key="sk-test", webhook_secret=OPENAI_SECRET)
    with mock.patch("time.time", return_value=float(NOW)):
        event = client.webhooks.unwrap(OPENAI_EVENT.decode(), headers)
        assert (event.id, event.type) == ("evt_685c059ae3a481909bdc86819b066fb6", "batch.completed")
        with pytest.raises(InvalidWebhookSignatureError):
            client.webhooks.verify_signature(OPENAI_EVENT.decode() + " ", headers)
        with pytest.raises(InvalidWebhookSignatureError):
            client.webhooks.verify_signature(OPENAI_EVENT.decode(), {**headers, "webhook-id": "wh_other"})


def test_openai_reads_the_signed_webhook_id_and_event_type() -> None:
    entry = PROVIDERS["openai"]
    scheme = get_scheme(entry.scheme)
    headers = scheme.sign(OPENAI_EVENT, OPENAI_SECRET, timestamp=NOW, options=dict(entry.options), delivery_id="wh_1")
    request = Request(headers=headers, body=OPENAI_EVENT)
    assert _verify("openai", request, OPENAI_SECRET)
    assert _read("openai", request) == ("wh_1", "batch.completed")
    assert entry.delivery_id_signed() and entry.event_type_signed()


# --------------------------------------------------------------------------- Mux (no Python verifier: Node SDK cases)

MUX_SECRET = "SuperSecret123"  # mux-node-sdk's webhook test secret
MUX_HASH = "854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7"  # of t=1565125718 and the body below
MUX_BODY, MUX_TIME = b'{"test":"body"}', 1565125718


def _mux(header: str, now: float = MUX_TIME) -> bool:
    return _verify("mux", Request(headers={"mux-signature": header}, body=MUX_BODY), MUX_SECRET, now=now)


@pytest.mark.parametrize(
    "header",
    [
        f"t={MUX_TIME},v2={MUX_HASH}",  # the SDK: "No v1 signatures found"
        MUX_HASH,  # "Unable to extract timestamp and signatures from header"
        f"t={MUX_TIME},t={MUX_TIME},v1={MUX_HASH}",
        f"v1={MUX_HASH}",
    ],
)
def test_mux_headers_the_sdk_refuses_are_refused(header: str) -> None:
    assert not _mux(header)


def test_mux_timestamp_six_minutes_old_is_refused_as_the_sdk_refuses_it() -> None:
    assert _mux(f"t={MUX_TIME},v1={MUX_HASH}")
    assert not _mux(f"t={MUX_TIME},v1={MUX_HASH}", now=MUX_TIME + 360)


def test_mux_reads_the_signed_event_id_and_type() -> None:
    event = b'{"type":"video.asset.ready","id":"3a56ac3d-33da-4366-855b-f592d898409d","object":{"type":"asset"}}'
    request = _signed("mux", event, MUX_SECRET)
    assert _verify("mux", request, MUX_SECRET)
    assert _read("mux", request) == ("3a56ac3d-33da-4366-855b-f592d898409d", "video.asset.ready")


# ------------------------------------------------------------------ Buildkite (no Python library: Go SDK cases)

BUILDKITE_TOKEN = "29b1ff5779c76bd48ba6705eb99ff970"  # go-buildkite's webhook test token
BUILDKITE_SIGNATURE = "timestamp=1642080837,signature=582d496ac2d869dd97a3101c4cda346288c49a742592daf582ec64c86449f79c"
BUILDKITE_TIME = 1642080837
# The body of go-buildkite's test, as the catalogue's vector file holds it.
BUILDKITE_PING = json.loads((VECTORS / "buildkite.json").read_text())["vectors"][0]["body"].encode()


def _buildkite(headers: dict[str, str], now: float = BUILDKITE_TIME) -> bool:
    return _verify("buildkite", Request(headers=headers, body=BUILDKITE_PING), BUILDKITE_TOKEN, now=now)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # go-buildkite: "no X-Buildkite-Signature or X-Buildkite-Token header present"
        {"x-buildkite-signature": "invalid"},  # "X-Buildkite-Signature format is incorrect"
        {"x-buildkite-signature": "timestamp=1642080837,signature=yo"},  # "error decoding signature"
        {"x-buildkite-signature": BUILDKITE_SIGNATURE.replace("f", "a", 1)},  # "payload signature check failed"
        {"x-buildkite-token": BUILDKITE_TOKEN},  # the plain token: not this entry
    ],
)
def test_buildkite_requests_the_go_sdk_refuses_are_refused_and_the_plain_token_too(headers: dict[str, str]) -> None:
    assert not _buildkite(headers)


def test_buildkite_signed_timestamp_is_held_to_the_window() -> None:
    assert _buildkite({"x-buildkite-signature": BUILDKITE_SIGNATURE}, now=BUILDKITE_TIME + 300)
    assert not _buildkite({"x-buildkite-signature": BUILDKITE_SIGNATURE}, now=BUILDKITE_TIME + 301)
    moved = BUILDKITE_SIGNATURE.replace(str(BUILDKITE_TIME), str(BUILDKITE_TIME + 1))
    assert not _buildkite({"x-buildkite-signature": moved})


def test_buildkite_reads_the_signed_event_and_keys_on_the_body() -> None:
    request = Request(
        headers={"x-buildkite-signature": BUILDKITE_SIGNATURE, "x-buildkite-event": "build.finished"},
        body=BUILDKITE_PING,
    )
    assert _read("buildkite", request) == (None, "ping")
    assert PROVIDERS["buildkite"].event_type_signed()
