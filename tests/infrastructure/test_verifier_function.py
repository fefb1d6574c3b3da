"""The verifier function: runtime, layer, configuration and exactly the permissions it needs."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from shared import contract
from tests.infrastructure.conftest import PARTIAL_SECRET_ARN, SECRET_KEY_ARN, Synthesized
from tests.infrastructure.iam import actions_of, bucket_objects, function_by_handler, resources_of, role_statements

# Lambda: "The total size of all environment variables doesn't exceed 4 KB."
LAMBDA_ENVIRONMENT_BYTES = 4 * 1024
# The longest value a reference in the environment can take: an S3 bucket name.
LONGEST_REFERENCE = 63


def test_verifier_runs_python313_on_arm64_with_the_pinned_powertools_layer(default_stack: Synthesized) -> None:
    _, verifier = function_by_handler(default_stack, "verifier.handler.handler")
    props = verifier["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    # Powertools' layer, first; a deployment with a public-key source adds the cryptography layer after it
    # (test_crypto_bundle.py).
    layer, *others = props["Layers"]
    # The release is checked against the tested one in test_powertools_version.py.
    assert default_stack.json["Parameters"][layer["Ref"]]["Default"].startswith("/aws/service/powertools/python/")
    crypto_layers = default_stack.resources("AWS::Lambda::LayerVersion")
    assert others == [{"Ref": logical_id} for logical_id in crypto_layers]


def _parameter_value(parameter: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An SSM parameter's JSON value, each reference in it as a placeholder; and placeholder -> reference."""
    value = parameter["Properties"]["Value"]
    if isinstance(value, str):
        return json.loads(value), {}
    separator, parts = value["Fn::Join"]
    references = {f"@@ref{index}@@": part for index, part in enumerate(parts) if not isinstance(part, str)}
    names = {id(part): name for name, part in references.items()}
    return json.loads(separator.join(p if isinstance(p, str) else names[id(p)] for p in parts)), references


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_verifier_reads_every_sources_route_from_the_parameters_its_environment_names(
    stack: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stack)
    _, verifier = function_by_handler(synth, "verifier.handler.handler")
    env = verifier["Properties"]["Environment"]["Variables"]
    # The table is data, not environment: no source is named there.
    assert contract.ENV_SOURCES not in env
    parameters = {p["Properties"]["Name"]: p for p in synth.resources("AWS::SSM::Parameter").values()}
    assert env[contract.ENV_SOURCES_PARAMETERS].split(",") == sorted(parameters, key=lambda n: int(n.rsplit("/", 1)[1]))
    routes: dict[str, Any] = {}
    for parameter in parameters.values():
        value, references = _parameter_value(parameter)
        assert value["digest"] == env[contract.ENV_SOURCES_DIGEST]
        assert len(json.dumps(value)) <= contract.SOURCE_TABLE_PARAMETER_BYTES
        assert not set(routes) & set(value["sources"])
        for name, route in value["sources"].items():
            routes[name] = {**route, "queue_url": references[route["queue_url"]]}
            routes[name]["secret_arn"] = references[route["secret_arn"]]
    assert list(routes) == [source.name for source in synth.config.sources]
    for source in synth.config.sources:
        route = routes[source.name]
        assert route["scheme"] == source.scheme and route["tolerance_seconds"] == source.tolerance_seconds
        # Each source routes to its own stack's queue and secret.
        nested_id = contract.source_stack_logical_id(source.name)
        assert route["queue_url"] == {"Fn::GetAtt": [nested_id, "Outputs.QueueUrl"]}
        assert route["secret_arn"] == {"Fn::GetAtt": [nested_id, "Outputs.SecretArn"]}
        where, queue_url = synth.follow(synth.config.stack_name, route["queue_url"])
        (queue_id,) = [q for q in synth.nested[where].resources("AWS::SQS::Queue") if q.startswith("QueuesQueue")]
        assert (where, queue_url) == (nested_id, {"Ref": queue_id})
    assert env["MAX_BODY_BYTES"] == str(synth.config.max_body_bytes)
    assert env["CLAIM_CHECK_THRESHOLD_BYTES"] == str(synth.config.claim_check_threshold_bytes)
    assert "ClaimCheckBucket" in env["CLAIM_CHECK_BUCKET"]["Ref"]
    assert env["WEBHOOK_KIT_VERIFIER_TRACER"] == "false"  # opt-in: see docs/performance.md


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_verifier_environment_stays_within_lambdas_4_kb(stack: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(stack)
    _, verifier = function_by_handler(synth, "verifier.handler.handler")
    env = verifier["Properties"]["Environment"]["Variables"]
    size = sum(len(name) + (len(value) if isinstance(value, str) else LONGEST_REFERENCE) for name, value in env.items())
    # Each source table parameter adds its name; the rest does not grow with the sources.
    per_parameter = len(contract.source_table_parameter_name("x" * 128, 99)) + 1
    assert size <= LAMBDA_ENVIRONMENT_BYTES - 10 * per_parameter, size


def test_verifier_may_get_exactly_its_source_table_parameters(variant_stack: Synthesized) -> None:
    _, verifier = function_by_handler(variant_stack, "verifier.handler.handler")
    (statement,) = [s for s in role_statements(variant_stack, verifier) if "ssm:GetParameters" in actions_of(s)]
    assert actions_of(statement) == ["ssm:GetParameters"] and "Condition" not in statement
    names = [p["Properties"]["Name"] for p in variant_stack.resources("AWS::SSM::Parameter").values()]
    assert names
    assert resources_of(statement) == [
        {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":ssm:",
                    {"Ref": "AWS::Region"},
                    ":",
                    {"Ref": "AWS::AccountId"},
                    f":parameter{name}",
                ],
            ]
        }
        for name in names
    ]


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_verifier_may_only_put_claim_checks_read_its_table_and_existing_secrets(
    stack: str, request: pytest.FixtureRequest
) -> None:
    # Queues and created secrets grant the verifier in their own policies (test_queues_and_processors,
    # test_each_created_secret_lets_only_the_verifier_read_it): its role's policy names none of them.
    synth: Synthesized = request.getfixturevalue(stack)
    _, verifier = function_by_handler(synth, "verifier.handler.handler")
    by_action: dict[str, list] = {}
    for statement in role_statements(synth, verifier):
        assert statement["Effect"] == "Allow"
        for action in actions_of(statement):
            by_action.setdefault(action, []).extend(resources_of(statement))
    expected = {
        "s3:PutObject",
        "ssm:GetParameters",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    if any(source.secret_arn for source in synth.config.sources):
        expected |= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    if any(source.secret_kms_key_arn for source in synth.config.sources):
        expected |= {"kms:Decrypt"}
    assert set(by_action) == expected
    assert not [a for a in by_action if a.startswith("sqs:")]
    assert "Queue" not in json.dumps(by_action) and "Source" not in json.dumps(by_action)


def test_verifier_may_put_claim_checks_only_in_the_claim_check_bucket(variant_stack: Synthesized) -> None:
    # One statement for every source (the role's policy must not grow with them): the
    # bucket holds nothing but claim checks, each source's under its own prefix.
    _, verifier = function_by_handler(variant_stack, "verifier.handler.handler")
    statements = role_statements(variant_stack, verifier)
    writable = [r for s in statements if "s3:PutObject" in actions_of(s) for r in resources_of(s)]
    assert writable == [bucket_objects(variant_stack, "*")]
    assert {a for s in statements for a in actions_of(s) if a.startswith("s3:")} == {"s3:PutObject"}


def test_each_created_secret_lets_only_the_verifier_read_it(variant_stack: Synthesized) -> None:
    (verifier_role,) = [r for r in variant_stack.resources("AWS::IAM::Role") if r.startswith("WebhooksVerifierRole")]
    created = [source.name for source in variant_stack.config.sources if not source.secret_arn]
    assert created == ["stripe", "erp"]
    for name in created:
        nested = variant_stack.source(name)
        (secret_id,) = nested.resources("AWS::SecretsManager::Secret")
        (policy,) = nested.resources("AWS::SecretsManager::ResourcePolicy").values()
        assert policy["Properties"]["SecretId"] == {"Ref": secret_id}
        # In a secret's resource policy, "*" is that secret.
        assert nested.in_root(policy["Properties"]["ResourcePolicy"]["Statement"]) == [
            {
                "Sid": "VerifierReads",
                "Effect": "Allow",
                "Principal": {"AWS": {"Fn::GetAtt": [verifier_role, "Arn"]}},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            }
        ]
    for source in variant_stack.config.sources:
        if source.secret_arn:  # an existing secret's policy is not the stack's: the role grants it
            assert not variant_stack.source(source.name).resources("AWS::SecretsManager::ResourcePolicy")


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
    # Created secrets grant the verifier in their own policies; the role names only the existing ones.
    assert len(readable) == len(literal) == len(existing)


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
