"""The verifier function: runtime, layer, configuration and exactly the permissions it needs."""

from __future__ import annotations

import fnmatch
import json

from tests.infrastructure.conftest import PARTIAL_SECRET_ARN, SECRET_KEY_ARN, Synthesized
from tests.infrastructure.iam import actions_of, bucket_objects, function_by_handler, resources_of, role_statements


def test_verifier_runs_python313_on_arm64_with_the_pinned_powertools_layer(default_stack: Synthesized) -> None:
    _, verifier = function_by_handler(default_stack, "verifier.handler.handler")
    props = verifier["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    (layer,) = props["Layers"]
    # The release is checked against the tested one in test_powertools_version.py.
    assert default_stack.json["Parameters"][layer["Ref"]]["Default"].startswith("/aws/service/powertools/python/")


def test_verifier_knows_every_source_its_queue_and_secret(default_stack: Synthesized) -> None:
    _, verifier = function_by_handler(default_stack, "verifier.handler.handler")
    env = verifier["Properties"]["Environment"]["Variables"]
    sources_json = json.dumps(env["WEBHOOK_SOURCES"])
    for source in default_stack.config.sources:
        assert f'\\"{source.name}\\":{{\\"scheme\\":\\"{source.scheme}\\"' in sources_json
    assert env["MAX_BODY_BYTES"] == str(default_stack.config.max_body_bytes)
    assert env["CLAIM_CHECK_THRESHOLD_BYTES"] == str(default_stack.config.claim_check_threshold_bytes)
    assert "ClaimCheckBucket" in env["CLAIM_CHECK_BUCKET"]["Ref"]
    assert env["WEBHOOK_KIT_VERIFIER_TRACER"] == "false"  # opt-in: see docs/performance.md


def test_verifier_may_only_send_to_queues_put_claim_checks_and_read_secrets(default_stack: Synthesized) -> None:
    _, verifier = function_by_handler(default_stack, "verifier.handler.handler")
    statements = role_statements(default_stack, verifier)
    by_action: dict[str, list] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            by_action.setdefault(action, []).append(statement["Resource"])
    assert set(by_action) == {
        "sqs:SendMessage",
        "s3:PutObject",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    send_targets = json.dumps(by_action["sqs:SendMessage"])
    queues = default_stack.resources("AWS::SQS::Queue")
    work_queues = [q for q in queues if "DeadLetterQueue" not in q]
    assert len(work_queues) == 3
    for queue in work_queues:
        assert queue in send_targets
    assert "DeadLetter" not in send_targets  # the verifier never writes a DLQ
    assert "ClaimCheckBucket" in json.dumps(by_action["s3:PutObject"])


def test_verifier_may_put_claim_checks_only_under_the_sources_prefixes(variant_stack: Synthesized) -> None:
    _, verifier = function_by_handler(variant_stack, "verifier.handler.handler")
    writable = [
        resource
        for statement in role_statements(variant_stack, verifier)
        if "s3:PutObject" in actions_of(statement)
        for resource in resources_of(statement)
    ]
    expected = [bucket_objects(variant_stack, f"{source.name}/*") for source in variant_stack.config.sources]
    assert len(writable) == len(expected) and all(resource in writable for resource in expected)


def _iam_matches(pattern: str, arn: str) -> bool:
    # IAM resource matching: * and ? wildcards over the whole ARN.
    return fnmatch.fnmatchcase(arn, pattern)


def test_verifier_may_read_each_existing_secret_by_an_iam_resource_that_matches_it(variant_stack: Synthesized) -> None:
    _, verifier = function_by_handler(variant_stack, "verifier.handler.handler")
    readable = [
        resource
        for statement in role_statements(variant_stack, verifier)
        if "secretsmanager:GetSecretValue" in actions_of(statement)
        for resource in resources_of(statement)
    ]
    existing = {s.name: s.secret_arn for s in variant_stack.config.sources if s.secret_arn}
    # A complete ARN (with Secrets Manager's six-character suffix) is granted as it is; a
    # partial one as "<arn>-??????" (Secret.from_secret_partial_arn): IAM compares the
    # secret's complete ARN, which a partial ARN granted verbatim never equals.
    assert existing == {
        "twilio-sms": "arn:aws:secretsmanager:us-east-1:123456789012:secret:twilio-AbCdEf",
        "billing": PARTIAL_SECRET_ARN,
    }
    literal = [resource for resource in readable if isinstance(resource, str)]
    assert sorted(literal) == sorted([existing["twilio-sms"], PARTIAL_SECRET_ARN + "-??????"])
    for name, real_arn in (("twilio-sms", existing["twilio-sms"]), ("billing", PARTIAL_SECRET_ARN + "-Xy9Z0a")):
        assert [pattern for pattern in literal if _iam_matches(pattern, real_arn)], name
    assert not _iam_matches(PARTIAL_SECRET_ARN, PARTIAL_SECRET_ARN + "-Xy9Z0a")  # why the suffix is needed
    # Created secrets are granted by reference; nothing else is readable.
    created = set(variant_stack.resources("AWS::SecretsManager::Secret"))
    assert {resource["Ref"] for resource in readable if isinstance(resource, dict)} == created
    assert len(readable) == len(variant_stack.config.sources)


def test_verifier_may_decrypt_with_a_secrets_key_only_through_secrets_manager_for_that_secret(
    default_stack: Synthesized, variant_stack: Synthesized
) -> None:
    _, verifier = function_by_handler(variant_stack, "verifier.handler.handler")
    decrypts = [s for s in role_statements(variant_stack, verifier) if "kms:Decrypt" in actions_of(s)]
    assert [s.name for s in variant_stack.config.sources if s.secret_kms_key_arn] == ["billing"]
    (statement,) = decrypts
    assert actions_of(statement) == ["kms:Decrypt"] and resources_of(statement) == [SECRET_KEY_ARN]
    assert statement["Condition"] == {
        "StringEquals": {
            "kms:ViaService": {"Fn::Join": ["", ["secretsmanager.us-east-1.", {"Ref": "AWS::URLSuffix"}]]}
        },
        "StringLike": {"kms:EncryptionContext:SecretARN": PARTIAL_SECRET_ARN + "-??????"},
    }
    _, default_verifier = function_by_handler(default_stack, "verifier.handler.handler")
    assert not [s for s in role_statements(default_stack, default_verifier) if "kms:Decrypt" in actions_of(s)]
