"""The verifier's HTTP client (verifier.web.UrllibWeb) with an in-memory opener: which URLs it
will call at all, the size cap, and the per-cold-start cache's lifetime and bound. The same
client against a real TLS server on loopback (redirects, slow servers): tests/integration."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from verifier.adapters import DependencyError
from verifier.web import CACHE_SECONDS, FAILURE_SECONDS, MAX_BYTES, UrllibWeb
from webhook_verify.schemes import KeyUnavailable

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem"
PAYPAL_URL = "https://api-m.paypal.com/v1/notifications/certs/CERT-1"


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(body)
        self.status = status
        self.headers = headers or {}

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeOpener:
    """Answers every URL with ``body`` and records what was asked for."""

    def __init__(self, body: bytes = b"-----BEGIN CERTIFICATE-----", **response: Any) -> None:
        self.body = body
        self.response = response
        self.opened: list[str] = []
        self.fail: Exception | None = None

    def open(self, url: str, timeout: float) -> FakeResponse:
        self.opened.append(url)
        if self.fail is not None:
            raise self.fail
        return FakeResponse(self.body, **self.response)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def web_with(opener: FakeOpener, **kwargs: Any) -> Iterator[tuple[UrllibWeb, Clock]]:
    clock = Clock()
    yield UrllibWeb(opener=lambda: opener, clock=clock, **kwargs), clock


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-0123.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
        "https://xsns.us-east-1.amazonaws.com/x.pem",
        "https://sns-us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://attacker@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com\\@evil.example/x.pem",
        "https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/x.pem",
        "https://SNS.US-EAST-1.AMAZONAWS.COM/x.pem",
        "https://api.paypal.com.evil.example/v1/notifications/certs/x",
        "https://paypal.com/v1/notifications/certs/x",
        "https://sns.us-east-1.amazonaws.com/x.pem#fragment",
        "https://sns.us-east-1.amazonaws.com/x .pem",
        "file:///etc/passwd",
        "",
    ],
)
def test_a_url_off_the_allow_list_is_refused_without_a_call(url: str) -> None:
    opener = FakeOpener()
    with web_with(opener) as (web, _clock):
        with pytest.raises(KeyUnavailable):
            web.fetch_key(url)
        with pytest.raises(DependencyError):
            web.confirm(url)
    assert opener.opened == []


@pytest.mark.parametrize("url", [CERT_URL, PAYPAL_URL, "https://sns.cn-north-1.amazonaws.com.cn/c.pem"])
def test_the_certificate_schemes_hosts_are_allowed_by_default(url: str) -> None:
    opener = FakeOpener(b"pem")
    with web_with(opener) as (web, _clock):
        assert web.fetch_key(url) == b"pem"
    assert opener.opened == [url]


def test_a_caller_may_narrow_the_allow_list() -> None:
    with (
        web_with(FakeOpener(), allowed_hosts=[re.compile(r"api\.paypal\.com")]) as (web, _clock),
        pytest.raises(KeyUnavailable),
    ):
        web.fetch_key(CERT_URL)


@pytest.mark.parametrize(
    "response",
    [
        {"status": 404},
        {"status": 500},
        {"status": 204},
        {"headers": {"Content-Length": str(MAX_BYTES + 1)}},
        {"headers": {"Content-Length": "-1"}},
    ],
)
def test_an_unusable_answer_is_unavailable(response: dict[str, Any]) -> None:
    with web_with(FakeOpener(**response)) as (web, _clock), pytest.raises(KeyUnavailable):
        web.fetch_key(CERT_URL)


def test_a_body_over_the_cap_is_refused_even_without_a_content_length() -> None:
    with web_with(FakeOpener(b"x" * (MAX_BYTES + 1))) as (web, _clock), pytest.raises(KeyUnavailable):
        web.fetch_key(CERT_URL)
    with web_with(FakeOpener(b"x" * MAX_BYTES)) as (web, _clock):
        assert len(web.fetch_key(CERT_URL)) == MAX_BYTES


@pytest.mark.parametrize("error", [OSError("refused"), TimeoutError(), ValueError("bad url")])
def test_a_failed_call_is_unavailable_for_a_fetch_and_a_dependency_error_for_a_confirmation(error: Exception) -> None:
    opener = FakeOpener()
    opener.fail = error
    with web_with(opener) as (web, _clock):
        with pytest.raises(KeyUnavailable):
            web.fetch_key(CERT_URL)
        with pytest.raises(DependencyError):
            web.confirm("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")


def test_a_certificate_is_cached_for_its_lifetime_then_fetched_again() -> None:
    opener = FakeOpener(b"pem")
    with web_with(opener) as (web, clock):
        web.fetch_key(CERT_URL)
        clock.now += CACHE_SECONDS - 1
        web.fetch_key(CERT_URL)
        assert opener.opened == [CERT_URL]
        clock.now += 2
        web.fetch_key(CERT_URL)
    assert opener.opened == [CERT_URL, CERT_URL]


def test_a_failure_is_remembered_briefly_so_a_burst_costs_one_call() -> None:
    opener = FakeOpener(status=503)
    with web_with(opener) as (web, clock):
        for _ in range(5):
            with pytest.raises(KeyUnavailable):
                web.fetch_key(CERT_URL)
        assert len(opener.opened) == 1
        opener.response = {}
        clock.now += FAILURE_SECONDS + 1
        assert web.fetch_key(CERT_URL)
    assert len(opener.opened) == 2


def test_the_cache_holds_a_bounded_number_of_certificates() -> None:
    opener = FakeOpener(b"pem")
    urls = [f"https://sns.us-east-1.amazonaws.com/c{i}.pem" for i in range(5)]
    with web_with(opener, cache_entries=3) as (web, clock):
        for url in urls:
            clock.now += 1
            web.fetch_key(url)
        web.fetch_key(urls[-1])
        web.fetch_key(urls[0])  # the oldest was dropped: fetched again
    assert opener.opened == [*urls, urls[0]]


def test_a_confirmation_is_never_cached() -> None:
    opener = FakeOpener(b"<ConfirmSubscriptionResponse/>")
    url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=t&Token=1"
    with web_with(opener) as (web, _clock):
        web.confirm(url)
        web.confirm(url)
    assert opener.opened == [url, url]


def test_building_the_client_imports_no_cryptography() -> None:
    # The cold start of an HMAC-only verifier builds the client too (verifier.handler.runtime):
    # beyond what the verifier's other modules load, it adds no cryptography module.
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, 'lambdas'); import verifier.adapters, webhook_verify.schemes; "
        "before = {n for n in sys.modules if n.startswith('cryptography')}; "
        "from verifier import web; web.UrllibWeb(); "
        "print(sorted({n for n in sys.modules if n.startswith('cryptography')} - before))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert result.stdout.strip() == "[]"
