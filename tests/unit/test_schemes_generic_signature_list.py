"""generic-hmac with several signatures in one header (``signature_separator``), as PagerDuty and CircleCI send them.

PagerDuty's ``X-PagerDuty-Signature`` holds one ``v1=<hex>`` item per signing
secret, comma-separated, two during a rotation; any v1 item may match
(PagerDuty developer docs, "Verifying Signatures"). CircleCI documents
``circleci-signature`` the same way, with v1 the only version today. The
digests here are the standard library's HMAC of the body, as both document it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacks.source_config import GenericHmacOptions
from webhook_verify.schemes import GenericHmac, Headers, Request, SchemeConfigError, get_scheme
from webhook_verify.schemes.generic_hmac import MAX_SIGNATURES

NOW = 1_700_000_000
BODY = b'{"event":{"id":"01BWDWL3","event_type":"incident.triggered"}}'
OLD, NEW = "old-secret", "new-secret"
PAGERDUTY = {"signature_header": "X-PagerDuty-Signature", "prefix": "v1=", "signature_separator": ","}


def v1(secret: str, body: bytes = BODY) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verifies(value: str, secrets: list[str], options: dict[str, Any] = PAGERDUTY) -> bool:
    request = Request(headers={"x-pagerduty-signature": value}, body=BODY)
    return get_scheme("generic-hmac").verify(request, secrets, now=NOW, tolerance_seconds=300, options=options)


# --------------------------------------------------------------------------- which items count


@pytest.mark.parametrize("secrets", [[OLD], [NEW], [OLD, NEW], ["other", NEW]])
def test_a_rotation_header_verifies_with_either_secret_active(secrets: list[str]) -> None:
    assert verifies(f"{v1(OLD)},{v1(NEW)}", secrets)


def test_a_header_where_no_item_matches_is_refused() -> None:
    assert not verifies(f"{v1('a')},{v1('b')}", [NEW])


def test_items_of_another_version_are_ignored() -> None:
    digest = v1(NEW).removeprefix("v1=")
    assert verifies(f"v2=not-a-digest,{v1(NEW)}", [NEW])
    # A v2 item is never compared, even when it carries the right digest.
    assert not verifies(f"v2={digest},{v1('other')}", [NEW])
    assert not verifies(f"v2={digest}", [NEW])


@pytest.mark.parametrize("value", ["{sig},", ",{sig}", "{sig},,", ",,{sig},"])
def test_empty_items_are_skipped(value: str) -> None:
    assert verifies(value.format(sig=v1(NEW)), [NEW])


@pytest.mark.parametrize("value", ["", ",", ",,", " , ", "v1=", "v1=,v1="])
def test_a_header_without_a_v1_digest_is_refused(value: str) -> None:
    assert not verifies(value, [NEW])


@pytest.mark.parametrize("value", ["{bad}, {sig}", " {sig} ", "\t{sig}\t,{bad}", "{bad} ,  {sig}"])
def test_spaces_and_tabs_around_items_are_stripped(value: str) -> None:
    assert verifies(value.format(sig=v1(NEW), bad=v1("other")), [NEW])


def test_an_item_is_stripped_around_not_inside() -> None:
    digest = v1(NEW).removeprefix("v1=")
    assert not verifies(f"v1= {digest}", [NEW])
    assert not verifies(f"v1={digest[:32]} {digest[32:]}", [NEW])


def test_hex_is_case_insensitive_per_item() -> None:
    assert verifies(f"{v1('other')},{v1(NEW).upper().replace('V1=', 'v1=')}", [NEW])


def test_without_a_separator_the_header_is_one_signature() -> None:
    single = {key: value for key, value in PAGERDUTY.items() if key != "signature_separator"}
    assert verifies(v1(NEW), [NEW], single)
    assert not verifies(f"{v1(NEW)},{v1(OLD)}", [NEW], single)


# --------------------------------------------------------------------------- the cap


def test_up_to_the_cap_items_are_compared() -> None:
    items = [v1(f"other-{n}") for n in range(MAX_SIGNATURES - 1)] + [v1(NEW)]
    assert verifies(",".join(items), [NEW])


@pytest.mark.parametrize("position", [0, MAX_SIGNATURES])
def test_more_items_than_the_cap_are_refused_even_with_a_match(position: int) -> None:
    items = [v1(f"other-{n}") for n in range(MAX_SIGNATURES)]
    items.insert(position, v1(NEW))
    assert not verifies(",".join(items), [NEW])


def test_empty_items_count_towards_the_cap() -> None:
    assert not verifies(v1(NEW) + "," * MAX_SIGNATURES, [NEW])


def test_a_huge_header_is_refused_without_raising() -> None:
    assert not verifies(",".join([v1(NEW)] * 10_000), [NEW])


# --------------------------------------------------------------------------- repeated headers, signing


def test_a_repeated_header_is_still_tried_one_value_at_a_time() -> None:
    headers = Headers([("x-pagerduty-signature", v1("a")), ("x-pagerduty-signature", f"{v1('b')},{v1(NEW)}")])
    request = Request(headers=headers, body=BODY)
    found = get_scheme("generic-hmac").verified_request(
        request, [NEW], now=NOW, tolerance_seconds=300, options=PAGERDUTY
    )
    assert found is not None
    assert found.header("x-pagerduty-signature") == f"{v1('b')},{v1(NEW)}"


def test_sign_writes_one_item_that_verifies() -> None:
    headers = get_scheme("generic-hmac").sign(BODY, NEW, timestamp=NOW, options=PAGERDUTY)
    assert headers == {"x-pagerduty-signature": v1(NEW)}
    assert verifies(headers["x-pagerduty-signature"], [NEW])


@settings(max_examples=80, deadline=None)
@given(
    others=st.lists(st.text(alphabet="v12=abcdef0123456789 \t", max_size=70), max_size=MAX_SIGNATURES - 1),
    position=st.integers(min_value=0, max_value=MAX_SIGNATURES - 1),
    signed=st.booleans(),
)
def test_a_list_verifies_exactly_when_it_holds_a_matching_v1_item(
    others: list[str], position: int, signed: bool
) -> None:
    # Items free of "," stay items; a random one never equals a real digest.
    items = list(others)
    if signed:
        items.insert(min(position, len(items)), v1(NEW))
    assert verifies(",".join(items), [NEW]) is signed


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("separator", "extra", "message"),
    [
        ("", {}, "non-empty"),
        (5, {}, "non-empty"),
        ("a", {}, "letters or digits"),
        ("1", {}, "letters or digits"),
        (";x", {}, "letters or digits"),
        ("=", {}, "prefix"),
        ("/", {"encoding": "base64", "prefix": ""}, "base64"),
        ("+", {"encoding": "base64", "prefix": ""}, "base64"),
    ],
)
def test_an_unworkable_separator_is_refused_and_verify_does_not_raise(
    separator: object, extra: dict[str, Any], message: str
) -> None:
    options = {**PAGERDUTY, **extra, "signature_separator": separator}
    with pytest.raises(SchemeConfigError, match=message):
        GenericHmac.validate_options(options)
    assert not verifies(v1(NEW), [NEW], options)


@pytest.mark.parametrize("separator", [",", ";", " ", ", "])
def test_a_punctuation_or_space_separator_is_accepted(separator: str) -> None:
    GenericHmac.validate_options({**PAGERDUTY, "signature_separator": separator})


def test_the_configuration_takes_the_separator_and_names_a_bad_one() -> None:
    assert GenericHmacOptions(signature_header="X-S", signature_separator=",").signature_separator == ","
    with pytest.raises(ValueError, match="signature_separator must not contain letters or digits"):
        GenericHmacOptions(signature_header="X-S", signature_separator="x")
