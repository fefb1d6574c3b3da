"""No secret, signature or body ever reaches a log line.

Canary values stand in for the signing secret, the body and the signature.
The real handlers run with their real Powertools loggers; everything they
write (their log streams, stdout with the EMF metrics when enabled, file descriptors 1 and
2, and every record any Python logger emits at INFO or above) is searched
for the canaries, the body also in its base64 and hex forms.

1. The verifier, in-process with an AWS fake, for every scheme: accepted,
   401 (forged signature; genuine signature over a tampered body), 503 (queue
   down; secret unavailable), 400 and 413.
2. The verifier and the processor through the local pipeline (moto), in their
   worker processes, which write all of it to one file: processed,
   retried then processed, duplicate, permanent failure to the DLQ, an
   undecodable queue message, and a 401.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from security_support import (
    ALL_SCHEMES,
    MAX_BODY,
    NOW,
    OPTIONS,
    FakeAws,
    call,
    envelope,
    event,
    secret_for,
    sign,
    verifier_runtime,
)

from shared.message import QueuedWebhook, to_send_message_kwargs
from webhook_kit.local import LocalPipeline, local_client, secret_name
from webhook_kit.send import build
from webhook_verify.schemes import Request, get_scheme

BODY_CANARY = "BODY-CANARY-q7Zx91"
SECRET_CANARY = "SECRET-CANARY-k4Vw22"
SIGNATURE_CANARY = "SIGNATURE-CANARY-p3Rt56"
BODY = json.dumps({"note": BODY_CANARY, "padding": "x" * 40}).encode()


def canary_secret(scheme: str) -> str:
    """A secret in the scheme's own format whose key is the canary text."""
    return get_scheme(scheme).secret_for_key(f"{SECRET_CANARY}-{scheme}".encode())


def _base64_cores(data: bytes) -> list[str]:
    """The base64 text of ``data`` at each of the three alignments it can have inside a longer blob."""
    cores = []
    for shift in range(3):
        text = base64.b64encode(b"\0" * shift + data).decode()
        cores.append(text[4:-4])
    return cores


def forbidden_strings(*, bodies: list[bytes], secrets: list[str], signatures: list[str]) -> list[str]:
    found = [SECRET_CANARY, SIGNATURE_CANARY, BODY_CANARY, BODY_CANARY.encode().hex()]
    found += _base64_cores(BODY_CANARY.encode())
    for body in bodies:
        found += [base64.b64encode(body).decode(), body.hex()]
    for secret in secrets:
        found.append(secret)
        if secret.startswith("whsec_"):
            found.append(base64.b64decode(secret[6:]).decode())
    for signature in signatures:
        found.append(signature)
        found.append(max(re.split(r"[=,; ]", signature), key=len))  # the digest alone
    return [text for text in found if len(text) >= 8]


