"""The verifier may write a source's secret only where its handshake captures one (Asana, Notion), and only that secret.

Four sources: Asana with a secret the stack creates, Notion with an existing
secret named by a partial ARN and encrypted with a customer-managed key, and
GitHub and Stripe (which capture nothing) with a created and an existing secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.config import parse_config
from tests.infrastructure.compliance import cfn_lint_errors, checkov_report
from tests.infrastructure.conftest import Synthesized, synthesize
from tests.infrastructure.iam import actions_of, function_by_handler, resources_of, role_statements
from webhook_verify.handshakes import get_handshake

NOTION_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhooks/notion"
NOTION_KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
STRIPE_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhooks/stripe-AbCdEf"
CAPTURES = {
    "stack_name": "WebhookKitCaptures",
    "sources": [
        {"name": "asana", "provider": "asana"},
        {"name": "notion", "provider": "notion", "secret_arn": NOTION_SECRET, "secret_kms_key_arn": NOTION_KEY},
        {"name": "github", "scheme": "github"},
        {"name": "stripe", "provider": "stripe", "secret_arn": STRIPE_SECRET},
    ],
}
PUT = "secretsmanager:PutSecretValue"


@pytest.fixture(scope="module")
def stack() -> Synthesized:
    return synthesize(parse_config(CAPTURES))


def test_the_capturing_sources_are_asana_and_notion(stack: Synthesized) -> None:
    capturing = [s.name for s in stack.config.sources if s.handshake and get_handshake(s.handshake).captures_secret]
    assert capturing == ["asana", "notion"]


def test_a_created_secret_lets_the_verifier_put_a_value_only_where_the_source_captures(stack: Synthesized) -> None:
    for name, captures in (("asana", True), ("github", False)):
        nested = stack.source(name)
        (policy,) = nested.resources("AWS::SecretsManager::ResourcePolicy").values()
        (secret_id,) = nested.resources("AWS::SecretsManager::Secret")
        assert policy["Properties"]["SecretId"] == {"Ref": secret_id}
        statements = policy["Properties"]["ResourcePolicy"]["Statement"]
        puts = [s for s in statements if PUT in actions_of(s)]
        if not captures:
            assert puts == []
            continue
        # In a secret's resource policy "*" is that secret; only PutSecretValue, for the verifier only.
        (put,) = puts
        assert (put["Sid"], put["Action"], put["Resource"]) == ("VerifierStoresCapturedSecret", PUT, "*")
        reads = [s for s in statements if s is not put]
        assert put["Principal"] == reads[0]["Principal"]


def test_the_verifier_role_may_put_only_the_existing_capturing_sources_secret(stack: Synthesized) -> None:
    _, verifier = function_by_handler(stack, "verifier.handler.handler")
    statements = role_statements(stack, verifier)
    writable = [r for s in statements if PUT in actions_of(s) for r in resources_of(s)]
    assert writable == [NOTION_SECRET + "-??????"]  # a partial ARN matches with the suffix
    assert STRIPE_SECRET not in json.dumps(writable)
    write_actions = {a for s in statements for a in actions_of(s) if a.startswith("secretsmanager:")}
    assert write_actions <= {PUT, "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    (data_keys,) = [s for s in statements if "kms:GenerateDataKey" in actions_of(s)]
    assert data_keys["Resource"] == NOTION_KEY
    assert data_keys["Condition"]["StringLike"] == {"kms:EncryptionContext:SecretARN": NOTION_SECRET + "-??????"}
    assert "kms:ViaService" in data_keys["Condition"]["StringEquals"]


def test_cdk_nag_has_no_unsuppressed_finding(stack: Synthesized) -> None:
    assert stack.nag_findings == []


def test_cfn_lint_reports_no_error(stack: Synthesized) -> None:
    assert cfn_lint_errors(stack.templates()) == []


def test_checkov_reports_nothing_unskipped(stack: Synthesized, tmp_path: Path) -> None:
    report = checkov_report(stack.templates(), tmp_path)
    assert [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]] == []
    summary = report["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0
