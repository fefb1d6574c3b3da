"""Queues, dead-letter queues, processors (each source's in its nested stack) and the idempotency table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infrastructure.conftest import NestedTemplate, Synthesized
from tests.infrastructure.iam import (
    actions_of,
    bucket_objects_from_name,
    function_by_handler,
    resources_of,
    role_statements,
)

DAY = 24 * 3600


def _queue_pair(nested: NestedTemplate) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """A source's work queue and dead-letter queue, in its nested stack."""
    queues = nested.resources("AWS::SQS::Queue")
    (queue_id,) = [q for q in queues if q.startswith("QueuesQueue")]
    (dlq_id,) = [q for q in queues if q.startswith("QueuesDeadLetterQueue")]
    assert len(queues) == 2
    return queue_id, queues[queue_id], dlq_id, queues[dlq_id]


def _queue_policy_statements(nested: NestedTemplate, queue_id: str) -> list[dict[str, Any]]:
    statements = []
    for policy in nested.resources("AWS::SQS::QueuePolicy").values():
        if {"Ref": queue_id} in policy["Properties"]["Queues"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _denies_insecure_transport(statements: list[dict[str, Any]]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_every_source_queue_is_encrypted_tls_only_and_redrives_to_its_dlq(variant_stack: Synthesized) -> None:
    for source in variant_stack.config.sources:
        nested = variant_stack.source(source.name)
        queue_id, queue, dlq_id, dlq = _queue_pair(nested)
        props = queue["Properties"]
        assert props["SqsManagedSseEnabled"] is True
        assert props["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
            "maxReceiveCount": source.max_receive_count,
        }
        assert props["VisibilityTimeout"] == 6 * source.timeout_seconds + source.batching_window_seconds
        assert dlq["Properties"]["SqsManagedSseEnabled"] is True
        assert _denies_insecure_transport(_queue_policy_statements(nested, queue_id))
        assert _denies_insecure_transport(_queue_policy_statements(nested, dlq_id))


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_each_queue_lets_only_the_verifier_send_and_no_one_else_in(stack: str, request: pytest.FixtureRequest) -> None:
    # The verifier's own policy names no queue (its size must not grow with the sources):
    # each work queue's policy grants its role SendMessage, and nothing broader.
    synth: Synthesized = request.getfixturevalue(stack)
    (verifier_role,) = [
        logical_id
        for logical_id, role in synth.resources("AWS::IAM::Role").items()
        if logical_id.startswith("WebhooksVerifierRole")
    ]
    for source in synth.config.sources:
        nested = synth.source(source.name)
        queue_id, _, dlq_id, _ = _queue_pair(nested)
        allowed = [s for s in _queue_policy_statements(nested, queue_id) if s["Effect"] == "Allow"]
        assert [nested.in_root(s) for s in allowed] == [
            {
                "Sid": "VerifierSends",
                "Effect": "Allow",
                "Principal": {"AWS": {"Fn::GetAtt": [verifier_role, "Arn"]}},
                "Action": "sqs:SendMessage",
                "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
            }
        ], source.name
        # The dead-letter queue admits no one by policy: only its processor's role writes it.
        assert [s for s in _queue_policy_statements(nested, dlq_id) if s["Effect"] == "Allow"] == [], source.name
        assert len(nested.resources("AWS::SQS::QueuePolicy")) == 2


def test_processor_drains_its_queue_with_partial_batch_responses(variant_stack: Synthesized) -> None:
    source = variant_stack.config.source("stripe")
    nested = variant_stack.source("stripe")
    function_id, _ = function_by_handler(nested, "processor.handler.handler", "stripe")
    queue_id, _, _, _ = _queue_pair(nested)
    nested.template.has_resource_properties(
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
    nested = variant_stack.source("stripe")
    _, function = function_by_handler(nested, "processor.handler.handler", "stripe")
    props = function["Properties"]
    assert props["Runtime"] == "python3.13" and props["Architectures"] == ["arm64"]
    assert props["Timeout"] == source.timeout_seconds and props["MemorySize"] == source.memory_mb
    env = props["Environment"]["Variables"]
    assert env["IDEMPOTENCY_EXPIRY_SECONDS"] == str(variant_stack.config.idempotency_expiry_seconds)
    _, _, dlq_id, _ = _queue_pair(nested)
    assert env["DEAD_LETTER_QUEUE_URL"] == {"Ref": dlq_id}
    assert nested.in_root(env["IDEMPOTENCY_TABLE"]) == {"Ref": _table_id(variant_stack)}
    assert nested.in_root(env["CLAIM_CHECK_BUCKET"]) == {"Ref": _bucket_id(variant_stack)}


def test_processor_may_touch_only_its_own_queues_the_table_and_claim_checks(variant_stack: Synthesized) -> None:
    for source in variant_stack.config.sources:
        nested = variant_stack.source(source.name)
        _, function = function_by_handler(nested, "processor.handler.handler", source.name)
        queue_id, _, dlq_id, _ = _queue_pair(nested)
        granted: dict[str, list] = {}
        for statement in role_statements(nested, function):
            for action in actions_of(statement):
                granted.setdefault(action, []).extend(resources_of(statement))
        # Its stack's two queues by reference, nothing else (no other queue, ARN pattern or parameter).
        own = {"queue": {"Fn::GetAtt": [queue_id, "Arn"]}, "dlq": {"Fn::GetAtt": [dlq_id, "Arn"]}}
        sqs_targets = [r for action, resources in granted.items() if action.startswith("sqs:") for r in resources]
        assert own["queue"] in sqs_targets and own["dlq"] in sqs_targets
        assert all(target in own.values() for target in sqs_targets), sqs_targets
        assert granted["sqs:SendMessage"] == [own["dlq"]]
        assert {a for a in granted if a.startswith("dynamodb:")} == {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        }
        assert {a for a in granted if a.startswith("s3:")} == {"s3:GetObject", "s3:ListBucket"}
        assert not [a for a in granted if a.startswith("secretsmanager:")]


def _table_id(synth: Synthesized) -> str:
    (table_id,) = synth.resources("AWS::DynamoDB::Table")
    return str(table_id)


def _bucket_id(synth: Synthesized) -> str:
    (bucket_id,) = synth.resources("AWS::S3::Bucket")
    return str(bucket_id)


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
    # Queues and created secrets live in the sources' nested stacks: every template is read.
    for type_ in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"):
        retained = default_stack.all_resources(type_)
        assert retained, type_
        for key, resource in retained.items():
            assert resource["DeletionPolicy"] == "Retain", key
        for key, resource in variant_stack.all_resources(type_).items():
            assert resource["DeletionPolicy"] == "Delete", key
    assert len(default_stack.all_resources("AWS::SQS::Queue")) == 2 * len(default_stack.config.sources)


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
    secrets = variant_stack.all_resources("AWS::SecretsManager::Secret")
    # twilio-sms and billing use existing secrets: only stripe and erp get one created, in their own stacks.
    assert {where for where, _ in secrets} == {"SourceStripe", "SourceErp"}
    for secret in secrets.values():
        assert secret["Properties"]["GenerateSecretString"]["GenerateStringKey"] == "secrets"
    # Each source's stack names its secret in its SecretArn output (the verifier's table and the CLI read it there).
    for source in variant_stack.config.sources:
        nested = variant_stack.source(source.name)
        arn = nested.output("SecretArn")
        if source.secret_arn:
            assert arn == source.secret_arn
        else:
            (secret_id,) = nested.resources("AWS::SecretsManager::Secret")
            assert arn == {"Ref": secret_id}
    assert variant_stack.source("twilio-sms").output("SecretArn").endswith("secret:twilio-AbCdEf")


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_queues_keep_messages_as_configured_and_claim_checks_outlive_them(
    stack: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stack)
    config = synth.config
    for source in config.sources:
        _, queue, _, dlq = _queue_pair(synth.source(source.name))
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
        nested = variant_stack.source(name)
        _, function = function_by_handler(nested, "processor.handler.handler", name)
        statements = [nested.in_root(s) for s in role_statements(nested, function)]
        readable = [r for s in statements if "s3:GetObject" in actions_of(s) for r in resources_of(s)]
        assert readable == [bucket_objects_from_name(variant_stack, f"{name}/*")]
        for other in (n for n in names if n != name):
            assert bucket_objects_from_name(variant_stack, f"{other}/*") not in readable
        assert bucket_objects_from_name(variant_stack, "*") not in readable


def test_each_processor_touches_only_its_own_sources_idempotency_records(variant_stack: Synthesized) -> None:
    table_arn = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":dynamodb:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":table/",
                {"Ref": _table_id(variant_stack)},
            ],
        ]
    }
    for source in variant_stack.config.sources:
        nested = variant_stack.source(source.name)
        _, function = function_by_handler(nested, "processor.handler.handler", source.name)
        dynamodb = [
            nested.in_root(s) for s in role_statements(nested, function) if "dynamodb:" in json.dumps(s["Action"])
        ]
        assert dynamodb
        for statement in dynamodb:
            assert statement["Effect"] == "Allow"
            # The table by its name, in this account and Region: the table itself, no index or stream.
            assert resources_of(statement) == [table_arn]
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


def test_a_processor_is_told_where_its_providers_deliveries_state_the_api_version(default_stack: Synthesized) -> None:
    """The shipped configuration: Stripe states it in the body; GitHub and Standard Webhooks state none."""
    found = {}
    for source in default_stack.config.sources:
        _, function = function_by_handler(default_stack.source(source.name), "processor.handler.handler", source.name)
        found[source.name] = function["Properties"]["Environment"]["Variables"].get("API_VERSION_FROM")
    assert found == {"stripe": "body:api_version", "github": None, "orders": None}