class _Records(logging.Handler):
    """Every record any logger emits, with all its attributes (extras included)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(repr(record.__dict__) + " " + record.getMessage())


@contextlib.contextmanager
def all_log_output() -> Iterator[_Records]:
    root = logging.getLogger()
    records = _Records()
    level = root.level
    root.addHandler(records)
    root.setLevel(logging.INFO)
    try:
        yield records
    finally:
        root.removeHandler(records)
        root.setLevel(level)


def assert_no_canary(output: str, forbidden: list[str]) -> None:
    leaked = [text for text in forbidden if text in output]
    assert not leaked, f"leaked into the logs: {leaked}"


# --------------------------------------------------------------------------- 1. the verifier, every scheme


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_verifier_logs_hold_no_secret_signature_or_body_on_any_path(
    scheme: str, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = canary_secret(scheme)
    fake = FakeAws.with_secrets({scheme: secret})
    # BODY itself, or where the signature travels in the body (Adyen, Mailgun) the provider's envelope of it.
    body = envelope(scheme, BODY, secret=secret)
    headers, query = sign(scheme, body, secret=secret)
    tampered = body.replace(b"padding", b"paddinG")
    big = json.dumps({"note": BODY_CANARY, "padding": "y" * MAX_BODY}).encode()
    signature_names = get_scheme(scheme).signature_headers(OPTIONS[scheme])
    signature_values = [value for name, value in headers.items() if name.lower() in signature_names]
    forged = {name: SIGNATURE_CANARY if name.lower() in signature_names else value for name, value in headers.items()}
    # No signature header: the forgery is the body signed with another secret.
    forged_body = body if signature_values else envelope(scheme, BODY, secret=secret_for(scheme, "forger"))
    statuses = []
    with all_log_output() as records, verifier_runtime(fake, keep_logs=True) as stream:
        statuses.append(call(event(scheme, body, headers, query=query))["statusCode"])
        statuses.append(call(event(scheme, forged_body, forged, query=query))["statusCode"])
        statuses.append(call(event(scheme, tampered, headers, query=query))["statusCode"])
        fake.fail_send = True
        statuses.append(call(event(scheme, body, headers, query=query))["statusCode"])
        fake.fail_send, fake.fail_secrets = False, True
        statuses.append(call(event(scheme, body, headers, query=query))["statusCode"])
        fake.fail_secrets = False
        statuses.append(call(event(scheme, big, headers, query=query))["statusCode"])
        bad = event(scheme, body, headers, query=query)
        bad["body"] = BODY_CANARY + "!!"
        statuses.append(call(bad)["statusCode"])
    # A token sent as it is (shared-token) authenticates the tampered body too, and a scheme
    # that signs chosen fields (Adyen, Mailgun) any change outside them: 202, still nothing logged.
    unsigned_change = get_scheme(scheme).verify(
        Request(headers={k.lower(): v for k, v in headers.items()}, body=tampered),
        [secret],
        now=NOW,
        tolerance_seconds=300,
        options=OPTIONS[scheme],
    )
    tampered_status = 401 if get_scheme(scheme).signs_body else (202 if unsigned_change else 401)
    assert statuses == [202, 401, tampered_status, 503, 503, 413, 400]
    written = stream.getvalue()
    captured = capfd.readouterr()
    output = written + captured.out + captured.err + "\n".join(records.lines)
    assert written.count('"level"') >= len(statuses), "every request was logged"
    assert_no_canary(
        output,
        forbidden_strings(bodies=[body, tampered, big], secrets=[secret], signatures=signature_values),
    )


# --------------------------------------------------------------------------- 2. verifier and processor, pipeline


class _Sink(io.StringIO):
    pass


@contextlib.contextmanager
def handler_streams(function_output: Path) -> Iterator[io.StringIO]:
    """What both functions wrote while the block ran: their workers write it all to ``function_output``."""
    stream = _Sink()
    start = function_output.stat().st_size if function_output.exists() else 0
    try:
        yield stream
    finally:
        if function_output.exists():
            with function_output.open("rb") as written:
                written.seek(start)
                stream.write(written.read().decode("utf-8", "replace"))


def _wait(pipeline: LocalPipeline, delivery_id: str, stage: str) -> None:
    def seen(events: Any) -> bool:
        return any(e.delivery_id == delivery_id and e.stage == stage for e in events)

    if not pipeline.wait_for(seen, 20):
        history = [(e.stage, e.detail) for e in pipeline.events if e.delivery_id == delivery_id]
        raise AssertionError(f"{delivery_id}: no {stage!r} within 20 s; saw {history}")


def test_pipeline_logs_hold_no_secret_signature_or_body_on_any_path(
    pipeline: LocalPipeline, function_output: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = pipeline.sources["s-canary"]
    secret = canary_secret("github")
    # Before the first request, so the verifier's secret cache never held the dev secret.
    local_client("secretsmanager", pipeline.aws_endpoint).put_secret_value(
        SecretId=secret_name("s-canary"), SecretString=json.dumps({"secrets": [secret]})
    )
    body_file = tmp_path / "body.json"
    # One body per delivery: GitHub does not sign its delivery id, so the
    # processor tells deliveries apart by their signed bytes (the body).
    body_file.write_bytes(BODY.replace(b'"padding"', b'"delivery": "{{delivery_id}}", "padding"'))
    run = uuid.uuid4().hex[:8]
    ids = {outcome: f"{outcome}-{run}" for outcome in ("ok", "retry", "perm")}
    config = pipeline.config.source("s-canary")
    url = pipeline.webhook_url("s-canary")
    webhooks = {k: build(config, secret=secret, url=url, body_file=body_file, delivery_id=v) for k, v in ids.items()}
    signatures = [w.headers["x-hub-signature-256"] for w in webhooks.values()]
    forged = build(config, secret=SIGNATURE_CANARY, url=url, body_file=body_file, delivery_id=f"forged-{run}")
    undecodable_id = f"undecodable-{run}"

    with all_log_output() as records, handler_streams(function_output) as stream, requests.Session() as http:
        http.trust_env = False
        for webhook in webhooks.values():
            assert http.post(webhook.url, data=webhook.body, headers=webhook.headers, timeout=10).status_code == 202
        again = webhooks["ok"]
        assert http.post(again.url, data=again.body, headers=again.headers, timeout=10).status_code == 202
        assert http.post(forged.url, data=forged.body, headers=forged.headers, timeout=10).status_code == 401
        # A message no verifier wrote: the body claims base64 but is not.
        message = to_send_message_kwargs(
            QueuedWebhook(
                source="s-canary",
                delivery_id=undecodable_id,
                event_type="push",
                received_at="2025-01-01T00:00:00Z",
                content_type="application/json",
                body=BODY,
            )
        )
        message["MessageAttributes"]["body_encoding"]["StringValue"] = "base64"
        message["MessageBody"] = BODY_CANARY + " is not base64!"
        local_client("sqs", pipeline.aws_endpoint).send_message(QueueUrl=source.queue_url, **message)

        _wait(pipeline, ids["ok"], "processed")
        _wait(pipeline, ids["ok"], "duplicate")
        _wait(pipeline, ids["retry"], "retried")
        _wait(pipeline, ids["retry"], "processed")
        _wait(pipeline, ids["perm"], "dead-lettered")
        _wait(pipeline, undecodable_id, "dead-lettered")

    written = stream.getvalue()
    captured = capfd.readouterr()
    output = written + captured.out + captured.err + "\n".join(records.lines)
    for expected in ("webhook accepted", "webhook rejected", "handler failed: retrying", "permanent failure"):
        assert expected in written, f"{expected!r} was logged"
    assert_no_canary(output, forbidden_strings(bodies=[BODY], secrets=[secret], signatures=signatures))
