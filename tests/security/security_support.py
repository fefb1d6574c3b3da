"""Builders for the security tests (no tests here): one verifier source per scheme, signed
API Gateway events, an in-memory fake of the verifier's AWS seam, and a way to run the
real handler (Powertools logger, metrics and tracer included) against them."""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from shared.event import PermanentError, WebhookEvent
from tests.support.lambda_context import LambdaContext
from tests.support.ledger import Ledger

# The same fakes as the verifier's unit tests: one in-memory AWS, not two copies.
from tests.support.verifier import FakeAws as UnitFakeAws
from verifier import handler as verifier_handler
from verifier.config import SourceConfig, VerifierConfig
from webhook_kit.local.certificates import LocalWeb, signing_options
from webhook_verify.schemes import SCHEMES, get_scheme, twilio_json_query

NOW = 1_700_000_000
TOLERANCE = 300
MAX_BODY = 4096
THRESHOLD = 2048
BUCKET = "claim-checks"
PUBLIC_URL = "https://hooks.example.com/webhooks/{}"

# One source per scheme, named after it.
OPTIONS: dict[str, dict[str, Any]] = {
    name: {"public_url": PUBLIC_URL.format(name)} if scheme.needs_public_url else {} for name, scheme in SCHEMES.items()
}
OPTIONS["generic-hmac"] = {
    "signature_header": "X-Signature",
    "prefix": "sha256=",
    "timestamp_header": "X-Timestamp",
    "signed_template": "{timestamp}.{body}",
    "delivery_id_header": "X-Id",
}
# The token travels as it is, in a header the verifier never queues or logs.
OPTIONS["shared-token"] = {"token_header": "X-Token", "delivery_id_header": "X-Id"}
# Schemes signed with a provider's private key sign here with the kit's test key (LocalWeb serves its certificates).
for _name in SCHEMES:
    OPTIONS[_name].update(signing_options(_name))
ALL_SCHEMES = sorted(SCHEMES)
# The schemes whose signature travels in a header a test can mangle (not in the body: Adyen, Mailgun, AWS SNS).
HEADER_SIGNED = tuple(name for name in ALL_SCHEMES if SCHEMES[name].signature_headers(OPTIONS[name]))
TIMESTAMPED = tuple(sorted(name for name, scheme in SCHEMES.items() if scheme.signs_timestamp(OPTIONS[name])))


def secret_for(scheme: str, tag: str = "fuzz") -> str:
    """A secret in the scheme's own format whose key is readable text naming ``tag`` and the scheme."""
    return SCHEMES[scheme].secret_for_key(f"{tag}-{scheme}-key".encode())


SECRETS = {name: secret_for(name) for name in SCHEMES}


def secret_arn(source: str) -> str:
    return f"arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/{source}"


def queue_url(source: str) -> str:
    return f"https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-{source}"


def verifier_config() -> VerifierConfig:
    return VerifierConfig(
        sources={
            name: SourceConfig(
                name=name,
                scheme=name,
                queue_url=queue_url(name),
                secret_arn=secret_arn(name),
                tolerance_seconds=TOLERANCE,
                options=OPTIONS[name],
            )
            for name in SCHEMES
        },
        max_body_bytes=MAX_BODY,
        claim_check_bucket=BUCKET,
        claim_check_threshold_bytes=THRESHOLD,
    )


class FakeAws(UnitFakeAws):
    """The unit tests' in-memory Secrets Manager, S3 and SQS, seeded with one secret per source."""

    @classmethod
    def with_secrets(cls, secrets: Mapping[str, str]) -> FakeAws:
        fake = cls()
        for source, secret in secrets.items():
            fake.set_secrets(secret_arn(source), secret)
        return fake

    def clear(self) -> None:
        self.objects.clear()
        self.sent.clear()
        self.calls.clear()
        self.fail_secrets = self.fail_put = self.fail_send = False


class _Sink(io.TextIOBase):
    """A stream that keeps what was written (bounded, so long fuzz runs do not grow memory)."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.parts: list[str] = []
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        if self.keep:
            self.parts.append(text)
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)


@contextlib.contextmanager
def verifier_runtime(fake: FakeAws, *, keep_logs: bool = False) -> Iterator[_Sink]:
    """The real verifier handler wired to ``fake``; its log stream and stdout (metrics) go to the yielded sink."""
    saved = os.environ.get("POWERTOOLS_TRACE_DISABLED")
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"
    sink = _Sink(keep_logs)
    previous = verifier_handler.logger.registered_handler.setStream(sink)
    verifier_handler.install(adapters=fake, config=verifier_config(), clock=lambda: float(NOW), web=LocalWeb())
    try:
        with contextlib.redirect_stdout(sink):
            yield sink
    finally:
        verifier_handler.reset()
        verifier_handler.logger.registered_handler.setStream(previous)
        if saved is None:
            os.environ.pop("POWERTOOLS_TRACE_DISABLED", None)
        else:
            os.environ["POWERTOOLS_TRACE_DISABLED"] = saved


def call(event: Any) -> dict[str, Any]:
    return verifier_handler.handler(event, LambdaContext())


def sign(
    scheme: str, body: bytes, *, secret: str | None = None, timestamp: int = NOW
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(headers, query) a provider of ``scheme`` sends with ``body``; Twilio is signed in JSON mode."""
    pairs = twilio_json_query(body) if scheme == "twilio" else ()
    secret = secret if secret is not None else SECRETS[scheme]
    headers = get_scheme(scheme).sign(body, secret, timestamp=timestamp, options=OPTIONS[scheme], query=pairs)
    return headers, {k: [v] for k, v in pairs}


