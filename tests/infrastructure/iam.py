"""Helpers to read IAM out of a synthesized template (the root's or a nested stack's)."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.conftest import NestedTemplate, Synthesized


def function_by_handler(
    template: Synthesized | NestedTemplate, handler: str, source: str | None = None
) -> tuple[str, dict[str, Any]]:
    matches = [
        (logical_id, resource)
        for logical_id, resource in template.resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == handler
        and (
            source is None
            or resource["Properties"].get("Environment", {}).get("Variables", {}).get("WEBHOOK_SOURCE") == source
        )
    ]
    assert len(matches) == 1, f"expected one function with handler {handler} (source {source}), got {len(matches)}"
    return matches[0]


def role_statements(template: Synthesized | NestedTemplate, function: dict[str, Any]) -> list[dict[str, Any]]:
    """Every policy statement attached to the function's role, in the function's template."""
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for policy in template.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    role = template.resources("AWS::IAM::Role")[role_id]
    for inline in role["Properties"].get("Policies", []):
        statements.extend(inline["PolicyDocument"]["Statement"])
    return statements


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def bucket_id(synth: Synthesized) -> str:
    (logical_id,) = synth.resources("AWS::S3::Bucket")
    return str(logical_id)


def bucket_objects(synth: Synthesized, pattern: str) -> dict[str, Any]:
    """How the root template spells ``<claim-check bucket ARN>/<pattern>``."""
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id(synth), "Arn"]}, f"/{pattern}"]]}


def bucket_objects_from_name(synth: Synthesized, pattern: str) -> dict[str, Any]:
    """How a nested template spells it, from the bucket's name (parameters put back as the root's values)."""
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::", {"Ref": bucket_id(synth)}, f"/{pattern}"]]}


def all_statements(synth: Synthesized) -> list[dict[str, Any]]:
    """Every statement of every IAM policy (managed-policy resources and roles' inline ones) in every template."""
    statements = []
    for template in synth.templates().values():
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::IAM::Policy":
                statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
            if resource["Type"] == "AWS::IAM::Role":
                for inline in resource["Properties"].get("Policies", []):
                    statements.extend(inline["PolicyDocument"]["Statement"])
    return statements
