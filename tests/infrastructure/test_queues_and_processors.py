"""Queues, dead-letter queues, processors and the idempotency table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infrastructure.conftest import Synthesized
from tests.infrastructure.iam import actions_of, bucket_objects, function_by_handler, resources_of, role_statements

DAY = 24 * 3600


def _queue_pair(synth: Synthesized, source: str) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    queues = synth.resources("AWS::SQS::Queue")
    prefix = "Webhooks" + "Queues" + source.replace("-", "")
    (queue_id,) = [q for q in queues if q.startswith(prefix + "Queue")]
    (dlq_id,) = [q for q in queues if q.startswith(prefix + "DeadLetterQueue")]
    return queue_id, queues[queue_id], dlq_id, queues[dlq_id]


def _queue_policy_statements(synth: Synthesized, queue_id: str) -> list[dict[str, Any]]:
    statements = []
    for policy in synth.resources("AWS::SQS::QueuePolicy").values():
        if {"Ref": queue_id} in policy["Properties"]["Queues"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _denies_insecure_transport(statements: list[dict[str, Any]]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_every_source_queue_is_encrypted_tls_only_and_redrives_to_its_dlq(variant_stack: Synthesized) -> None:
    for source in variant_stack.config.sources:
        queue_id, queue, dlq_id, dlq = _queue_pair(variant_stack, source.name)
        props = queue["Properties"]
        assert props["SqsManagedSseEnabled"] is True
        assert props["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
            "maxReceiveCount": source.max_receive_count,
        }
        assert props["VisibilityTimeout"] == 6 * source.timeout_seconds + source.batching_window_seconds
        assert dlq["Properties"]["SqsManagedSseEnabled"] is True
        assert _denies_insecure_transport(_queue_policy_statements(variant_stack, queue_id))
        assert _denies_insecure_transport(_queue_policy_statements(variant_stack, dlq_id))


def test_processor_drains_its_queue_with_partial_batch_responses(variant_stack: Synthesized) -> None:
    source = variant_stack.config.source("stripe")
    function_id, _ = function_by_handler(variant_stack, "processor.handler.handler", "stripe")
    queue_id, _, _, _ = _queue_pair(variant_stack, "stripe")
    variant_stack.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": {"Ref": function_id},
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": source.batch_size,
            "MaximumBatchingWindowInSeconds": source.batching_window_seconds,
            "ScalingConfig": {"MaximumConcurrency": source.max_concurrency},
        },
    )


def test_processor_runtime_settings_come_from_the_source(variant_stack: Synthesized) -> None:
    source = variant_stack.config.source("stripe")
    _, function = function_by_handler(variant_stack, "processor.handler.handler", "stripe")
    props = function["Properties"]
    assert props["Runtime"] == "python3.13" and props["Architectures"] == ["arm64"]
    assert props["Timeout"] == source.timeout_seconds and props["MemorySize"] == source.memory_mb
    env = props["Environment"]["Variables"]
    assert env["IDEMPOTENCY_EXPIRY_SECONDS"] == str(variant_stack.config.idempotency_expiry_seconds)
    _, _, dlq_id, _ = _queue_pair(variant_stack, "stripe")
    assert env["DEAD_LETTER_QUEUE_URL"] == {"Ref": dlq_id}


def test_processor_may_touch_only_its_own_queues_the_table_and_claim_checks(variant_stack: Synthesized) -> None:
    for source in variant_stack.config.sources:
        _, function = function_by_handler(variant_stack, "processor.handler.handler", source.name)
        queue_id, _, dlq_id, _ = _queue_pair(variant_stack, source.name)
        other_queues = {q for q in variant_stack.resources("AWS::SQS::Queue") if q not in (queue_id, dlq_id)}
        granted: dict[str, str] = {}
        for statement in role_statements(variant_stack, function):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                granted[action] = granted.get(action, "") + json.dumps(statement["Resource"])
        sqs_targets = "".join(v for k, v in granted.items() if k.startswith("sqs:"))
        assert queue_id in sqs_targets and dlq_id in sqs_targets
        assert not [q for q in other_queues if q in sqs_targets]
        assert dlq_id in granted["sqs:SendMessage"] and queue_id not in granted["sqs:SendMessage"]
        assert {a for a in granted if a.startswith("dynamodb:")} == {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        }
        assert {a for a in granted if a.startswith("s3:")} == {"s3:GetObject", "s3:ListBucket"}
        assert not [a for a in granted if a.startswith("secretsmanager:")]


def test_idempotency_table_is_on_demand_with_ttl_pitr_and_encryption(default_stack: Synthesized) -> None:
    default_stack.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_data_is_retained_by_default_and_not_when_configured(
    default_stack: Synthesized, variant_stack: Synthesized
) -> None:
    for type_ in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue"):
        for resource in default_stack.resources(type_).values():
            assert resource["DeletionPolicy"] == "Retain", type_
        for resource in variant_stack.resources(type_).values():
            assert resource["DeletionPolicy"] == "Delete", type_


def test_claim_check_bucket_is_private_encrypted_tls_only_and_expires(default_stack: Synthesized) -> None:
    default_stack.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {"ExpirationInDays": default_stack.config.claim_check_expiry_days, "Status": "Enabled"}
                        )
                    ]
                )
            },
        },
    )
    default_stack.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_created_secrets_and_existing_secret_arns(variant_stack: Synthesized) -> None:
    secrets = variant_stack.resources("AWS::SecretsManager::Secret")
    # twilio-sms and billing use existing secrets: only stripe and erp get one created.
    assert len(secrets) == 2
    for secret in secrets.values():
        assert secret["Properties"]["GenerateSecretString"]["GenerateStringKey"] == "secrets"
    _, verifier = function_by_handler(variant_stack, "verifier.handler.handler")
    assert "secret:twilio-AbCdEf" in json.dumps(verifier["Properties"]["Environment"])


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_queues_keep_messages_as_configured_and_claim_checks_outlive_them(
    stack: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stack)
    config = synth.config
    for source in config.sources:
        _, queue, _, dlq = _queue_pair(synth, source.name)
        assert queue["Properties"]["MessageRetentionPeriod"] == config.queue_retention_days * DAY
        assert dlq["Properties"]["MessageRetentionPeriod"] == config.dead_letter_retention_days * DAY
    (bucket,) = synth.resources("AWS::S3::Bucket").values()
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    # A dead-lettered or redriven copy is a new message: it may wait out both retentions.
    assert rule["ExpirationInDays"] == config.claim_check_expiry_days
    assert rule["ExpirationInDays"] > config.queue_retention_days + config.dead_letter_retention_days


def test_each_processor_reads_only_its_own_sources_claim_checks(variant_stack: Synthesized) -> None:
    names = [source.name for source in variant_stack.config.sources]
    for name in names:
        _, function = function_by_handler(variant_stack, "processor.handler.handler", name)
        statements = role_statements(variant_stack, function)
        readable = [r for s in statements if "s3:GetObject" in actions_of(s) for r in resources_of(s)]
        assert readable == [bucket_objects(variant_stack, f"{name}/*")]
        for other in (n for n in names if n != name):
            assert bucket_objects(variant_stack, f"{other}/*") not in readable
        assert bucket_objects(variant_stack, "*") not in readable


def test_each_processor_touches_only_its_own_sources_idempotency_records(variant_stack: Synthesized) -> None:
    (table_id,) = variant_stack.resources("AWS::DynamoDB::Table")
    for source in variant_stack.config.sources:
        _, function = function_by_handler(variant_stack, "processor.handler.handler", source.name)
        dynamodb = [s for s in role_statements(variant_stack, function) if "dynamodb:" in json.dumps(s["Action"])]
        assert dynamodb
        for statement in dynamodb:
            assert statement["Effect"] == "Allow"
            assert resources_of(statement) == [{"Fn::GetAtt": [table_id, "Arn"]}]
            # Every item call names its partition key, so each must start with this source's prefix.
            assert statement["Condition"] == {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"webhook-kit.processor.{source.name}#*"]}
            }


def test_the_stacks_key_and_object_prefixes_are_the_ones_the_functions_write() -> None:
    from processor.keys import idempotency_record_id, key_prefix
    from stacks.claim_check import claim_check_prefix
    from stacks.processors import idempotency_key_prefix
    from verifier.core import claim_check_key

    assert idempotency_key_prefix("stripe") == key_prefix("stripe")
    assert idempotency_record_id("stripe", "evt_1").startswith(idempotency_key_prefix("stripe") + "#")
    assert claim_check_key("stripe", "evt_1", "0" * 64).startswith(claim_check_prefix("stripe"))
