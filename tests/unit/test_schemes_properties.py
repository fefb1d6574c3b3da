"""Properties of every scheme: a valid signature verifies, and any change to what it
covers (body, signature, timestamp, secret) is rejected; hostile input never raises."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.support.schemes import (
    HEADER_SIGNED,
    OPTIONS,
    SIGNATURE_HEADER,
    TIMESTAMPED,
    replace_header,
    secret_for,
    signed_request,
    split_signature,
    verify,
    with_timestamp,
)
from webhook_verify.schemes import SCHEMES, Headers, Request, get_scheme

NOW = 1_700_000_000
TOLERANCE = 300
ALL = sorted(SCHEMES)

bodies = st.binary(max_size=512)
seeds = st.binary(min_size=1, max_size=48)
offsets = st.integers(min_value=-TOLERANCE, max_value=TOLERANCE)
quick = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("scheme", ALL)
@quick
@given(body=bodies, seed=seeds, offset=offsets)
def test_a_valid_signature_verifies(scheme: str, body: bytes, seed: bytes, offset: int) -> None:
    secret = secret_for(scheme, seed)
    assert verify(scheme, signed_request(scheme, body, secret, NOW + offset), [secret], NOW, TOLERANCE)


# A token sent as it is authenticates any body (the schemes that do not sign one: SCHEMES[...].signs_body).
@pytest.mark.parametrize("scheme", [name for name in ALL if SCHEMES[name].signs_body])
@quick
@given(body=bodies, other=bodies, seed=seeds)
def test_any_change_to_the_body_is_rejected(scheme: str, body: bytes, other: bytes, seed: bytes) -> None:
    assume(body != other)
    secret = secret_for(scheme, seed)
    signed = signed_request(scheme, body, secret, NOW)
    tampered = Request(headers=signed.headers, body=other, url=signed.url, query=signed.query)
    assert not verify(scheme, tampered, [secret], NOW, TOLERANCE)


@pytest.mark.parametrize("scheme", HEADER_SIGNED)
@quick
@given(body=bodies, seed=seeds, forged=st.text(max_size=120))
def test_any_other_signature_is_rejected(scheme: str, body: bytes, seed: bytes, forged: str) -> None:
    secret = secret_for(scheme, seed)
    signed = signed_request(scheme, body, secret, NOW)
    header = SIGNATURE_HEADER[scheme]
    head, digest = split_signature(signed.headers[header])
    # generic-hmac reads hex case-insensitively by design (see its docstring).
    assume(forged.lower() != digest.lower() if scheme == "generic-hmac" else forged != digest)
    assert not verify(scheme, replace_header(signed, header, head + forged), [secret], NOW, TOLERANCE)


@pytest.mark.parametrize("scheme", HEADER_SIGNED)
@quick
@given(body=bodies, seed=seeds, flip=st.integers(min_value=0, max_value=10_000))
def test_flipping_one_digest_character_is_rejected(scheme: str, body: bytes, seed: bytes, flip: int) -> None:
    # A near miss (same length, same alphabet) rather than random text.
    secret = secret_for(scheme, seed)
    signed = signed_request(scheme, body, secret, NOW)
    header = SIGNATURE_HEADER[scheme]
    head, digest = split_signature(signed.headers[header])
    position = flip % len(digest.rstrip("="))
    alphabet = string.hexdigits.lower()[:16] if all(c in "0123456789abcdef" for c in digest) else string.ascii_letters
    replacement = next(c for c in alphabet if c != digest[position])
    mutated = digest[:position] + replacement + digest[position + 1 :]
    assert not verify(scheme, replace_header(signed, header, head + mutated), [secret], NOW, TOLERANCE)


@pytest.mark.parametrize("scheme", TIMESTAMPED)
@quick
@given(body=bodies, seed=seeds, new_offset=offsets)
def test_any_change_to_the_signed_timestamp_is_rejected(scheme: str, body: bytes, seed: bytes, new_offset: int) -> None:
    assume(new_offset != 0)
    secret = secret_for(scheme, seed)
    signed = signed_request(scheme, body, secret, NOW)
    # Still inside the window: only the signature can catch it.
    assert not verify(scheme, with_timestamp(signed, NOW, NOW + new_offset), [secret], NOW, TOLERANCE)


@pytest.mark.parametrize("scheme", ALL)
@quick
@given(body=bodies, seed=seeds, other_seed=seeds)
def test_any_other_secret_is_rejected(scheme: str, body: bytes, seed: bytes, other_seed: bytes) -> None:
    assume(seed != other_seed)
    signed = signed_request(scheme, body, secret_for(scheme, seed), NOW)
    assert not verify(scheme, signed, [secret_for(scheme, other_seed)], NOW, TOLERANCE)


_SIGNATURE_HEADERS = sorted({h for s in SCHEMES for h in get_scheme(s).signature_headers(OPTIONS[s])})
_OTHER_HEADERS = ["webhook-id", "webhook-timestamp", "svix-id", "svix-timestamp", "x-slack-request-timestamp"]
_OTHER_HEADERS += ["x-timestamp", "x-twilio-webhooks-signature-settings", "content-type", "x-github-delivery"]
header_names = st.sampled_from(_SIGNATURE_HEADERS + _OTHER_HEADERS)
hostile_text = st.one_of(
    st.text(max_size=200),
    st.from_regex(r"(t|v1|v0|ts|h1|sha256)=[0-9a-f]{0,70}([,;](t|v1|ts|h1)=[-0-9.e]{0,20}){0,4}", fullmatch=True),
    st.from_regex(r"(v1,[A-Za-z0-9+/=]{0,50} ?){0,3}", fullmatch=True),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=8000, max_size=9000),
)


@pytest.mark.parametrize("scheme", ALL)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.dictionaries(header_names, hostile_text, max_size=6),
    body=bodies,
    secrets=st.lists(st.text(max_size=40), max_size=3),
    query=st.lists(st.tuples(st.sampled_from(["bodySHA256", "a"]), st.text(max_size=70)), max_size=3),
    now=st.one_of(st.integers(min_value=0, max_value=2**40), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_hostile_input_never_raises_and_never_verifies(
    scheme: str, headers: dict[str, str], body: bytes, secrets: list[str], query: list[tuple[str, str]], now: float
) -> None:
    # A token sent as it is: a header that happens to equal a secret is that token, not hostile input.
    assume(SCHEMES[scheme].signs_body or not set(secrets) & set(headers.values()))
    request = Request(headers=headers, body=body, url="https://h.example/x", query=tuple(query))
    impl = get_scheme(scheme)
    result = impl.verify(request, secrets, now=now, tolerance_seconds=TOLERANCE, options=OPTIONS[scheme])
    assert result is False
    impl.delivery_id(request, OPTIONS[scheme])
    impl.event_type(request, OPTIONS[scheme])


@pytest.mark.parametrize("scheme", ALL)
@pytest.mark.parametrize(
    "options",
    [{}, {"public_url": 42}, {"public_url": "http://[::1"}, {"signature_header": 3, "algorithm": None}],
)
def test_missing_or_odd_options_give_false_not_an_exception(scheme: str, options: dict) -> None:
    signed = signed_request(scheme, b"{}", secret_for(scheme, b"k"), NOW)
    result = get_scheme(scheme).verify(
        signed, [secret_for(scheme, b"k")], now=NOW, tolerance_seconds=1, options=options
    )
    assert isinstance(result, bool)


@quick
@given(
    params=st.lists(st.tuples(st.text(min_size=1, max_size=10), st.text(max_size=20)), min_size=1, max_size=5),
    extra=st.tuples(st.text(min_size=1, max_size=10), st.text(max_size=20)),
)
def test_twilio_form_post_with_any_added_parameter_is_rejected(params: list, extra: tuple) -> None:
    # Twilio signs the decoded parameters rather than the bytes; adding one must still fail.
    from urllib.parse import urlencode

    assume(extra not in params)
    body = urlencode(params).encode()
    options = OPTIONS["twilio"]
    headers = get_scheme("twilio").sign(body, "tok", timestamp=NOW, options=options)
    assert verify("twilio", Request(headers=headers, body=body), ["tok"], NOW)
    tampered = urlencode([*params, extra]).encode()
    assert not verify("twilio", Request(headers=headers, body=tampered), ["tok"], NOW)


@pytest.mark.parametrize("scheme", ALL)
# Large inputs on purpose: hostile_text includes headers around the 8 KB length limit.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pairs=st.lists(st.tuples(header_names, hostile_text), max_size=8), body=bodies)
def test_hostile_repeated_headers_never_raise_and_never_verify(
    scheme: str, pairs: list[tuple[str, str]], body: bytes
) -> None:
    request = Request(headers=Headers(pairs), body=body, url="https://h.example/x")
    impl = get_scheme(scheme)
    secret = secret_for(scheme, b"k")
    assert impl.verify(request, [secret], now=NOW, tolerance_seconds=TOLERANCE, options=OPTIONS[scheme]) is False
    impl.delivery_id(request, OPTIONS[scheme])
    impl.event_type(request, OPTIONS[scheme])


# How a query may be spelled in the URL configured at Twilio: urlencode's form encoding,
# strict percent-encoding, JavaScript's encodeURIComponent, and typed by hand (only what
# must be escaped is escaped, a space as "+" or %20).
_HAND = "/?:@!$'()*,;="


def _spell(pairs: list[tuple[str, str]], style: str) -> str:
    from urllib.parse import quote, quote_plus, urlencode

    if style == "urlencode":
        return urlencode(pairs)
    if style == "percent":
        return urlencode(pairs, quote_via=quote)
    quoted, safe = {"js": (quote, "!'()*"), "hand": (quote, _HAND), "hand-plus": (quote_plus, _HAND)}[style]
    return "&".join(f"{quoted(k, safe=safe.replace('=', ''))}={quoted(v, safe=safe)}" for k, v in pairs)


query_chars = st.sampled_from("aZ09 -_.~+/?:@!$'()*,;=&%#é日\"<>[]")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    query=st.lists(
        st.tuples(st.text(query_chars, min_size=1, max_size=6), st.text(query_chars, max_size=10)),
        max_size=4,
        unique_by=lambda pair: pair[0],
    ),
    style=st.sampled_from(["urlencode", "percent", "js", "hand", "hand-plus"]),
    port=st.sampled_from(["", ":443", ":8443"]),
    signed_with_port=st.booleans(),
    params=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=12), max_size=4),
)
def test_twilio_verifies_every_signature_its_own_validator_accepts(
    query: list[tuple[str, str]], style: str, port: str, signed_with_port: bool, params: dict[str, str]
) -> None:
    # Oracle: twilio 9.13.0 RequestValidator (twilio/request_validator.py). Twilio signs the
    # URL as configured (here public_url + the query in one spelling); its validator accepts
    # that URL with the port removed or added. API Gateway hands the query over decoded and
    # grouped by name (parse_qsl: "+" and %20 both become a space).
    from urllib.parse import parse_qsl, urlencode, urlparse

    from twilio.request_validator import RequestValidator, add_port, remove_port

    public_url = f"https://hooks.example.com{port}/twilio"
    spelled = _spell(query, style)
    requested = public_url + ("?" + spelled if spelled else "")
    signed_url = (add_port if signed_with_port else remove_port)(urlparse(requested))
    signature = RequestValidator("tok").compute_signature(signed_url, params)
    assert RequestValidator("tok").validate(requested, params, signature)

    decoded = tuple(parse_qsl(spelled, keep_blank_values=True))
    request = Request(headers={"x-twilio-signature": signature}, body=urlencode(params).encode(), query=decoded)
    assert get_scheme("twilio").verify(
        request, ["tok"], now=NOW, tolerance_seconds=0, options={"public_url": public_url}
    )
