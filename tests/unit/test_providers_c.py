"""Catalogue entries (HubSpot, Box, GoCardless, WorkOS, GitLab) against their providers' own Python libraries.

Each library checks what the catalogue entry makes our scheme sign, and a
changed byte must fail it; where the library can sign (HubSpot's
``Signature.get_signature``, the signer Box's SDK uses in its own tests), what
it signs must verify here too. The published vectors themselves verify through
tests/unit/test_providers.py. GitLab publishes no Python library of its own: its
token is checked as its documentation states. Each test is skipped when its
library is not installed (they are in requirements-test.txt).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from stacks.config import parse_config
from webhook_kit.send import build
from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import Request, get_scheme
from webhook_verify.schemes.twitch import rfc3339, rfc3339_seconds

PUBLIC_URL = "https://hooks.example.com/prod/webhooks/crm"
BODIES = [
    b'[{"eventId":100,"subscriptionType":"contact.creation","attemptNumber":0}]',
    '{"note":"caf\u00e9 \u2713 \U0001f600","id":"evt_1","event":"user.created"}\n'.encode(),
    b"",
]


def _options(provider: str, **extra: Any) -> dict[str, Any]:
    return {**PROVIDERS[provider].options, **extra}


def _signed(provider: str, body: bytes, secret: str, now: int, **extra: Any) -> Request:
    query = tuple(extra.pop("query", ()))
    options = _options(provider, **extra)
    headers = get_scheme(PROVIDERS[provider].scheme).sign(body, secret, timestamp=now, options=options, query=query)
    return Request(headers={name.lower(): value for name, value in headers.items()}, body=body, query=query)


def _verify(
    provider: str, request: Request, secrets: list[str], now: float, tolerance: int = 300, **extra: Any
) -> bool:
    scheme = get_scheme(PROVIDERS[provider].scheme)
    return scheme.verify(request, secrets, now=now, tolerance_seconds=tolerance, options=_options(provider, **extra))


# --------------------------------------------------------------------------- HubSpot (hubspot-api-client)


@pytest.mark.parametrize("body", BODIES)
def test_hubspot_library_accepts_what_the_hubspot_entry_signs(body: bytes) -> None:
    pytest.importorskip("hubspot")
    from hubspot.utils.signature import Signature

    secret, now = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", int(time.time())
    headers = _signed("hubspot", body, secret, now, public_url=PUBLIC_URL).headers
    signature, timestamp = headers["x-hubspot-signature-v3"], headers["x-hubspot-request-timestamp"]
    common = {"http_uri": PUBLIC_URL, "signature_version": "v3", "timestamp": timestamp}
    assert Signature.is_valid(signature, secret, body.decode(), **common)
    assert not Signature.is_valid(signature, secret, body.decode() + " ", **common)


@pytest.mark.parametrize("body", BODIES)
def test_hubspot_library_signature_of_a_url_with_a_query_verifies_here(body: bytes) -> None:
    pytest.importorskip("hubspot")
    from hubspot.utils.signature import Signature

    # HubSpot signs the URI with : / ? @ ! $ ' ( ) * , ; unescaped; API Gateway hands the query over decoded.
    secret, now = "hubspot-client-secret", int(time.time())
    timestamp = str(now * 1000)
    uri = PUBLIC_URL + "?portal=62515&next=/a/b:c@d"
    signature = Signature.get_signature(secret, body.decode(), "v3", uri, "POST", timestamp)
    headers = {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": timestamp}
    request = Request(headers=headers, body=body, query=(("portal", "62515"), ("next", "/a/b:c@d")))
    assert _verify("hubspot", request, [secret], now, public_url=PUBLIC_URL)
    assert not _verify("hubspot", request, ["another-secret"], now, public_url=PUBLIC_URL)


def test_hubspot_library_and_the_kit_both_refuse_a_request_older_than_five_minutes() -> None:
    pytest.importorskip("hubspot")
    from hubspot.exceptions import InvalidSignatureTimestampError
    from hubspot.utils.signature import Signature

    secret, body, now = "hubspot-client-secret", BODIES[0], int(time.time())
    headers = _signed("hubspot", body, secret, now - 310, public_url=PUBLIC_URL).headers
    with pytest.raises(InvalidSignatureTimestampError):
        Signature.is_valid(
            headers["x-hubspot-signature-v3"],
            secret,
            body.decode(),
            http_uri=PUBLIC_URL,
            signature_version="v3",
            timestamp=headers["x-hubspot-request-timestamp"],
        )
    assert not _verify("hubspot", Request(headers=headers, body=body), [secret], now, public_url=PUBLIC_URL)


def test_hubspot_delivery_id_stays_the_same_when_a_batch_is_retried() -> None:
    # Each attempt carries a new attemptNumber (so a new body digest); the eventIds stay.
    def batch(attempt: int) -> Request:
        events = [
            {"eventId": 7001, "subscriptionType": "deal.propertyChange", "attemptNumber": attempt},
            {"eventId": 7002, "subscriptionType": "deal.propertyChange", "attemptNumber": attempt},
        ]
        return Request(headers={}, body=json.dumps(events).encode())

    scheme, options = get_scheme("hubspot"), _options("hubspot", public_url=PUBLIC_URL)
    first, retry = scheme.delivery_id(batch(0), options), scheme.delivery_id(batch(1), options)
    assert first == retry and first is not None and first.startswith("hubspot-")
    assert scheme.event_type(batch(0), options) == "deal.propertyChange"
    single = Request(headers={}, body=b'[{"eventId":4242,"subscriptionType":"contact.creation"}]')
    assert scheme.delivery_id(single, options) == "4242"
    mixed = Request(headers={}, body=b'[{"eventId":1,"subscriptionType":"a"},{"eventId":2,"subscriptionType":"b"}]')
    assert scheme.event_type(mixed, options) is None


# --------------------------------------------------------------------------- Box (box-sdk-gen)


@pytest.mark.parametrize("body", BODIES)
def test_box_sdk_validates_what_the_box_entry_signs(body: bytes) -> None:
    pytest.importorskip("box_sdk_gen")
    from box_sdk_gen import WebhooksManager

    primary, secondary, now = "SamplePrimaryKey", "SampleSecondaryKey", int(time.time())
    headers = dict(_signed("box", body, primary, now).headers)
    assert WebhooksManager.validate_message(body.decode(), headers, primary, secondary_key=secondary)
    assert not WebhooksManager.validate_message(body.decode() + " ", headers, primary, secondary_key=secondary)


@pytest.mark.parametrize("body", BODIES)
def test_box_sdk_signatures_verify_here_with_either_key(body: bytes) -> None:
    pytest.importorskip("box_sdk_gen")
    from box_sdk_gen.internal.utils import compute_webhook_signature

    primary, secondary, now = "SamplePrimaryKey", "SampleSecondaryKey", int(time.time())
    headers = {"box-signature-version": "1", "box-signature-algorithm": "HmacSHA256"}
    headers["box-delivery-timestamp"] = rfc3339(now)
    headers["box-signature-primary"] = compute_webhook_signature(body.decode(), headers, primary)
    headers["box-signature-secondary"] = compute_webhook_signature(body.decode(), headers, secondary)
    request = Request(headers=headers, body=body)
    # A key being rotated: the kit knows only one of the two, either one.
    assert _verify("box", request, [primary], now)
    assert _verify("box", request, ["rotated-away", secondary], now)
    assert not _verify("box", request, ["IncorrectKey"], now)


def test_box_sdk_and_the_kit_both_refuse_a_delivery_older_than_ten_minutes() -> None:
    pytest.importorskip("box_sdk_gen")
    from box_sdk_gen import WebhooksManager

    key, body, now = "SamplePrimaryKey", BODIES[1], int(time.time())
    stale = dict(_signed("box", body, key, now - 601).headers)
    assert not WebhooksManager.validate_message(body.decode(), stale, key)
    assert not _verify("box", Request(headers=stale, body=body), [key], now, tolerance=600)
    fresh = dict(_signed("box", body, key, now - 5).headers)
    assert WebhooksManager.validate_message(body.decode(), fresh, key)
    assert _verify("box", Request(headers=fresh, body=body), [key], now, tolerance=600)


@pytest.mark.parametrize(
    "value",
    ["2020-01-01 00:00:00Z", "2020-01-01T00:00:00", "2020-13-01T00:00:00Z", "2020-01-01T00:00:00+0700",
     "1577836800", "2020-01-01T00:00:00.1234567890Z", "\uff12020-01-01T00:00:00Z", ""],
)  # fmt: skip
def test_box_timestamps_that_are_not_rfc3339_with_a_zone_are_refused(value: str) -> None:
    assert rfc3339_seconds(value) is None
    headers = dict(_signed("box", b"{}", "SamplePrimaryKey", 1_700_000_000).headers)
    assert not _verify("box", Request(headers={**headers, "box-delivery-timestamp": value}, body=b"{}"), ["k"], 0)


# --------------------------------------------------------------------------- GoCardless (gocardless-pro)

GOCARDLESS_BODY = (
    b'{"events":[{"id":"EV123","resource_type":"payments","action":"confirmed"}],'
    b'"meta":{"webhook_id":"WB00071V9BG7QK"}}'
)


@pytest.mark.parametrize("body", [GOCARDLESS_BODY, '{"events":[],"note":"caf\u00e9"}'.encode()])
def test_gocardless_library_parses_what_the_gocardless_entry_signs(body: bytes) -> None:
    pytest.importorskip("gocardless_pro")
    from gocardless_pro.errors import InvalidSignatureError
    from gocardless_pro.webhooks import parse

    secret = "ED7D658C-D8EB-4941-948B-3973214F2D49"
    signature = _signed("gocardless", body, secret, 0).headers["webhook-signature"]
    assert parse(body, secret, signature) == [] or parse(body, secret, signature)[0].id == "EV123"
    with pytest.raises(InvalidSignatureError):
        parse(body + b" ", secret, signature)


def test_gocardless_library_reads_the_same_webhook_id_as_the_catalogue_entry() -> None:
    pytest.importorskip("gocardless_pro")
    from gocardless_pro.webhooks import parse_with_meta

    secret = "gocardless-endpoint-secret"
    request = _signed("gocardless", GOCARDLESS_BODY, secret, 0)
    result = parse_with_meta(GOCARDLESS_BODY, secret, request.headers["webhook-signature"])
    scheme, options = get_scheme("generic-hmac"), PROVIDERS["gocardless"].options
    assert _verify("gocardless", request, [secret], 0)
    assert scheme.delivery_id(request, options) == result.webhook_id == "WB00071V9BG7QK"


# --------------------------------------------------------------------------- WorkOS (workos)


def _workos() -> Any:
    pytest.importorskip("workos")
    from workos import WorkOSClient

    # Verifying needs no call to WorkOS: the client only holds the webhook helpers here.
    return WorkOSClient(api_key="sk_test_oracle", client_id="client_oracle").webhooks


# A user.created event as WorkOS's own SDK tests build it (tests/test_webhook_verification.py), with a non-ASCII name.
WORKOS_BODY = json.dumps(
    {
        "object": "event",
        "id": "event_01J44T8116Q5M0RYCFA6KWNXN9",
        "event": "user.created",
        "data": {
            "object": "user",
            "id": "user_01",
            "email": "test@example.com",
            "email_verified": True,
            "first_name": "Ren\u00e9e",
            "last_name": None,
            "profile_picture_url": None,
            "external_id": None,
            "last_sign_in_at": None,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        },
        "created_at": "2024-01-01T00:00:00Z",
    },
    ensure_ascii=False,
).encode()


@pytest.mark.parametrize("body", [WORKOS_BODY])
def test_workos_library_accepts_what_the_workos_entry_signs_and_reads_the_same_event(body: bytes) -> None:
    webhooks = _workos()
    secret, now = "2sAZJlbjP8Ce3rwkKEv2GfKef", int(time.time())
    request = _signed("workos", body, secret, now)
    signature = request.headers["workos-signature"]
    event = webhooks.verify_event(event_body=body, event_signature=signature, secret=secret)
    scheme = get_scheme("workos")
    assert (scheme.delivery_id(request, {}), scheme.event_type(request, {})) == (event.id, event.event)
    with pytest.raises(ValueError, match="does not match"):
        webhooks.verify_header(event_body=body + b" ", event_signature=signature, secret=secret)


@pytest.mark.parametrize("offset", [-179, 179, -181, 181])
def test_workos_library_and_the_kit_agree_on_the_window(offset: int) -> None:
    webhooks, secret, body, now = _workos(), "workos-secret", BODIES[1], int(time.time())
    request = _signed("workos", body, secret, now + offset)
    signature = request.headers["workos-signature"]
    inside = abs(offset) <= 180
    if inside:
        webhooks.verify_header(event_body=body, event_signature=signature, secret=secret, tolerance=180)
    else:
        with pytest.raises(ValueError, match="tolerance"):
            webhooks.verify_header(event_body=body, event_signature=signature, secret=secret, tolerance=180)
    assert _verify("workos", request, [secret], now, tolerance=180) is inside


# --------------------------------------------------------------------------- GitLab (documented token)


def test_gitlab_token_in_its_header_is_accepted_for_any_body_and_nothing_else_is() -> None:
    # GitLab docs, "Webhooks", "Secret token": the token is sent as it is in X-Gitlab-Token.
    secret, body = "glwt-secret-token", b'{"object_kind":"push"}'
    headers = {"x-gitlab-token": secret, "x-gitlab-event": "Push Hook", "idempotency-key": "f5e5f430"}
    assert _signed("gitlab", body, secret, 0).headers == {"x-gitlab-token": secret}
    assert _verify("gitlab", Request(headers=headers, body=body), [secret], 0)
    assert _verify("gitlab", Request(headers=headers, body=b"anything"), [secret], 0)  # weaker: no signature
    for wrong in ("", secret + " ", "Bearer " + secret, secret.upper()):
        assert not _verify("gitlab", Request(headers={**headers, "x-gitlab-token": wrong}, body=body), [secret], 0)
    scheme, options = get_scheme("shared-token"), PROVIDERS["gitlab"].options
    request = Request(headers=headers, body=body)
    assert (scheme.delivery_id(request, options), scheme.event_type(request, options)) == ("f5e5f430", "Push Hook")
    assert PROVIDERS["gitlab"].weaker


# --------------------------------------------------------------------------- send signs for each of them


@pytest.mark.parametrize("provider", ["hubspot", "box", "gocardless", "workos", "gitlab"])
def test_send_signs_a_sample_the_providers_entry_verifies(provider: str) -> None:
    source: dict[str, Any] = {"name": "crm", "provider": provider}
    if get_scheme(PROVIDERS[provider].scheme).needs_public_url:
        source["public_url"] = PUBLIC_URL
    [config] = parse_config({"sources": [source]}).sources
    secret, now = get_scheme(config.scheme).example_secret(b"send-sample-seed-24-bytes"), 1_700_000_000
    webhook = build(config, secret=secret, url=PUBLIC_URL, now=now)
    headers = {name.lower(): value for name, value in webhook.headers.items()}
    request = Request(headers=headers, body=webhook.body)
    scheme, options = get_scheme(config.scheme), config.verifier_options()
    assert scheme.verify(request, [secret], now=now, tolerance_seconds=300, options=options)
    if config.scheme in ("hubspot", "box", "workos"):  # their samples carry the id where the scheme reads it
        assert scheme.delivery_id(request, options) == webhook.delivery_id
