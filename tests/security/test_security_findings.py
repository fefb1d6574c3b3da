"""Regression tests for the crashes the fuzzing found, fixed in ``verifier.core``.

An uncaught exception in the verifier becomes Lambda's error and API Gateway's
502: the provider retries and nothing is accepted, but the verifier's contract
("never raises for anything the sender controls") was broken. Each case here
raised before the fix; now each is answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from security_support import SECRETS, FakeAws, call, signed_event, verifier_runtime


@pytest.fixture
def fake() -> Iterator[FakeAws]:
    fake = FakeAws.with_secrets(SECRETS)
    with verifier_runtime(fake):
        yield fake


def _with_header(scheme: str, name: str, value: str) -> dict[str, Any]:
    evt = signed_event(scheme, b'{"id":"evt_1"}')
    evt["headers"][name] = value
    evt["multiValueHeaders"][name] = [value]
    return evt


def _with_query(scheme: str, value: str) -> dict[str, Any]:
    evt = signed_event(scheme, b'{"id":"evt_1"}')
    evt["queryStringParameters"] = {**(evt["queryStringParameters"] or {}), "a": value}
    evt["multiValueQueryStringParameters"] = {**(evt["multiValueQueryStringParameters"] or {}), "a": [value]}
    return evt


SURROGATE = "\ud800"

SURROGATE_CASES = {
    # StandardWebhooks.verify encodes f"{msg_id}.{timestamp}." with UTF-8 once the timestamp is in the window.
    "standard-webhooks id header": lambda: _with_header("standard-webhooks", "webhook-id", "msg_" + SURROGATE),
    "svix id header": lambda: _with_header("svix", "svix-id", "msg_" + SURROGATE),
    # signed_url() urlencodes the query with UTF-8.
    "twilio query parameter": lambda: _with_query("twilio", SURROGATE),
    "square query parameter": lambda: _with_query("square", SURROGATE),
    # core._message_size encodes attribute values; Content-Type is not signed, so a valid signature passes first.
    "content-type of a valid webhook": lambda: _with_header("github", "Content-Type", "application/json" + SURROGATE),
}


@pytest.mark.parametrize("case", list(SURROGATE_CASES))
def test_a_lone_surrogate_in_a_header_or_query_value_is_answered_not_raised(case: str, fake: FakeAws) -> None:
    response = call(SURROGATE_CASES[case]())
    assert response["statusCode"] in {400, 401}
    assert fake.sent == []


STRUCTURE_CASES = {
    "event is a list": lambda: [],
    "event is None": lambda: None,
    "source path parameter is a list": lambda: {**signed_event("github", b"{}"), "pathParameters": {"source": ["x"]}},
    "source path parameter is an object": lambda: {
        **signed_event("github", b"{}"),
        "pathParameters": {"source": {"a": 1}},
    },
    "multi-value query value is a number": lambda: {
        **signed_event("github", b"{}"),
        "multiValueQueryStringParameters": {"a": 5},
    },
}


@pytest.mark.parametrize("case", list(STRUCTURE_CASES))
def test_an_event_of_the_wrong_shape_is_answered_not_raised(case: str, fake: FakeAws) -> None:
    response = call(STRUCTURE_CASES[case]())
    # An unusable source parameter falls back to the path like a missing one:
    # the signed github event may then be accepted.
    assert response["statusCode"] in {202, 400, 401, 404}
