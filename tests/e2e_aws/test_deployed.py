"""Deploy the stack to a real AWS account, send signed webhooks, raise an alarm, assert, destroy.

Opt-in and skipped unless both hold: AWS credentials are available and
``WEBHOOK_KIT_E2E_AWS=1`` is set (deploying costs money and takes minutes, so a
credentialed developer running ``make test`` must not trigger it by accident).
Run it alone: ``WEBHOOK_KIT_E2E_AWS=1 .venv/bin/pytest tests/e2e_aws``.
The stack is deployed with ``retain_data=false`` under a unique name and
destroyed afterwards, whatever the outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "github"  # the shipped configuration's GitHub source: secret chosen by us


def _credentials_available() -> bool:
    import boto3

    return boto3.Session().get_credentials() is not None


pytestmark = [
    pytest.mark.aws,
    pytest.mark.skipif(os.environ.get("WEBHOOK_KIT_E2E_AWS") != "1", reason="set WEBHOOK_KIT_E2E_AWS=1 to deploy"),
    pytest.mark.skipif(not _credentials_available(), reason="no AWS credentials"),
]


def _cdk(*args: str) -> None:
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}"}
    subprocess.run(["npx", "--no-install", "cdk", *args], cwd=ROOT, env=env, check=True, timeout=1800)  # noqa: S603, S607


def _cloudwatch_role_choice() -> str:
    """Reuse the account's API Gateway CloudWatch Logs role if it has one (see README, "Deploying").

    Creating it on every run would replace the account's setting and leave a
    retained role behind each time.
    """
    import boto3

    return "existing" if boto3.client("apigateway").get_account().get("cloudwatchRoleArn") else "create"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    stack = f"WebhookKitE2E{uuid.uuid4().hex[:8]}"
    outputs_file = tmp_path_factory.mktemp("cdk") / "outputs.json"
    context = ["-c", f"stack_name={stack}", "-c", "retain_data=false", "-c", "stage_name=e2e"]
    context += ["-c", f"api_gateway_cloudwatch_role={_cloudwatch_role_choice()}"]
    try:
        _cdk("deploy", *context, "--require-approval", "never", "--outputs-file", str(outputs_file))
        outputs = json.loads(outputs_file.read_text())[stack]
        # Each source's outputs are its nested stack's (stacks/source_stack.py), found as the CLI finds them.
        import boto3

        from webhook_kit.redrive_command import source_outputs

        github = source_outputs(boto3.client("cloudformation"), stack, "github")
        yield {**outputs, **{f"Github{key}": value for key, value in github.items()}}
    finally:
        _cdk("destroy", *context, "--force")


def _signed_request(secret: str, delivery_id: str) -> tuple[bytes, dict[str, str]]:
    from webhook_verify.schemes import get_scheme

    body = json.dumps({"zen": "webhook-kit e2e ping", "hook_id": 1}).encode()
    headers = get_scheme("github").sign(body, secret, timestamp=int(time.time()), options={})
    headers.update({"X-GitHub-Delivery": delivery_id, "X-GitHub-Event": "ping", "Content-Type": "application/json"})
    return body, headers


def test_a_signed_webhook_is_accepted_and_processed_once(deployed: dict[str, Any]) -> None:
    import boto3
    import requests

    from processor.keys import idempotency_record_id

    secret = "e2e-" + uuid.uuid4().hex
    boto3.client("secretsmanager").put_secret_value(
        SecretId=deployed["GithubSecretArn"], SecretString=json.dumps({"secrets": [secret]})
    )
    url = deployed["GithubWebhookUrl"]
    delivery_id = str(uuid.uuid4())
    body, headers = _signed_request(secret, delivery_id)

    bad = requests.post(url, data=body, headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}, timeout=30)
    assert bad.status_code == 401

    response = requests.post(url, data=body, headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    assert response.json() == {"id": delivery_id}

    table = boto3.resource("dynamodb").Table(deployed["IdempotencyTableName"])
    key = {"id": idempotency_record_id(SOURCE, delivery_id)}
    deadline = time.time() + 120
    item = None
    while time.time() < deadline:
        item = table.get_item(Key=key, ConsistentRead=True).get("Item")
        if item and item.get("status") == "COMPLETED":
            break
        time.sleep(3)
    assert item is not None and item["status"] == "COMPLETED"


def _alarm_of_topic(cloudwatch: Any, topic_arn: str) -> str:
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
        for alarm in page["MetricAlarms"]:
            if topic_arn in alarm.get("AlarmActions", []):
                return str(alarm["AlarmName"])
    raise AssertionError(f"no alarm notifies {topic_arn}")


def _confirmed_subscription(sns: Any, sqs: Any, queue_url: str, subscription_arn: str) -> None:
    """Wait until SNS may deliver to the queue, confirming the subscription if SNS asks."""
    deadline = time.time() + 60
    while time.time() < deadline:
        attributes = sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
        if attributes.get("PendingConfirmation") == "false":
            return
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5).get("Messages", []):
            envelope = json.loads(message["Body"])
            if envelope.get("Type") == "SubscriptionConfirmation":
                sns.confirm_subscription(TopicArn=envelope["TopicArn"], Token=envelope["Token"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError("the test queue's subscription to the alarm topic was never confirmed")


def test_an_alarm_notification_reaches_a_subscriber_of_the_alarm_topic(deployed: dict[str, Any]) -> None:
    """CloudWatch may publish to the KMS-encrypted, TLS-only topic (its policy and key policy allow it)."""
    import boto3

    topic_arn = deployed["AlarmTopicArn"]
    sns, sqs, cloudwatch = boto3.client("sns"), boto3.client("sqs"), boto3.client("cloudwatch")
    alarm_name = _alarm_of_topic(cloudwatch, topic_arn)
    queue_url = sqs.create_queue(
        QueueName=f"webhook-kit-e2e-alarms-{uuid.uuid4().hex[:8]}", Attributes={"SqsManagedSseEnabled": "true"}
    )["QueueUrl"]
    subscription_arn = None
    try:
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # SNS decrypts before delivering; the queue only has to let this topic send to it.
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
        subscription_arn = sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True
        )["SubscriptionArn"]
        _confirmed_subscription(sns, sqs, queue_url, subscription_arn)

        reason = f"webhook-kit e2e {uuid.uuid4().hex}"
        cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason=reason)
        deadline = time.time() + 180
        notification = None
        while notification is None and time.time() < deadline:
            for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20).get("Messages", []):
                alarm = json.loads(json.loads(message["Body"]).get("Message", "{}"))
                if alarm.get("AlarmName") == alarm_name and alarm.get("NewStateReason") == reason:
                    notification = alarm
        assert notification is not None, f"no notification of {alarm_name} arrived; see the alarm's history"
        assert notification["NewStateValue"] == "ALARM"
    finally:
        if subscription_arn and subscription_arn.startswith("arn:"):
            sns.unsubscribe(SubscriptionArn=subscription_arn)
        sqs.delete_queue(QueueUrl=queue_url)
