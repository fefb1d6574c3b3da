"""AwsAdapters.put_secret against moto's Secrets Manager: a captured secret is stored once per arming.

Two adapters stand for two verifier instances, each with its own secret cache.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from verifier.adapters import AwsAdapters, DependencyError, SecretConflict, captured_document

ARM = "k3VwG9yq1nZ8Jt2LxR5sHd0cPmQe7UaB"


@pytest.fixture
def secret_arn(reset_moto: str) -> str:
    document = {"secrets": ["placeholder"], "capture_token": ARM, "other": "kept"}
    return str(
        boto3.client("secretsmanager").create_secret(Name="webhooks/asana", SecretString=json.dumps(document))["ARN"]
    )


def _current(secret_arn: str) -> dict[str, Any]:
    return json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"])


def test_a_captured_secret_replaces_the_document_and_both_instances_see_it_at_once(secret_arn: str) -> None:
    first, second = AwsAdapters(secrets_max_age_seconds=300), AwsAdapters(secrets_max_age_seconds=300)
    armed = first.get_secrets(secret_arn)
    assert second.get_secrets(secret_arn).tokens["capture_token"] == ARM  # type: ignore[attr-defined]

    first.put_secret(secret_arn, captured_document("captured-secret-value", armed.tokens), once=ARM)  # type: ignore[attr-defined]

    assert _current(secret_arn) == {"secrets": ["captured-secret-value"], "other": "kept"}
    # Neither instance serves the armed document from its cache (300 s) any more.
    for adapters in (first, second):
        secrets = adapters.get_secrets(secret_arn)
        assert list(secrets) == ["captured-secret-value"]
        assert "capture_token" not in secrets.tokens  # type: ignore[attr-defined]


def test_a_second_capture_for_the_same_arming_is_a_conflict_and_changes_nothing(secret_arn: str) -> None:
    first, second = AwsAdapters(secrets_max_age_seconds=300), AwsAdapters(secrets_max_age_seconds=300)
    first.put_secret(secret_arn, captured_document("the-first", {}), once=ARM)
    # The same value again (the provider retrying the same handshake) is the same version.
    second.put_secret(secret_arn, captured_document("the-first", {}), once=ARM)
    with pytest.raises(SecretConflict):
        second.put_secret(secret_arn, captured_document("a-second-one", {}), once=ARM)
    assert _current(secret_arn) == {"secrets": ["the-first"]}


def test_a_write_to_a_secret_that_does_not_exist_is_a_dependency_error(reset_moto: str) -> None:
    adapters = AwsAdapters(secrets_max_age_seconds=300)
    with pytest.raises(DependencyError) as raised:
        adapters.put_secret("webhooks/missing", captured_document("x" * 20, {}), once=ARM)
    assert not isinstance(raised.value, SecretConflict)
