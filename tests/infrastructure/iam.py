"""Helpers to read IAM out of a synthesized template."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.conftest import Synthesized


def function_by_handler(synth: Synthesized, handler: str, source: str | None = None) -> tuple[str, dict[str, Any]]:
    matches = [
        (logical_id, resource)
        for logical_id, resource in synth.resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == handler
        and (
            source is None
            or resource["Properties"].get("Environment", {}).get("Variables", {}).get("WEBHOOK_SOURCE") == source
        )
    ]
    assert len(matches) == 1, f"expected one function with handler {handler} (source {source}), got {len(matches)}"
    return matches[0]


def role_statements(synth: Synthesized, function: dict[str, Any]) -> list[dict[str, Any]]:
    """Every policy statement attached to the function's role."""
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements: list[dict[str, Any]] = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    role = synth.resources("AWS::IAM::Role")[role_id]
    for inline in role["Properties"].get("Policies", []):
        statements.extend(inline["PolicyDocument"]["Statement"])
    return statements


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def bucket_objects(synth: Synthesized, pattern: str) -> dict[str, Any]:
    """How the template spells ``<claim-check bucket ARN>/<pattern>``."""
    (bucket_id,) = synth.resources("AWS::S3::Bucket")
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{pattern}"]]}
