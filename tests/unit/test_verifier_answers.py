"""What the verifier answers besides 202 and 401: methods other than POST, a key it cannot fetch,
a provider's own acknowledgement, handshake echoes, and a source with ``enforce = false``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from shared.message import from_sqs_record
from tests.support.schemes import OPTIONS, secret_for, signed_request
from tests.support.verifier import FakeAws, api_event
from verifier.config import ConfigError, SourceConfig, VerifierConfig, load_config
from verifier.core import Outcome, process
from webhook_verify.handshakes import MAX_ECHO_BYTES, Answer
from webhook_verify.schemes import SCHEMES, KeyUnavailable, Request, Scheme, SigningInput
from webhook_verify.schemes.base import Check

NOW = 1_700_000_000
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-github"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/github"
SECRET = "s3cret"
BODY = b'{"zen":"Keep it logically awesome.","hook_id":1}'


def _source(**overrides: Any) -> SourceConfig:
    settings: dict[str, Any] = {
        "name": "github",
        "scheme": "github",
        "queue_url": QUEUE,
        "secret_arn": ARN,
        "options": OPTIONS["github"],
        **overrides,
    }
    return SourceConfig(**settings)


def _run(event: dict[str, Any], source: SourceConfig | None = None, secret: str = SECRET) -> tuple[Outcome, FakeAws]:
    source = source or _source()
    aws = FakeAws()
    aws.set_secrets(ARN, secret)
    config = VerifierConfig(sources={source.name: source}, max_body_bytes=1024 * 1024)
    return process(event, config=config, adapters=aws, now=float(NOW)), aws


def _signed(body: bytes = BODY, secret: str = SECRET) -> dict[str, Any]:
    request = signed_request("github", body, secret, NOW)
    return api_event("github", body, dict(request.headers))


# --------------------------------------------------------------------------- methods


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "get", "0"])
def test_a_method_other_than_post_is_405_for_a_source_without_a_handshake_on_it(method: str) -> None:
    event = _signed()
    event["httpMethod"] = method
    outcome, aws = _run(event)
    assert (outcome.status, outcome.reason) == (405, "method_not_allowed")
    assert aws.sent == []
    assert aws.calls == []  # refused before the secret is read


def test_a_missing_method_is_taken_as_post_as_api_gateway_always_sends_one() -> None:
    event = _signed()
    del event["httpMethod"]
    outcome, _aws = _run(event)
    assert outcome.status == 202


# --------------------------------------------------------------------------- a key that cannot be fetched


@dataclass(frozen=True)
class _FetchingScheme(Scheme):
    """A stand-in for a certificate scheme: its request names its key by URL."""

    name: str = "fetching-test"
    timestamped: bool = False

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("x-cert-url",)

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        if check.fetch is None:
            raise KeyUnavailable("no fetcher")
        return check.fetch(request.header("x-cert-url") or "") == b"key"

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        return {}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return None

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return None

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset()


class _Web:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.fetched: list[str] = []

    def fetch_key(self, url: str) -> bytes:
        self.fetched.append(url)
        if self.fail:
            raise KeyUnavailable(url)
        return b"key"

    def confirm(self, url: str) -> None:
        raise AssertionError("not a handshake")


@pytest.mark.parametrize(("fail", "status"), [(True, 503), (False, 202)])
def test_a_key_named_by_url_that_cannot_be_fetched_is_503_so_the_provider_retries(
    monkeypatch: pytest.MonkeyPatch, fail: bool, status: int
) -> None:
    monkeypatch.setitem(SCHEMES, "fetching-test", _FetchingScheme())
    source = _source(name="cert", scheme="fetching-test", options={})
    aws = FakeAws()
    aws.set_secrets(ARN, "unused")
    web = _Web(fail)
    event = api_event("cert", b"{}", {"x-cert-url": "https://keys.example/cert.pem"})
    config = VerifierConfig(sources={"cert": source})
    outcome = process(event, config=config, adapters=aws, now=float(NOW), web=web)
    assert outcome.status == status
    assert web.fetched == ["https://keys.example/cert.pem"]
    if fail:
        assert outcome.reason == "key_unavailable"
        assert outcome.response()["headers"]["Retry-After"] == "5"
        assert aws.sent == []


# --------------------------------------------------------------------------- acknowledgements


def test_a_providers_acknowledgement_replaces_the_202_once_the_webhook_is_queued() -> None:
    ack = Answer(200, b"[accepted]", "text/plain; charset=utf-8", {"X-Content-Type-Options": "nosniff"})
    outcome, aws = _run(_signed(), _source(acknowledgement=ack))
    response = outcome.response()
    assert (response["statusCode"], response["body"]) == (200, "[accepted]")
    assert response["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert len(aws.sent) == 1


def test_a_rejected_request_never_gets_the_providers_acknowledgement() -> None:
    ack = Answer(200, b"[accepted]", "text/plain")
    outcome, aws = _run(_signed(secret="not-the-secret"), _source(acknowledgement=ack))
    assert outcome.response()["statusCode"] == 401
    assert aws.sent == []


def _config_with(route: dict[str, Any]) -> VerifierConfig:
    table = {"github": {"scheme": "github", "queue_url": QUEUE, "secret_arn": ARN, **route}}
    return load_config({"WEBHOOK_SOURCES": json.dumps(table), "CLAIM_CHECK_BUCKET": "claims"})


@pytest.mark.parametrize(
    "acknowledgement",
    [
        {"status": 500},
        {"status": True},
        {"body": "x" * 257},
        {"body": 1},
        {"content_type": None},
        {"status": 200, "colour": "blue"},
        "[accepted]",
    ],
)
def test_an_acknowledgement_that_is_not_a_short_2xx_answer_is_a_config_error_naming_the_field(
    acknowledgement: Any,
) -> None:
    with pytest.raises(ConfigError, match=r"\['github'\]\.acknowledgement"):
        _config_with({"acknowledgement": acknowledgement})


def test_the_source_table_carries_handshake_enforce_and_acknowledgement() -> None:
    config = _config_with(
        {"enforce": False, "acknowledgement": {"status": 200, "body": "[accepted]"}, "handshake": None}
    )
    source = config.sources["github"]
    assert (source.enforce, source.handshake) == (False, None)
    assert source.acknowledgement is not None and source.acknowledgement.body == b"[accepted]"
    # Slack's handshake is its scheme's default; a table entry may name another or none.
    table = {"s": {"scheme": "slack", "queue_url": QUEUE, "secret_arn": ARN}}
    slack = load_config({"WEBHOOK_SOURCES": json.dumps(table), "CLAIM_CHECK_BUCKET": "claims"})
    assert slack.sources["s"].handshake == "slack-url-verification"


@pytest.mark.parametrize(("field", "value"), [("enforce", "false"), ("enforce", 0), ("handshake", "nope")])
def test_a_bad_enforce_or_handshake_is_a_config_error_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"\['github'\]\.{field}"):
        _config_with({field: value})


# --------------------------------------------------------------------------- echoes


@pytest.mark.parametrize(
    "value",
    ["", "x" * (MAX_ECHO_BYTES + 1), "a b", "<script>", "tab\there", "line\r\nX-Injected: 1", "é", None, 7, ["a"]],
)
def test_an_echo_refuses_what_is_not_short_printable_ascii_without_spaces(value: Any) -> None:
    if value == "<script>":
        # Printable ASCII is echoed (providers' challenges are), but only ever as inert text.
        answer = Answer.echo(value)
        assert answer is not None
        assert answer.content_type.startswith("text/plain")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        return
    assert Answer.echo(value) is None


def test_an_echo_at_the_cap_is_answered_as_plain_text_with_nosniff() -> None:
    answer = Answer.echo("c" * MAX_ECHO_BYTES)
    assert answer is not None and len(answer.body) == MAX_ECHO_BYTES
    assert (answer.status, answer.content_type) == (200, "text/plain; charset=utf-8")


# --------------------------------------------------------------------------- enforce = false


def test_with_enforcement_off_a_forged_request_is_queued_marked_unverified_and_keyed_on_its_body() -> None:
    outcome, aws = _run(_signed(secret="forged"), _source(enforce=False))
    assert (outcome.status, outcome.result, outcome.unenforced) == (202, "accepted", True)
    (_queue, kwargs), *_ = aws.sent
    record = {
        "body": kwargs["MessageBody"],
        "messageAttributes": {
            name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
            for name, value in kwargs["MessageAttributes"].items()
        },
    }
    message = from_sqs_record(record)
    assert message.provenance.verified is False
    assert (message.provenance.delivery_id_signed, message.provenance.event_type_signed) == (False, False)
    # The id a forger wrote in X-GitHub-Delivery is not the key: the body's digest is.
    assert message.delivery_id == outcome.delivery_id
    assert message.provenance.idempotency_keys == (f"sha256:{message.delivery_id}",)


def test_with_enforcement_off_a_genuine_request_is_queued_as_verified() -> None:
    outcome, aws = _run(_signed(), _source(enforce=False))
    assert (outcome.status, outcome.unenforced) == (202, False)
    assert len(aws.sent) == 1


def test_enforcement_is_on_unless_a_source_turns_it_off() -> None:
    assert _source().enforce is True
    outcome, aws = _run(_signed(secret="forged"))
    assert outcome.status == 401
    assert aws.sent == []


def test_every_scheme_default_handshake_is_registered() -> None:
    from webhook_verify.handshakes import HANDSHAKES

    defaults = {scheme.default_handshake for scheme in SCHEMES.values()} - {None}
    assert defaults <= set(HANDSHAKES)
    assert secret_for("github", b"seed")  # the support module still signs every scheme
