"""Signature schemes: published vectors, providers' own libraries as oracles, ids, timestamps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.schemes import (
    HEADER_SIGNED,
    OPTIONS,
    PUBLIC_URL,
    TIMESTAMPED,
    secret_for,
    signed_request,
    verify,
)
from tests.unit import test_providers_c as providers_c
from tests.unit import test_providers_d as providers_d
from tests.unit import test_providers_e as providers_e
from tests.unit import test_schemes_certificates as certificates
from tests.unit.test_schemes_asymmetric_oracles import (
    test_discord_interactions_accepts_our_signature_and_we_accept_pynacls,
    test_sendgrid_accepts_our_signature,
    test_telnyx_accepts_our_signature_and_we_accept_pynacls,
)
from tests.unit.test_schemes_shared_token import test_the_secret_in_its_header_is_accepted_and_any_other_value_is_not
from webhook_verify.schemes import (
    SCHEMES,
    GenericHmac,
    Request,
    SchemeConfigError,
    get_scheme,
    parse_timestamp,
    twilio_json_query,
)

# One file per scheme: vectors/schemes/<scheme>.json, each vector naming its source.
VECTOR_FILES = sorted((Path(__file__).parent / "vectors" / "schemes").glob("*.json"))
VECTORS = [vector for path in VECTOR_FILES for vector in json.loads(path.read_text())["vectors"]]
NOW = 1_700_000_000


def _vector_request(vector: dict[str, Any], body: bytes | None = None) -> Request:
    return Request(
        headers=vector["headers"],
        body=vector["body"].encode() if body is None else body,
        url="https://internal.execute-api.example/prod/webhooks/x",
        query=tuple(tuple(pair) for pair in vector.get("query", [])),
    )


def _verify_vector(vector: dict[str, Any], request: Request, secret: str) -> bool:
    return get_scheme(vector["scheme"]).verify(
        request, [secret], now=vector["now"], tolerance_seconds=300, options=vector.get("options", {})
    )


# --------------------------------------------------------------------------- published vectors


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_published_vector_verifies(vector: dict[str, Any]) -> None:
    assert _verify_vector(vector, _vector_request(vector), vector["secret"])


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_published_vector_with_one_byte_changed_is_rejected(vector: dict[str, Any]) -> None:
    body = bytearray(vector["body"].encode())
    body[-1] ^= 0x01
    assert not _verify_vector(vector, _vector_request(vector, bytes(body)), vector["secret"])


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_published_vector_with_another_secret_is_rejected(vector: dict[str, Any]) -> None:
    other = "whsec_" + base64.b64encode(b"another key").decode() if vector["secret"].startswith("whsec_") else "x"
    assert not _verify_vector(vector, _vector_request(vector), other)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_our_signer_reproduces_published_vector(vector: dict[str, Any]) -> None:
    scheme = get_scheme(vector["scheme"])
    body = vector["body"].encode()
    headers = vector["headers"]
    ts = int(headers.get("webhook-timestamp") or headers.get("svix-timestamp") or vector["now"])
    query = tuple(tuple(pair) for pair in vector.get("query", []))
    delivery_id = scheme.delivery_id(_vector_request(vector), vector.get("options", {}))
    signed = scheme.sign(
        body, vector["secret"], timestamp=ts, options=vector.get("options", {}), delivery_id=delivery_id, query=query
    )
    assert {k: v for k, v in signed.items() if k in headers} == headers


# --------------------------------------------------------------------------- provider libraries as oracles

BODIES = [b'{"type":"ping","id":"evt_1"}', '{"name":"Zoë ✓ 日本"}'.encode(), b"", b"a=1&b=two+words"]


@pytest.mark.parametrize("body", BODIES)
def test_standardwebhooks_library_signature_is_accepted(body: bytes) -> None:
    from standardwebhooks import Webhook

    secret = secret_for("standard-webhooks", b"oracle-key-0123456789abcdef")
    now = int(time.time())
    signature = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), body.decode())
    request = Request(
        headers={"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": signature}, body=body
    )
    assert verify("standard-webhooks", request, [secret], now)


@pytest.mark.parametrize("body", BODIES)
def test_standardwebhooks_library_accepts_our_signature(body: bytes) -> None:
    from standardwebhooks import Webhook

    secret = secret_for("standard-webhooks", b"oracle-key-0123456789abcdef")
    request = signed_request("standard-webhooks", body, secret, int(time.time()))
    Webhook(secret).verify(body, dict(request.headers), json_parse=False)  # raises if it disagrees


@pytest.mark.parametrize("body", BODIES)
def test_svix_library_round_trips_with_ours(body: bytes) -> None:
    from svix.webhooks import Webhook

    secret = secret_for("svix", b"svix-oracle-key")
    now = int(time.time())
    theirs = Webhook(secret).sign("msg_2", datetime.fromtimestamp(now, UTC), body.decode())
    request = Request(headers={"svix-id": "msg_2", "svix-timestamp": str(now), "svix-signature": theirs}, body=body)
    assert verify("svix", request, [secret], now)
    ours = signed_request("svix", body, secret, now)
    Webhook(secret).verify(body, dict(ours.headers))


@pytest.mark.parametrize("body", BODIES)
def test_stripe_library_round_trips_with_ours(body: bytes) -> None:
    import stripe

    secret = "whsec_test_SeCrEt"
    now = int(time.time())
    theirs = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=now)
    assert verify("stripe", Request(headers={"stripe-signature": theirs}, body=body), [secret], now)
    ours = signed_request("stripe", body, secret, now)
    assert stripe.WebhookSignature.verify_header(body, ours.headers["stripe-signature"], secret, tolerance=300)


def test_stripe_secret_is_used_as_text_not_base64() -> None:
    # A whsec_ secret that happens to be valid base64 must still key the HMAC as text.
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    body = b'{"id":"evt_1"}'
    text_keyed = hmac.new(secret.encode(), b"%d.%s" % (NOW, body), hashlib.sha256).hexdigest()
    request = Request(headers={"stripe-signature": f"t={NOW},v1={text_keyed}"}, body=body)
    assert verify("stripe", request, [secret], NOW)


def test_stripe_accepts_any_of_several_v1_signatures_and_ignores_v0() -> None:
    secret, body = "whsec_a", b"{}"
    good = hmac.new(secret.encode(), b"%d.{}" % NOW, hashlib.sha256).hexdigest()
    header = f"t={NOW},v0={good},v1={'0' * 64},v1={good}"
    assert verify("stripe", Request(headers={"stripe-signature": header}, body=body), [secret], NOW)
    only_v0 = f"t={NOW},v0={good}"
    assert not verify("stripe", Request(headers={"stripe-signature": only_v0}, body=body), [secret], NOW)


@pytest.mark.parametrize("body", BODIES)
def test_slack_sdk_round_trips_with_ours(body: bytes) -> None:
    from slack_sdk.signature import Clock, SignatureVerifier

    class Frozen(Clock):
        def now(self) -> float:
            return float(NOW)

    secret = "slack-signing-secret"
    oracle = SignatureVerifier(secret, clock=Frozen())
    theirs = oracle.generate_signature(timestamp=str(NOW), body=body)
    request = Request(headers={"x-slack-request-timestamp": str(NOW), "x-slack-signature": theirs}, body=body)
    assert verify("slack", request, [secret], NOW)
    ours = signed_request("slack", body, secret, NOW)
    assert oracle.is_valid_request(body, dict(ours.headers))


TWILIO_FORMS = [
    {"CallSid": "CA123", "From": "+14155550100", "To": "+14155550199", "Body": "Hi & bye = ok?"},
    {"MessageSid": "SM1", "Body": "Zoë 日本", "NumMedia": "0"},
    {"Empty": ""},
]


@pytest.mark.parametrize("params", TWILIO_FORMS)
@pytest.mark.parametrize("url", ["https://hooks.example.com/twilio", "https://hooks.example.com:443/twilio"])
def test_twilio_library_signature_of_form_post_is_accepted(params: dict[str, str], url: str) -> None:
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    token = "twilio-auth-token"
    signature = RequestValidator(token).compute_signature(url, params)
    request = Request(headers={"x-twilio-signature": signature}, body=urlencode(params).encode())
    # Our public URL is configured without the port (or with it): both spellings verify.
    for public_url in ("https://hooks.example.com/twilio", "https://hooks.example.com:443/twilio"):
        assert get_scheme("twilio").verify(
            request, [token], now=NOW, tolerance_seconds=300, options={"public_url": public_url}
        )


@pytest.mark.parametrize("params", TWILIO_FORMS)
def test_twilio_library_accepts_our_form_signature(params: dict[str, str]) -> None:
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    token = "twilio-auth-token"
    body = urlencode(params).encode()
    headers = get_scheme("twilio").sign(body, token, timestamp=NOW, options={"public_url": PUBLIC_URL})
    assert RequestValidator(token).validate(PUBLIC_URL, params, headers["x-twilio-signature"])


def test_twilio_json_body_round_trips_with_library() -> None:
    from twilio.request_validator import RequestValidator

    token = "twilio-auth-token"
    body = b'{"event":"call.completed","n":1}'
    query = twilio_json_query(body)
    url = PUBLIC_URL + "?bodySHA256=" + query[0][1]
    theirs = RequestValidator(token).compute_signature(url, {})
    request = Request(headers={"x-twilio-signature": theirs}, body=body, query=query)
    assert verify("twilio", request, [token], NOW)
    ours = signed_request("twilio", body, token, NOW)
    assert RequestValidator(token).validate(url, body.decode(), ours.headers["x-twilio-signature"])


def test_twilio_json_body_with_wrong_body_hash_is_rejected_even_if_url_signature_is_right() -> None:
    from twilio.request_validator import RequestValidator

    token = "t"
    body = b'{"a":1}'
    forged_hash = hashlib.sha256(b'{"a":2}').hexdigest()
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + "?bodySHA256=" + forged_hash, {})
    request = Request(headers={"x-twilio-signature": signature}, body=body, query=(("bodySHA256", forged_hash),))
    assert not verify("twilio", request, [token], NOW)


def test_twilio_hmac_sha256_signature_settings_round_trip_with_library() -> None:
    from twilio.request_validator import RequestValidator

    token, params = "shared-key-secret", {"A": "1"}
    theirs = RequestValidator(token).compute_signature(PUBLIC_URL, params, "HMAC_SHA256")
    headers = {"x-twilio-signature": theirs, "x-twilio-webhooks-signature-settings": "key=k1,algorithm=HMAC_SHA256"}
    assert verify("twilio", Request(headers=headers, body=b"A=1"), [token], NOW)
    # Without the settings header the same signature is read as SHA-1 and fails.
    assert not verify("twilio", Request(headers={"x-twilio-signature": theirs}, body=b"A=1"), [token], NOW)


def test_twilio_non_default_port_is_not_stripped() -> None:
    from twilio.request_validator import RequestValidator

    token = "t"
    signature = RequestValidator(token).compute_signature("https://hooks.example.com:8443/t", {"A": "1"})
    request = Request(headers={"x-twilio-signature": signature}, body=b"A=1")
    options = {"public_url": "https://hooks.example.com/t"}
    assert not get_scheme("twilio").verify(request, [token], now=NOW, tolerance_seconds=0, options=options)


# Providers without an installed library: an independent one-line HMAC written from each
# provider's documentation, to catch a signer and verifier that agree with each other but
# not with the provider.


def _hmac_digest(key: str, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key.encode(), message, algorithm).digest()


DOC_FORMULAS = {
    # GitHub Docs, "Validating webhook deliveries".
    "github": lambda s, b, t: {"x-hub-signature-256": "sha256=" + _hmac_digest(s, b).hex()},
    # Shopify, "Verify webhooks": base64 HMAC-SHA256 of the raw body.
    "shopify": lambda s, b, t: {"x-shopify-hmac-sha256": base64.b64encode(_hmac_digest(s, b)).decode()},
    # Square, "Validate notifications": base64 HMAC-SHA256 of notification URL + body.
    "square": lambda s, b, t: {
        "x-square-hmacsha256-signature": base64.b64encode(_hmac_digest(s, PUBLIC_URL.encode() + b)).decode()
    },
    # Paddle, "Verify webhook signatures": hex HMAC-SHA256 of "{ts}:{body}".
    "paddle": lambda s, b, t: {"paddle-signature": f"ts={t};h1=" + _hmac_digest(s, f"{t}:".encode() + b).hex()},
}


@pytest.mark.parametrize("scheme", sorted(DOC_FORMULAS))
@pytest.mark.parametrize("body", BODIES)
def test_documented_formula_signature_is_accepted_and_matches_our_signer(scheme: str, body: bytes) -> None:
    secret = "pdl_ntfset_or_app_secret"
    expected = DOC_FORMULAS[scheme](secret, body, NOW)
    assert verify(scheme, Request(headers=expected, body=body), [secret], NOW)
    assert get_scheme(scheme).sign(body, secret, timestamp=NOW, options=OPTIONS[scheme]) == expected


@pytest.mark.parametrize("body", BODIES)
def test_twitch_documented_formula_is_accepted_and_matches_our_signer(body: bytes) -> None:
    # Twitch, "Handling webhook events", "Verifying the event message": "sha256=" + hex
    # HMAC-SHA256 of message id + timestamp (as sent) + raw body, keyed with the subscription's secret.
    secret, message_id, timestamp = "keepItSecretKeepItSafe", "e76c6bd4-55c9-4987-8304-da1588d8988b", NOW
    sent = datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
    digest = _hmac_digest(secret, (message_id + sent).encode() + body).hex()
    expected = {
        "twitch-eventsub-message-id": message_id,
        "twitch-eventsub-message-timestamp": sent,
        "twitch-eventsub-message-signature": "sha256=" + digest,
    }
    assert verify("twitch", Request(headers=expected, body=body), [secret], NOW)
    ours = get_scheme("twitch").sign(body, secret, timestamp=timestamp, options={}, delivery_id=message_id)
    assert {name: ours[name] for name in expected} == expected


def test_paddle_accepts_any_h1_during_rotation() -> None:
    body, old, new = b'{"event_id":"evt_1"}', "old-secret", "new-secret"
    h_old = _hmac_digest(old, f"{NOW}:".encode() + body).hex()
    h_new = _hmac_digest(new, f"{NOW}:".encode() + body).hex()
    request = Request(headers={"paddle-signature": f"ts={NOW};h1={h_new};h1={h_old}"}, body=body)
    assert verify("paddle", request, [old], NOW)
    assert verify("paddle", request, [new], NOW)


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_any_active_secret_verifies(scheme: str) -> None:
    current, upcoming = secret_for(scheme, b"current-key"), secret_for(scheme, b"upcoming-key")
    request = signed_request(scheme, b'{"id":"x"}', upcoming, NOW)
    assert verify(scheme, request, [current, upcoming], NOW)
    assert not verify(scheme, request, [current], NOW)


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_no_secrets_verify_nothing(scheme: str) -> None:
    request = signed_request(scheme, b"{}", secret_for(scheme, b"k"), NOW)
    assert not verify(scheme, request, [], NOW)


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_empty_secret_never_verifies_a_signature_made_with_an_empty_key(scheme: str) -> None:
    body = b"{}"
    empty = get_scheme(scheme).secret_for_key(b"")
    if get_scheme(scheme).key(empty) is None:
        # An empty key cannot even be expressed (a whsec_ with no key material): it is refused.
        request = signed_request(scheme, body, secret_for(scheme, b"k"), NOW)
        assert not verify(scheme, request, [empty], NOW)
        return
    request = signed_request(scheme, body, "placeholder", NOW)
    forged = get_scheme(scheme).sign(body, empty, timestamp=NOW, options=OPTIONS[scheme], query=request.query)
    request = Request(headers=forged, body=body, url=request.url, query=request.query)
    assert not verify(scheme, request, [empty], NOW)


def test_standard_webhooks_secret_without_prefix_or_padding_is_the_same_key() -> None:
    vector = next(v for v in VECTORS if v["scheme"] == "standard-webhooks")
    request = _vector_request(vector)
    bare = vector["secret"].removeprefix("whsec_")
    assert verify("standard-webhooks", request, [bare], vector["now"])
    assert not verify("standard-webhooks", request, ["whsec_not base64!"], vector["now"])


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize("scheme", TIMESTAMPED)
@pytest.mark.parametrize(("offset", "accepted"), [(0, True), (-300, True), (300, True), (-301, False), (301, False)])
def test_timestamp_window_is_closed_and_symmetric(scheme: str, offset: int, accepted: bool) -> None:
    # Signed at NOW + offset, checked at NOW with a 300 s tolerance: the limit itself is
    # inside the window, one second beyond it (in the past or the future) is not.
    request = signed_request(scheme, b'{"k":1}', secret_for(scheme, b"k"), NOW + offset)
    assert verify(scheme, request, [secret_for(scheme, b"k")], NOW, tolerance=300) is accepted


@pytest.mark.parametrize("scheme", TIMESTAMPED)
def test_negative_tolerance_accepts_nothing(scheme: str) -> None:
    request = signed_request(scheme, b"{}", secret_for(scheme, b"k"), NOW)
    assert not verify(scheme, request, [secret_for(scheme, b"k")], NOW, tolerance=-1)


@pytest.mark.parametrize(
    "value",
    ["", " 1700000000", "1700000000 ", "+1700000000", "-1700000000", "1700000000.0", "1.7e9", "0x6553f100",
     "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660", "1_700_000_000", "1" * 21],
)  # fmt: skip
def test_non_integer_timestamps_are_not_parsed(value: str) -> None:
    assert parse_timestamp(value) is None


@pytest.mark.parametrize("scheme", ("standard-webhooks", "slack", "generic-hmac"))
def test_fractional_timestamp_is_rejected_even_when_signed(scheme: str) -> None:
    # The sender signs "1700000000.5" itself: the signature is right, the timestamp is not an integer.
    secret, body = secret_for(scheme, b"k"), b"{}"
    scheme_obj = get_scheme(scheme)
    if scheme == "slack":
        digest = _hmac_digest(secret, b"v0:1700000000.5:" + body).hex()
        headers = {"x-slack-request-timestamp": "1700000000.5", "x-slack-signature": "v0=" + digest}
    elif scheme == "generic-hmac":
        digest = _hmac_digest(secret, b"1700000000.5." + body).hex()
        headers = {"x-timestamp": "1700000000.5", "x-signature": "sha256=" + digest}
    else:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        digest = base64.b64encode(hmac.new(key, b"m.1700000000.5." + body, "sha256").digest()).decode()
        headers = {"webhook-id": "m", "webhook-timestamp": "1700000000.5", "webhook-signature": "v1," + digest}
    request = Request(headers=headers, body=body)
    assert not scheme_obj.verify(request, [secret], now=NOW, tolerance_seconds=300, options=OPTIONS[scheme])


@pytest.mark.parametrize("scheme", ("github", "shopify", "square", "twilio"))
def test_untimestamped_schemes_ignore_the_clock(scheme: str) -> None:
    request = signed_request(scheme, b"{}", "k", NOW)
    assert verify(scheme, request, ["k"], NOW + 10 * 365 * 86400, tolerance=0)


# --------------------------------------------------------------------------- delivery id and event type


def _ids(scheme: str, headers: dict[str, str], body: bytes, options: dict[str, Any] | None = None) -> tuple:
    request = Request(headers=headers, body=body)
    opts = OPTIONS[scheme] if options is None else options
    return get_scheme(scheme).delivery_id(request, opts), get_scheme(scheme).event_type(request, opts)


@pytest.mark.parametrize(
    ("scheme", "headers", "body", "expected"),
    [
        ("standard-webhooks", {"webhook-id": "msg_1"}, b'{"type":"invoice.paid"}', ("msg_1", "invoice.paid")),
        ("svix", {"svix-id": "msg_2"}, b'{"eventType":"user.created"}', ("msg_2", "user.created")),
        ("stripe", {}, b'{"id":"evt_1","type":"payment_intent.succeeded"}', ("evt_1", "payment_intent.succeeded")),
        ("github", {"x-github-delivery": "72d3162e", "x-github-event": "push"}, b"{}", ("72d3162e", "push")),
        (
            "shopify",
            {"x-shopify-event-id": "e-1", "x-shopify-webhook-id": "w-1", "x-shopify-topic": "orders/create"},
            b"{}",
            ("e-1", "orders/create"),
        ),
        ("shopify", {"x-shopify-webhook-id": "w-1"}, b"{}", ("w-1", None)),
        ("slack", {}, b'{"event_id":"Ev1","event":{"type":"app_mention"}}', ("Ev1", "app_mention")),
        ("slack", {}, b'{"type":"url_verification","challenge":"c"}', (None, "url_verification")),
        ("slack", {}, b"payload=%7B%22type%22%3A%22block_actions%22%7D", (None, "block_actions")),
        ("twilio", {"i-twilio-idempotency-token": "tok-1"}, b"A=1", ("tok-1", None)),
        ("square", {}, b'{"event_id":"sq-1","type":"payment.updated"}', ("sq-1", "payment.updated")),
        ("paddle", {}, b'{"event_id":"evt_01","event_type":"transaction.paid"}', ("evt_01", "transaction.paid")),
    ],
)  # fmt: skip
def test_delivery_id_and_event_type(scheme: str, headers: dict[str, str], body: bytes, expected: tuple) -> None:
    assert _ids(scheme, headers, body) == expected


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"id": {"nested": 1}}', b'{"id": ""}', b'{"id": "' + b"x" * 300 + b'"}', b'{"id": "a\\nb"}',
     b'{"id": true}', b"[1, 2]", b"\xff\xfe"],
)  # fmt: skip
def test_untrustworthy_body_ids_are_none(body: bytes) -> None:
    assert _ids("stripe", {}, body) == (None, None)


def test_generic_delivery_id_prefers_header_then_field_then_body_hash() -> None:
    options = {**OPTIONS["generic-hmac"], "delivery_id_header": "X-Delivery", "delivery_id_field": "meta.id"}
    options |= {"event_type_header": "X-Event", "event_type_field": "kind"}
    body = b'{"meta":{"id":42},"kind":"thing.done"}'
    assert _ids("generic-hmac", {"x-delivery": "d-1", "x-event": "e"}, body, options) == ("d-1", "e")
    assert _ids("generic-hmac", {}, body, options) == ("42", "thing.done")
    assert _ids("generic-hmac", {}, b"raw", options) == (hashlib.sha256(b"raw").hexdigest(), None)


# --------------------------------------------------------------------------- generic-hmac options


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_generic_hmac_algorithms_and_encodings(algorithm: str, encoding: str) -> None:
    options = {"signature_header": "X-Sig", "algorithm": algorithm, "encoding": encoding}
    body, secret = b'{"a":1}', "generic"
    raw = hmac.new(secret.encode(), body, algorithm).digest()
    value = raw.hex() if encoding == "hex" else base64.b64encode(raw).decode()
    scheme = get_scheme("generic-hmac")
    request = Request(headers={"x-sig": value}, body=body)
    assert scheme.verify(request, [secret], now=NOW, tolerance_seconds=0, options=options)
    assert scheme.sign(body, secret, timestamp=NOW, options=options) == {"x-sig": value}


def test_generic_hmac_hex_is_case_insensitive() -> None:
    options = {"signature_header": "X-Sig"}
    body = b"x"
    upper = hmac.new(b"s", body, "sha256").hexdigest().upper()
    request = Request(headers={"x-sig": upper}, body=body)
    assert get_scheme("generic-hmac").verify(request, ["s"], now=NOW, tolerance_seconds=0, options=options)


def test_generic_template_never_rewrites_placeholders_inside_the_body() -> None:
    options = OPTIONS["generic-hmac"]
    body = b"{timestamp}{body}"
    expected = hmac.new(b"s", f"{NOW}.".encode() + body, "sha256").hexdigest()
    headers = get_scheme("generic-hmac").sign(body, "s", timestamp=NOW, options=options)
    assert headers == {"x-signature": "sha256=" + expected, "x-timestamp": str(NOW)}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"signature_header": "X-S", "algorithm": "md5"},
        {"signature_header": "X-S", "encoding": "base32"},
        {"signature_header": "X-S", "signed_template": "{timestamp}"},
        {"signature_header": "X-S", "timestamp_header": "X-T", "signed_template": "{body}"},
        {"signature_header": "X-S", "signed_template": "{timestamp}.{body}"},
    ],
)
def test_generic_hmac_rejects_unworkable_options_without_raising_in_verify(options: dict[str, Any]) -> None:
    with pytest.raises(SchemeConfigError):
        GenericHmac.validate_options(options)
    request = Request(headers={"x-s": "00", "x-t": str(NOW)}, body=b"")
    assert not get_scheme("generic-hmac").verify(request, ["s"], now=NOW, tolerance_seconds=300, options=options)


# --------------------------------------------------------------------------- registry


def test_registry_has_exactly_the_documented_scheme_names() -> None:
    documented = Path(__file__).parents[2] / "docs" / "runtime-contract.md"
    text = documented.read_text()
    names = {"standard-webhooks", "svix", "stripe", "github", "shopify", "slack", "twilio", "square", "paddle"}
    names |= {"generic-hmac", "shared-token"}
    names |= {"hubspot", "box", "workos"}
    names |= {"adyen", "mailgun"}
    names |= {"twitch"}
    names |= {"aws-sns", "paypal"}
    names |= {"easypost", "cloudinary", "mux", "buildkite"}
    names |= {"discord", "telnyx", "sendgrid"}
    assert set(SCHEMES) == names
    assert all(f"`{name}`" in text for name in names)


def test_get_scheme_names_the_known_ones_when_unknown() -> None:
    with pytest.raises(KeyError, match="stripe"):
        get_scheme("stripey")


def test_vector_files_are_named_after_the_scheme_they_hold() -> None:
    for path in VECTOR_FILES:
        assert path.stem in SCHEMES
        assert {vector["scheme"] for vector in json.loads(path.read_text())["vectors"]} == {path.stem}
        assert all(vector["source"] for vector in json.loads(path.read_text())["vectors"])


# Where each scheme meets its provider's own word besides a published vector
# (docs/signatures.md, "Adding a provider"): the provider's library as an
# oracle, else the formula from its documentation; generic-hmac has no
# provider and is checked against the standard library's hmac per option.
PROVIDER_CHECKS: dict[str, Any] = {
    "standard-webhooks": test_standardwebhooks_library_signature_is_accepted,
    "svix": test_svix_library_round_trips_with_ours,
    "stripe": test_stripe_library_round_trips_with_ours,
    "slack": test_slack_sdk_round_trips_with_ours,
    "twilio": test_twilio_library_signature_of_form_post_is_accepted,
    "generic-hmac": test_generic_hmac_algorithms_and_encodings,
    # The documented formula of a token: the header holds the secret (Okta's "Hooks best practices").
    "shared-token": test_the_secret_in_its_header_is_accepted_and_any_other_value_is_not,
    # The providers' own SDKs, both directions where they sign (tests/unit/test_providers_c.py).
    "hubspot": providers_c.test_hubspot_library_signature_of_a_url_with_a_query_verifies_here,
    "box": providers_c.test_box_sdk_signatures_verify_here_with_either_key,
    "workos": providers_c.test_workos_library_accepts_what_the_workos_entry_signs_and_reads_the_same_event,
    "twitch": test_twitch_documented_formula_is_accepted_and_matches_our_signer,
    # Public keys: each provider's library verifies our signatures (test_schemes_asymmetric_oracles.py).
    "discord": test_discord_interactions_accepts_our_signature_and_we_accept_pynacls,
    "telnyx": test_telnyx_accepts_our_signature_and_we_accept_pynacls,
    "sendgrid": test_sendgrid_accepts_our_signature,
    # Signatures in the body: Adyen's library signs for us, Mailgun's verifies ours (test_providers_d.py).
    "adyen": providers_d.test_adyen_library_signature_is_accepted_by_the_catalogue_entry,
    "mailgun": providers_d.test_mailgun_library_accepts_what_the_catalogue_entry_signs,
    # EasyPost's and Cloudinary's libraries (tests/unit/test_providers_e.py); Mux and Buildkite publish no
    # Python verifier: the cases of their Node and Go SDKs' tests.
    "easypost": providers_e.test_easypost_library_accepts_what_the_catalogue_entry_signs,
    "cloudinary": providers_e.test_cloudinary_library_signature_is_accepted_by_the_catalogue_entry,
    "mux": providers_e.test_mux_headers_the_sdk_refuses_are_refused,
    "buildkite": providers_e.test_buildkite_requests_the_go_sdk_refuses_are_refused_and_the_plain_token_too,
    # Certificates named by URL: no official Python library; the signed strings their SDKs' tests expect.
    "aws-sns": certificates.test_the_signed_strings_are_the_ones_the_providers_own_tests_expect,
    "paypal": certificates.test_the_signed_strings_are_the_ones_the_providers_own_tests_expect,
    **{scheme: test_documented_formula_signature_is_accepted_and_matches_our_signer for scheme in DOC_FORMULAS},
}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_scheme_is_checked_against_its_provider(scheme: str) -> None:
    assert scheme in PROVIDER_CHECKS, f"{scheme}: add its provider's library as an oracle, or its documented formula"


# Where the signature travels in the body (Adyen, Mailgun, AWS SNS) there is no such header.
@pytest.mark.parametrize("scheme", HEADER_SIGNED)
def test_signature_headers_cover_what_sign_emits_as_signature(scheme: str) -> None:
    signed = get_scheme(scheme).sign(b"{}", secret_for(scheme, b"k"), timestamp=NOW, options=OPTIONS[scheme])
    carried = get_scheme(scheme).signature_headers(OPTIONS[scheme])
    assert carried & set(signed), "the header holding the signature must be stripped before queueing"


# --------------------------------------------------------------------------- svix: the unbranded header set


@pytest.mark.parametrize("body", BODIES)
def test_svix_library_accepts_unbranded_webhook_headers_and_so_do_we(body: bytes) -> None:
    # svix 2.9.1, svix/webhooks.py Webhook.verify: each of id, signature and timestamp is
    # read from svix-* and, when that is absent, from webhook-*. Svix sends either set.
    from svix.webhooks import Webhook

    secret = secret_for("svix", b"svix-oracle-key")
    now = int(time.time())
    signature = Webhook(secret).sign("msg_u", datetime.fromtimestamp(now, UTC), body.decode())
    headers = {"webhook-id": "msg_u", "webhook-timestamp": str(now), "webhook-signature": signature}
    Webhook(secret).verify(body, headers)  # raises if the oracle disagrees
    request = Request(headers=headers, body=body)
    assert verify("svix", request, [secret], now)
    assert get_scheme("svix").delivery_id(request, {}) == "msg_u"
    assert "webhook-signature" in get_scheme("svix").signature_headers({})


def test_svix_takes_id_timestamp_and_signature_from_one_set_never_a_mix() -> None:
    # The svix library falls back header by header, so it would pair svix-id with a
    # webhook-signature. Here an incomplete svix-* set is ignored as a whole: the
    # webhook-* set is read, whose id the signature does not cover.
    secret = secret_for("svix", b"k")
    signed = get_scheme("svix").sign(b"{}", secret, timestamp=NOW, options={}, delivery_id="msg_a")
    headers = {
        "svix-id": "msg_a",
        "svix-timestamp": str(NOW),
        "webhook-id": "msg_b",
        "webhook-timestamp": str(NOW),
        "webhook-signature": signed["svix-signature"],
    }
    request = Request(headers=headers, body=b"{}")
    assert not verify("svix", request, [secret], NOW)
    assert get_scheme("svix").delivery_id(request, {}) == "msg_b"


def test_svix_with_both_complete_sets_reads_the_svix_set_as_its_library_does() -> None:
    secret = secret_for("svix", b"k")
    ours = get_scheme("svix").sign(b"{}", secret, timestamp=NOW, options={}, delivery_id="msg_svix")
    other = get_scheme("standard-webhooks").sign(b"{}", secret, timestamp=NOW, options={}, delivery_id="msg_web")
    request = Request(headers={**ours, **other}, body=b"{}")
    assert verify("svix", request, [secret], NOW)
    assert get_scheme("svix").delivery_id(request, {}) == "msg_svix"


def test_standard_webhooks_does_not_read_svix_headers() -> None:
    secret = secret_for("svix", b"k")
    request = Request(headers=get_scheme("svix").sign(b"{}", secret, timestamp=NOW, options={}), body=b"{}")
    assert not verify("standard-webhooks", request, [secret], NOW)


# --------------------------------------------------------------------------- shopify: the Events header set

# Shopify's Events deliveries (shopify.dev/docs/apps/build/events/verify-deliveries: "a
# base64-encoded HMAC signature in the Shopify-Hmac-Sha256 header, generated using your
# app's client secret and the raw request body") carry the un-prefixed header set. Shopify's
# library (Shopify/shopify-app-js, packages/apps/shopify-api/lib/webhooks/header-names.ts and
# validate.ts) names it: shopify-hmac-sha256, shopify-topic, shopify-event-id, ...; Events
# deliveries "currently send both shopify-* and x-shopify-* headers", and the library reads
# the shopify-* set whenever shopify-hmac-sha256 is present.


def _shopify_events_headers(secret: str, body: bytes) -> dict[str, str]:
    return {
        "shopify-hmac-sha256": base64.b64encode(_hmac_digest(secret, body)).decode(),
        "shopify-topic": "Product",
        "shopify-event-id": "ev-events-1",
        "shopify-webhook-id": "wh-events-1",
        "shopify-shop-domain": "demo.myshopify.com",
        "shopify-api-version": "unstable",
    }


def test_shopify_events_delivery_verifies_with_id_and_topic_from_the_same_set() -> None:
    secret, body = "shopify-client-secret", b'{"topic":"Product","action":"update"}'
    request = Request(headers=_shopify_events_headers(secret, body), body=body)
    assert verify("shopify", request, [secret], NOW)
    assert _ids("shopify", dict(request.headers), body) == ("ev-events-1", "Product")
    assert "shopify-hmac-sha256" in get_scheme("shopify").signature_headers({})


def test_shopify_events_delivery_carrying_both_sets_is_read_from_the_unprefixed_set() -> None:
    secret, body = "shopify-client-secret", b"{}"
    legacy = {
        "x-shopify-hmac-sha256": base64.b64encode(_hmac_digest(secret, body)).decode(),
        "x-shopify-topic": "products/update",
        "x-shopify-event-id": "ev-legacy",
    }
    headers = {**legacy, **_shopify_events_headers(secret, body)}
    assert verify("shopify", Request(headers=headers, body=body), [secret], NOW)
    assert _ids("shopify", headers, body) == ("ev-events-1", "Product")
    # The un-prefixed signature is the one checked: a wrong one is not rescued by the X- one.
    headers["shopify-hmac-sha256"] = base64.b64encode(_hmac_digest("another", body)).decode()
    assert not verify("shopify", Request(headers=headers, body=body), [secret], NOW)


def test_shopify_legacy_set_is_read_when_there_is_no_unprefixed_signature() -> None:
    secret, body = "shopify-client-secret", b"{}"
    headers = {
        "x-shopify-hmac-sha256": base64.b64encode(_hmac_digest(secret, body)).decode(),
        "x-shopify-event-id": "ev-legacy",
        "x-shopify-topic": "orders/create",
        "shopify-event-id": "not-this-one",
    }
    assert verify("shopify", Request(headers=headers, body=body), [secret], NOW)
    assert _ids("shopify", headers, body) == ("ev-legacy", "orders/create")


# --------------------------------------------------------------------------- twilio: ports and form size


@pytest.mark.parametrize(
    ("public_url", "signed_url"),
    [
        ("https://hooks.example.com:8443/t", "https://hooks.example.com/t"),  # port not signed
        ("https://hooks.example.com:8443/t", "https://hooks.example.com:8443/t"),
        ("http://hooks.example.com:8080/t", "http://hooks.example.com/t"),
        ("https://hooks.example.com/t", "https://hooks.example.com:443/t"),
        ("https://hooks.example.com:443/t", "https://hooks.example.com/t"),
    ],
)
def test_twilio_verifies_what_its_validator_accepts_for_the_configured_url(public_url: str, signed_url: str) -> None:
    # twilio 9.13.0, twilio/request_validator.py RequestValidator.validate: the signature
    # is checked against the URL with its port removed (remove_port, any port) and with
    # one added (add_port, 443/80 when it has none).
    from twilio.request_validator import RequestValidator

    token, params = "t", {"A": "1"}
    signature = RequestValidator(token).compute_signature(signed_url, params)
    assert RequestValidator(token).validate(public_url, params, signature)
    request = Request(headers={"x-twilio-signature": signature}, body=b"A=1")
    options = {"public_url": public_url}
    assert get_scheme("twilio").verify(request, [token], now=NOW, tolerance_seconds=0, options=options)


def _twilio_form(fields: int) -> tuple[bytes, dict[str, str]]:
    params = {f"F{i:06d}": str(i) for i in range(fields)}
    return "&".join(f"{k}={v}" for k, v in params.items()).encode(), params


def test_twilio_form_at_the_field_cap_verifies() -> None:
    from twilio.request_validator import RequestValidator

    from webhook_verify.schemes import MAX_TWILIO_FORM_FIELDS

    body, params = _twilio_form(MAX_TWILIO_FORM_FIELDS)
    signature = RequestValidator("t").compute_signature(PUBLIC_URL, params)
    request = Request(headers={"x-twilio-signature": signature}, body=body)
    assert verify("twilio", request, ["t"], NOW)


def test_twilio_form_over_the_field_cap_is_refused_without_being_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.parse

    from twilio.request_validator import RequestValidator

    from webhook_verify.schemes import twilio

    parsed: list[int] = []

    def spy(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        pairs = urllib.parse.parse_qsl(*args, **kwargs)  # raises before parsing past the cap
        parsed.append(len(pairs))
        return pairs

    monkeypatch.setattr(twilio, "parse_qsl", spy)
    over, over_params = _twilio_form(twilio.MAX_TWILIO_FORM_FIELDS + 1)
    signature = RequestValidator("t").compute_signature(PUBLIC_URL, over_params)  # even if genuinely signed
    assert not verify("twilio", Request(headers={"x-twilio-signature": signature}, body=over), ["t"], NOW)
    forged = b"a=1&" * 500_000
    assert not verify("twilio", Request(headers={"x-twilio-signature": "AAAA"}, body=forged), ["t"], NOW)
    assert parsed == []
