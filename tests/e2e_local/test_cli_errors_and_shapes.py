"""The CLI's error paths and the shapes of the events the local pipeline hands the functions."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stacks.config import load_config
from webhook_kit.cli import app
from webhook_kit.devsecrets import dev_secret
from webhook_kit.local import LocalPipeline, LocalPipelineError, api_gateway_event, lambda_sqs_record

CONFIG = str(Path(__file__).with_name("webhook-kit.e2e.toml"))
AWS_EVENT = Path(__file__).parent.parent / "unit" / "vectors" / "apigateway_rest_event.json"


def _keys(document: object, prefix: str = "") -> set[str]:
    if not isinstance(document, dict):
        return set()
    found = set()
    for key, value in document.items():
        found.add(prefix + key)
        found |= _keys(value, f"{prefix}{key}.")
    return found


def test_the_api_gateway_event_has_every_field_aws_sends() -> None:
    aws = json.loads(AWS_EVENT.read_text())
    aws.pop("_comment")
    # Header names are the request's own, not a fixed set.
    expected = {key for key in _keys(aws) if not key.startswith(("headers.", "multiValueHeaders."))}

    event = api_gateway_event(
        method="POST",
        path="/webhooks/github",
        query="a=1&a=2&b=",
        headers=[("Host", "127.0.0.1:8080"), ("X-Dup", "1"), ("X-Dup", "2")],
        body=b'{"zen": "x"}',
        source="github",
        source_ip="127.0.0.1",
        stage="prod",
    )

    assert expected <= _keys(event)
    assert event["isBase64Encoded"] is True
    assert event["body"] == "eyJ6ZW4iOiAieCJ9"
    assert event["headers"]["X-Dup"] == "2"
    assert event["multiValueHeaders"]["X-Dup"] == ["1", "2"]
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["pathParameters"] == {"source": "github"}
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["path"] == "/prod/webhooks/github"


def test_the_sqs_record_is_in_lambdas_camel_case_shape() -> None:
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": "hello",
        "MD5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "Attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1700000000000"},
        "MessageAttributes": {"source": {"DataType": "String", "StringValue": "stripe"}},
    }

    record = lambda_sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:q")

    assert record["messageId"] == "m-1"
    assert record["receiptHandle"] == "r-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "3"
    assert record["messageAttributes"]["source"]["stringValue"] == "stripe"
    assert record["messageAttributes"]["source"]["dataType"] == "String"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:q"


def test_a_port_in_use_is_refused_with_the_option_to_change() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        pipeline = LocalPipeline(load_config(CONFIG), port=port, aws_port=0)

        with pytest.raises(LocalPipelineError, match="--port"):
            pipeline.start()


def test_local_reports_an_invalid_configuration_by_field(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[[sources]]\nname = "Bad Name"\nscheme = "stripe"\n')

    result = CliRunner().invoke(app, ["local", "--config", str(broken)])

    assert result.exit_code == 1
    # A source whose name is itself invalid is named by its position.
    assert "sources[#1].name" in result.output


def test_send_to_a_pipeline_that_is_not_running_says_so() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there

    result = CliRunner().invoke(
        app, ["send", "t-stripe", "--url", f"http://127.0.0.1:{port}/webhooks/t-stripe", "--config", CONFIG]
    )

    assert result.exit_code == 1
    assert "is `python -m webhook_kit local` running?" in result.output


def test_redrive_without_aws_credentials_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)

    result = CliRunner().invoke(
        app,
        [
            "redrive",
            "t-stripe",
            "--region",
            "eu-west-1",
            "--queue-url",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "--dlq-url",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/q-dlq",
            "--config",
            CONFIG,
        ],
    )

    assert result.exit_code == 1
    assert "no AWS credentials found" in result.output


@pytest.mark.parametrize(
    ("scheme", "prefix"),
    [("standard-webhooks", "whsec_"), ("svix", "whsec_"), ("stripe", "whsec_"), ("github", "")],
)
def test_dev_secrets_are_stable_per_source_and_in_the_providers_format(scheme: str, prefix: str) -> None:
    from webhook_verify.schemes import get_scheme

    secret = dev_secret("orders", scheme)

    assert secret == dev_secret("orders", scheme)
    assert secret != dev_secret("billing", scheme)
    assert secret.startswith(prefix)
    assert get_scheme(scheme).key(secret)
