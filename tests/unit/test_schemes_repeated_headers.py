"""A header a proxy repeated: identical repeats count once, different values are tried
one combination at a time, and nothing signed is ever paired with something unsigned."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.schemes import HEADER_SIGNED, OPTIONS, SIGNATURE_HEADER, secret_for, signed_request
from webhook_kit.local.certificates import serve_test_certificates
from webhook_verify.schemes import MAX_HEADER_COMBINATIONS, SCHEMES, Headers, Request, get_scheme

NOW = 1_700_000_000
BODY = b'{"id":"evt_1","event_id":"e1","type":"t"}'
ALL = sorted(SCHEMES)

# Each scheme's headers that carry a timestamp or an id the signature covers.
SIGNED_TIMESTAMP_HEADER = {
    "standard-webhooks": "webhook-timestamp",
    "svix": "svix-timestamp",
    "slack": "x-slack-request-timestamp",
    "generic-hmac": "x-timestamp",
}
SIGNED_ID_HEADER = {"standard-webhooks": "webhook-id", "svix": "svix-id"}


def _with(request: Request, name: str, values: list[str]) -> Request:
    """``request`` with header ``name`` sent once per value (as API Gateway lists them)."""
    pairs = [(k, v) for k, v in request.headers.items() if k != name] + [(name, v) for v in values]
    return Request(headers=Headers(pairs), body=request.body, url=request.url, query=request.query)


def _verified(scheme: str, request: Request, secret: str) -> Request | None:
    return get_scheme(scheme).verified_request(
        request, [secret], now=NOW, tolerance_seconds=300, options=OPTIONS[scheme], fetch=serve_test_certificates
    )


def _forged(scheme: str, secret: str, name: str) -> str:
    return get_scheme(scheme).sign(b"other", secret, timestamp=NOW, options=OPTIONS[scheme])[name]


def test_headers_keep_distinct_values_and_join_them_as_http_does() -> None:
    headers = Headers([("X-A", "1"), ("x-a", "1"), ("X-B", "1"), ("x-b", "2")])
    assert headers.multi == {"x-a": ("1",), "x-b": ("1", "2")}
    assert dict(headers) == {"x-a": "1", "x-b": "1,2"}
    request = Request(headers=headers, body=b"")
    assert request.header("x-a") == "1"
    assert request.header("x-b") is None


@pytest.mark.parametrize("scheme", ALL)
def test_every_signed_header_repeated_with_the_same_value_verifies(scheme: str) -> None:
    secret = secret_for(scheme, b"k")
    request = signed_request(scheme, BODY, secret, NOW)
    pairs = [(k, v) for k, v in request.headers.items() for _ in range(2)]
    repeated = Request(headers=Headers(pairs), body=request.body, url=request.url, query=request.query)
    verified = _verified(scheme, repeated, secret)
    assert verified is repeated


# Where the signature travels in the body (Adyen, Mailgun, AWS SNS), no header holds it.
@pytest.mark.parametrize("scheme", HEADER_SIGNED)
@pytest.mark.parametrize("valid_first", [True, False])
def test_signature_repeated_with_one_valid_value_verifies_as_if_sent_alone(scheme: str, valid_first: bool) -> None:
    secret = secret_for(scheme, b"k")
    request = signed_request(scheme, BODY, secret, NOW)
    name = SIGNATURE_HEADER[scheme]
    valid, forged = request.headers[name], _forged(scheme, secret, name)
    verified = _verified(scheme, _with(request, name, [valid, forged] if valid_first else [forged, valid]), secret)
    assert verified is not None
    assert verified.header(name) == valid
    scheme_obj = get_scheme(scheme)
    assert scheme_obj.delivery_id(verified, OPTIONS[scheme]) == scheme_obj.delivery_id(request, OPTIONS[scheme])


# One value is forged by signing another body: invalid only where the body is signed.
@pytest.mark.parametrize("scheme", [name for name in HEADER_SIGNED if SCHEMES[name].signs_body])
def test_signature_repeated_with_only_invalid_values_is_rejected(scheme: str) -> None:
    secret = secret_for(scheme, b"k")
    request = signed_request(scheme, BODY, secret, NOW)
    name = SIGNATURE_HEADER[scheme]
    forged = [_forged(scheme, secret, name), _forged(scheme, secret_for(scheme, b"other"), name)]
    assert _verified(scheme, _with(request, name, forged), secret) is None


@pytest.mark.parametrize("scheme", sorted(SIGNED_TIMESTAMP_HEADER))
def test_a_stale_signed_timestamp_is_not_rescued_by_a_fresh_unsigned_one(scheme: str) -> None:
    # Signed 1000 s ago: the signature only verifies with the stale timestamp, and a fresh
    # second value must not pass the window check on its behalf.
    secret = secret_for(scheme, b"k")
    stale = NOW - 1000
    request = signed_request(scheme, BODY, secret, stale)
    name = SIGNED_TIMESTAMP_HEADER[scheme]
    for values in ([str(stale), str(NOW)], [str(NOW), str(stale)]):
        assert _verified(scheme, _with(request, name, values), secret) is None


@pytest.mark.parametrize("scheme", sorted(SIGNED_TIMESTAMP_HEADER))
def test_a_timestamp_repeated_with_a_signed_and_an_unsigned_value_verifies_with_the_signed_one(scheme: str) -> None:
    secret = secret_for(scheme, b"k")
    request = signed_request(scheme, BODY, secret, NOW - 10)
    name = SIGNED_TIMESTAMP_HEADER[scheme]
    verified = _verified(scheme, _with(request, name, [str(NOW), str(NOW - 10)]), secret)
    assert verified is not None
    assert verified.header(name) == str(NOW - 10)


@pytest.mark.parametrize("scheme", sorted(SIGNED_ID_HEADER))
@pytest.mark.parametrize("signed_first", [True, False])
def test_the_delivery_id_is_the_repeated_value_that_verified(scheme: str, signed_first: bool) -> None:
    secret = secret_for(scheme, b"k")
    headers = get_scheme(scheme).sign(BODY, secret, timestamp=NOW, options={}, delivery_id="msg_signed")
    name = SIGNED_ID_HEADER[scheme]
    values = ["msg_signed", "msg_unsigned"] if signed_first else ["msg_unsigned", "msg_signed"]
    request = _with(Request(headers=headers, body=BODY), name, values)
    verified = _verified(scheme, request, secret)
    assert verified is not None
    assert get_scheme(scheme).delivery_id(verified, {}) == "msg_signed"
    # Read from the request as received, an ambiguous id is no id at all (never the unsigned one).
    assert get_scheme(scheme).delivery_id(request, {}) is None


@pytest.mark.parametrize("scheme", HEADER_SIGNED)
def test_more_combinations_than_the_cap_are_refused_even_with_a_valid_value(scheme: str) -> None:
    secret = secret_for(scheme, b"k")
    request = signed_request(scheme, BODY, secret, NOW)
    name = SIGNATURE_HEADER[scheme]
    valid = request.headers[name]
    forged = [_forged(scheme, secret_for(scheme, bytes([i])), name) for i in range(MAX_HEADER_COMBINATIONS)]
    assert _verified(scheme, _with(request, name, [*forged[:-1], valid]), secret) is not None
    assert _verified(scheme, _with(request, name, [*forged, valid]), secret) is None


def test_combinations_multiply_across_headers_and_leave_other_headers_alone() -> None:
    pairs: list[tuple[str, Any]] = [("a", "1"), ("a", "2"), ("b", "x"), ("b", "y"), ("c", "p"), ("c", "q")]
    request = Request(headers=Headers(pairs), body=b"")
    combinations = request.combinations(["a", "b", "missing"])
    assert [(r.header("a"), r.header("b")) for r in combinations] == [("1", "x"), ("1", "y"), ("2", "x"), ("2", "y")]
    assert all(r.header_values["c"] == ("p", "q") for r in combinations)
    assert request.combinations(["a", "b", "c"]) == []  # 8 > MAX_HEADER_COMBINATIONS
