"""The CLI finds a source's queues among its nested stack's outputs (docs/cli.md, "Where redrive finds a source")."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from shared import contract
from webhook_kit.deployment import source_outputs

NESTED_ARN = "arn:aws:cloudformation:us-east-1:123456789012:stack/Kit-SourceOrderEvents-1AB/0f0e"


def _outputs(**values: str) -> list[dict[str, str]]:
    return [{"OutputKey": key, "OutputValue": value} for key, value in values.items()]


def _stack(name: str, outputs: list[dict[str, str]]) -> dict[str, object]:
    return {
        "Stacks": [
            {
                "StackName": name,
                "CreationTime": "2026-12-01T00:00:00Z",
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": outputs,
            }
        ]
    }


def test_a_sources_outputs_are_read_from_the_nested_stack_its_logical_id_names() -> None:
    client = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
    with Stubber(client) as stub:
        stub.add_response(
            "describe_stack_resource",
            {
                "StackResourceDetail": {
                    "LogicalResourceId": "SourceOrderEvents",
                    "PhysicalResourceId": NESTED_ARN,
                    "ResourceType": "AWS::CloudFormation::Stack",
                    "LastUpdatedTimestamp": "2026-12-01T00:00:00Z",
                    "ResourceStatus": "CREATE_COMPLETE",
                }
            },
            {"StackName": "Kit", "LogicalResourceId": contract.source_stack_logical_id("order-events")},
        )
        stub.add_response(
            "describe_stacks",
            _stack("Kit-SourceOrderEvents-1AB", _outputs(QueueUrl=queue, DeadLetterQueueUrl=queue + "-dlq")),
            {"StackName": NESTED_ARN},
        )
        outputs = source_outputs(client, "Kit", "order-events")
    assert outputs[contract.OUTPUT_QUEUE_URL] == queue
    assert outputs[contract.OUTPUT_DEAD_LETTER_QUEUE_URL] == queue + "-dlq"
    assert contract.source_stack_logical_id("order-events") == "SourceOrderEvents"


def test_the_outputs_command_prints_each_sources_url_and_names_a_missing_stack(monkeypatch: object) -> None:
    import pytest
    from botocore.exceptions import ClientError
    from typer.testing import CliRunner

    from webhook_kit import deployment
    from webhook_kit.cli import app

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    asked: list[tuple[str, str]] = []

    def found(_client: object, stack: str, source: str) -> dict[str, str]:
        asked.append((stack, source))
        return {contract.OUTPUT_WEBHOOK_URL: f"https://api.example/prod/webhooks/{source}"}

    monkeypatch.setattr(deployment, "source_outputs", found)
    result = CliRunner().invoke(app, ["outputs", "--region", "us-east-1", "--stack-name", "Kit"])
    assert result.exit_code == 0, result.output
    assert asked == [("Kit", "stripe"), ("Kit", "github"), ("Kit", "orders")]  # webhook-kit.toml's sources
    assert "https://api.example/prod/webhooks/github" in result.output

    def missing(_client: object, stack: str, _source: str) -> dict[str, str]:
        raise ClientError({"Error": {"Code": "ValidationError", "Message": f"Stack '{stack}' does not exist"}}, "x")

    monkeypatch.setattr(deployment, "source_outputs", missing)
    result = CliRunner().invoke(app, ["outputs", "stripe", "--region", "us-east-1", "--stack-name", "Gone"])
    assert result.exit_code == 1
    assert "Stack 'Gone' does not exist" in result.output
