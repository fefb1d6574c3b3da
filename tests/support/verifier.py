"""Builders for the verifier tests: API Gateway events, a Lambda context (tests.support.lambda_context),
and an in-memory fake of the verifier's AWS seam."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared import contract
from shared.message import QueuedWebhook, from_sqs_record
from tests.support.lambda_context import LambdaContext
from verifier.adapters import DependencyError, SecretConflict, parse_secret
from verifier.config import SourceConfig, VerifierConfig, load_config, parse_acknowledgement

EVENT_TEMPLATE = json.loads((Path(__file__).parents[1] / "unit" / "vectors" / "apigateway_rest_event.json").read_text())


def api_event(
    source: str,
    body: bytes | None,
    headers: dict[str, str] | None = None,
    *,
    base64_body: bool = True,
    query: dict[str, list[str]] | None = None,
    path_parameter: bool = True,
) -> dict[str, Any]:
    """A REST proxy event for POST /webhooks/{source}, headers in both single and multi form."""
    event = copy.deepcopy(EVENT_TEMPLATE)
    event.pop("_comment")
    event["path"] = f"/webhooks/{source}"
    event["requestContext"]["path"] = f"/prod/webhooks/{source}"
    event["pathParameters"] = {"source": source} if path_parameter else None
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    if body is None:
        event["body"] = None
    elif base64_body:
        event["body"] = base64.b64encode(body).decode()
    else:
        event["body"] = body.decode("utf-8")
    event["isBase64Encoded"] = base64_body and body is not None
    if query:
        event["multiValueQueryStringParameters"] = query
        event["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
    return event


@dataclass
class FakeAws:
    """In-memory Secrets Manager, S3 and SQS with switchable failures."""

    secret_strings: dict[str, str] = field(default_factory=dict)
    objects: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_secrets: bool = False
    fail_put: bool = False
    fail_send: bool = False
    fail_put_secret: bool = False
    calls: list[str] = field(default_factory=list)
    # The arming each stored secret was captured for (put_secret's ``once``), as Secrets Manager
    # remembers a version's ClientRequestToken.
    captured_for: dict[tuple[str, str], str] = field(default_factory=dict)

    def set_secrets(self, arn: str, *secrets: str) -> None:
        self.secret_strings[arn] = json.dumps({"secrets": list(secrets)})

    def get_secrets(self, secret_id: str) -> list[str]:
        self.calls.append("get_secrets")
        if self.fail_secrets or secret_id not in self.secret_strings:
            raise DependencyError("secret unavailable")
        return parse_secret(self.secret_strings[secret_id])

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self.calls.append("put_object")
        if self.fail_put:
            raise DependencyError("PutObject failed")
        self.objects[(bucket, key)] = (body, content_type)

    def put_secret(self, secret_id: str, secret_string: str, *, once: str) -> None:
        self.calls.append("put_secret")
        if self.fail_put_secret or secret_id not in self.secret_strings:
            raise DependencyError("PutSecretValue failed")
        stored = self.captured_for.get((secret_id, once))
        if stored is not None and stored != secret_string:
            raise SecretConflict("this capture was already stored")
        self.captured_for[(secret_id, once)] = secret_string
        self.secret_strings[secret_id] = secret_string

    def send_message(self, queue_url: str, message: dict[str, Any]) -> str:
        self.calls.append("send_message")
        if self.fail_send:
            raise DependencyError("SendMessage failed")
        self.sent.append((queue_url, message))
        return f"msg-{len(self.sent)}"


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}


def queued(message: dict[str, Any]) -> QueuedWebhook:
    """A sent message as the processor reads it, whichever attribute holds which field."""
    return from_sqs_record({"Body": message["MessageBody"], "MessageAttributes": message["MessageAttributes"]})


__all__ = ["EVENT_TEMPLATE", "FakeAws", "LambdaContext", "api_event", "attributes", "queued"]


def provider_source(
    provider: str,
    *,
    queue_url: str,
    secret_arn: str,
    name: str | None = None,
    enforce: bool = True,
) -> SourceConfig:
    """The verifier's source for a catalogue provider, as the stack's source table describes it:
    the entry's scheme and options, the handshake it answers, its acknowledgement."""
    # Imported here: loading the catalogue imports every scheme, and the cold-start test's
    # child process imports this module to check which schemes a verifier loads.
    from webhook_verify.providers import PROVIDERS

    entry = PROVIDERS[provider]
    answer = dict(entry.answer) if entry.answer is not None else None
    return SourceConfig(
        name=name or provider,
        scheme=entry.scheme,
        queue_url=queue_url,
        secret_arn=secret_arn,
        options=dict(entry.options),
        handshake=entry.answered_handshake,
        enforce=enforce,
        acknowledgement=parse_acknowledgement(provider, answer),
    )


def verifier_config_as_deployed(source: Any, *, queue_url: str, secret_arn: str) -> VerifierConfig:
    """The verifier's configuration for one configured source (``stacks.config.SourceConfig``), built from
    the source-table entry the stack writes for it (``contract.source_route``)."""
    route = contract.source_route(
        scheme=source.scheme,
        queue_url=queue_url,
        secret_arn=secret_arn,
        tolerance_seconds=source.tolerance_seconds,
        options=source.verifier_options(),
        behaviour=source.verifier_behaviour(),
    )
    return load_config({"WEBHOOK_SOURCES": json.dumps({source.name: route}), "CLAIM_CHECK_BUCKET": "claims"})
