"""The CLI finds a source's queues among its nested stack's outputs (docs/cli.md, "Where redrive finds a source")."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from shared import contract
from webhook_kit.redrive_command import source_outputs

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