def event(
    source: str,
    body: bytes | None,
    headers: Mapping[str, str] | None = None,
    *,
    query: Mapping[str, list[str]] | None = None,
    base64_body: bool = True,
) -> dict[str, Any]:
    """A REST API proxy event for ``POST /webhooks/{source}`` as API Gateway builds it (binary media type */*)."""
    all_headers = {
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "Content-Type": "application/json",
        "User-Agent": "fuzz/1.0",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    if body is None:
        raw: str | None = None
    elif base64_body:
        raw = base64.b64encode(body).decode("ascii")
    else:
        raw = body.decode("utf-8")
    return {
        "resource": "/webhooks/{source}",
        "path": f"/webhooks/{source}",
        "httpMethod": "POST",
        "headers": dict(all_headers),
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": dict(query) if query else None,
        "pathParameters": {"source": source},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/webhooks/{source}",
            "httpMethod": "POST",
            "path": f"/prod/webhooks/{source}",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "192.0.2.10", "userAgent": "fuzz/1.0"},
        },
        "body": raw,
        "isBase64Encoded": base64_body and body is not None,
    }


def envelope(scheme: str, body: bytes, *, secret: str | None = None, timestamp: int = NOW) -> bytes:
    """The body a provider of ``scheme`` posts to carry ``body``: ``body`` itself, except where the
    signature travels in the body (Adyen, Mailgun, AWS SNS). ``sign`` signs what this returns."""
    secret = secret if secret is not None else SECRETS[scheme]
    return get_scheme(scheme).envelope(body, secret, timestamp=timestamp, options=OPTIONS[scheme])


def signed_event(scheme: str, body: bytes, *, base64_body: bool = True, secret: str | None = None) -> dict[str, Any]:
    """``body`` as ``scheme``'s provider posts it (its ``envelope``), signed; ``posted`` gives those bytes."""
    body = envelope(scheme, body, secret=secret)
    headers, query = sign(scheme, body, secret=secret)
    return event(scheme, body, headers, query=query, base64_body=base64_body)


def posted(evt: Mapping[str, Any]) -> bytes:
    """The body bytes of an event this module built."""
    raw = evt["body"]
    return base64.b64decode(raw) if evt["isBase64Encoded"] else raw.encode("utf-8")


def set_header(evt: dict[str, Any], name: str, value: Any) -> None:
    """Replace header ``name`` (any spelling) in both header maps."""
    for key in ("headers", "multiValueHeaders"):
        container = evt.get(key)
        if isinstance(container, dict):
            for existing in [k for k in container if str(k).lower() == name.lower()]:
                del container[existing]
    evt["headers"][name] = value
    evt["multiValueHeaders"][name] = [value]


def drop_header(evt: dict[str, Any], name: str) -> None:
    for key in ("headers", "multiValueHeaders"):
        for existing in [k for k in evt[key] if str(k).lower() == name.lower()]:
            del evt[key][existing]


# --------------------------------------------------------------------------- the local pipeline's workers


def write_function_output_to(path: str, handler_module: str) -> None:
    """A worker set-up: the function's stdout, stderr and Powertools log stream all go to ``path``.

    The functions run in worker processes of their own, so a test reads what they wrote from this file.
    """
    import importlib

    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the worker's whole life
    sys.stdout = sys.stderr = stream
    importlib.import_module(handler_module).logger.registered_handler.setStream(stream)


def handle_by_prefix(ledger: Ledger, event: WebhookEvent) -> None:
    """The security pipeline's handler: ``retry-`` ids fail once (retryable), ``perm-`` ids for good."""
    first_time = not ledger.calls(event.delivery_id)
    ledger.handle(event)
    if event.delivery_id.startswith("perm-"):
        raise PermanentError("the test handler refuses this delivery for good")
    if event.delivery_id.startswith("retry-") and first_time:
        raise RuntimeError("the test handler fails this delivery once")


def serve_by_prefix(ledger: Ledger, pattern: str) -> None:
    """A worker set-up: ``handle_by_prefix`` for every event type of the sources matching ``pattern``."""
    from shared.router import router

    router.on(pattern, "*")(functools.partial(handle_by_prefix, ledger))
