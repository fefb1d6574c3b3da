"""Synthesize stacks once per module and share their templates."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import NestedStack, Stack, cx_api
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from shared.contract import source_stack_logical_id
from stacks.config import WebhookKitConfig, load_config, parse_config
from stacks.firewall import FirewallSource, WebhookFirewall
from stacks.webhook_stack import WebhookKitStack

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "webhook-kit.toml"


@dataclass(frozen=True)
class NestedTemplate:
    """A nested stack's template, and what its parent passes it for each of its parameters."""

    logical_id: str  # of its AWS::CloudFormation::Stack in the root template
    template: Template
    parameters: dict[str, Any]

    @property
    def json(self) -> dict[str, Any]:
        return dict(self.template.to_json())

    def resources(self, type_: str) -> dict[str, Any]:
        return dict(self.template.find_resources(type_))

    def output(self, name: str) -> Any:
        return self.json["Outputs"][name]["Value"]

    def in_root(self, value: Any) -> Any:
        """``value`` with every reference to one of this stack's parameters replaced by the root's value for it."""
        if isinstance(value, list):
            return [self.in_root(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"} and value["Ref"] in self.parameters:
            return self.parameters[value["Ref"]]
        return {key: self.in_root(item) for key, item in value.items()}


@dataclass
class Synthesized:
    """One synthesis of the app, as ``cdk synth`` runs it: the root template and every nested stack's."""

    config: WebhookKitConfig
    stack: WebhookKitStack
    template: Template
    nested: dict[str, NestedTemplate]  # by the logical id of its AWS::CloudFormation::Stack in the root
    nag_findings: list[str]

    @property
    def json(self) -> dict[str, Any]:
        return dict(self.template.to_json())

    def resources(self, type_: str) -> dict[str, Any]:
        """The root template's resources of ``type_``."""
        return dict(self.template.find_resources(type_))

    def source(self, name: str) -> NestedTemplate:
        """The template of source ``name``'s nested stack."""
        return self.nested[source_stack_logical_id(name)]

    @property
    def alarm_groups(self) -> list[NestedTemplate]:
        """The nested stacks of group alarms, in configuration order."""
        return [self.nested[_logical_id(group)] for group in self.stack.ingestion.monitoring.groups]

    def templates(self) -> dict[str, dict[str, Any]]:
        """Every template of the deployment: the root's under the stack's name, then each nested one's."""
        return {self.config.stack_name: self.json, **{key: nested.json for key, nested in self.nested.items()}}

    def all_resources(self, type_: str) -> dict[tuple[str, str], Any]:
        """Resources of ``type_`` in every template, keyed (template key as in ``templates``, logical id)."""
        return {
            (where, logical_id): resource
            for where, template in self.templates().items()
            for logical_id, resource in template.get("Resources", {}).items()
            if resource["Type"] == type_
        }

    def follow(self, where: str, value: Any) -> tuple[str, Any]:
        """Follow ``value`` across stack boundaries to the template that defines it.

        A nested stack's parameter leads to what the root passes it; the root's
        ``Fn::GetAtt [<nested stack>, Outputs.<name>]`` to that output's value in
        the nested template. Returns (template key, value there).
        """
        while True:
            parameters = self.nested[where].parameters if where in self.nested else {}
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
                where, value = self.config.stack_name, parameters[value["Ref"]]
                continue
            if where == self.config.stack_name and isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
                target, attribute = value["Fn::GetAtt"]
                if target in self.nested and attribute.startswith("Outputs."):
                    where = target
                    value = self.nested[target].output(attribute.removeprefix("Outputs."))
                    continue
            return where, value


# The feature flags `cdk synth` and `cdk deploy` set (cdk.json), so the tests see the deployed template.
FEATURE_FLAGS: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]


def _logical_id(nested: NestedStack) -> str:
    resource = nested.nested_stack_resource
    assert resource is not None
    return str(Stack.of(resource).resolve(resource.logical_id))


def nag_findings(assembly: cx_api.CloudAssembly, stack: Stack) -> list[str]:
    """cdk-nag's errors and warnings on ``stack`` and every stack nested in it, from one synthesis.

    Read from the assembly, not with ``Annotations.from_stack``: that synthesizes
    the app again, and a second run of the nag aspect sees the nested stacks'
    references already turned into parameters, which ``cdk synth`` never shows it.
    """
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    return [
        f"{entry.path}: {entry.data}"
        for kind in ("aws:cdk:error", "aws:cdk:warning")
        for entry in artifact.find_metadata_by_type(kind)
        if str(entry.data).startswith("AwsSolutions-")
    ]


def synthesize(config: WebhookKitConfig) -> Synthesized:
    app = cdk.App(context=FEATURE_FLAGS)
    stack = WebhookKitStack(app, config.stack_name, config=config)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    # Synthesized once, as `cdk synth` does; every template is read from that one assembly.
    assembly = app.synth()
    root = Template.from_json(assembly.get_stack_artifact(stack.artifact_id).template)
    root_resources = root.to_json()["Resources"]
    nested: dict[str, NestedTemplate] = {}
    for construct in stack.node.find_all():
        if isinstance(construct, NestedStack):
            logical_id = _logical_id(construct)
            body = json.loads((Path(assembly.directory) / construct.template_file).read_text())
            parameters = root_resources[logical_id]["Properties"].get("Parameters", {})
            nested[logical_id] = NestedTemplate(logical_id, Template.from_json(body), parameters)
    return Synthesized(
        config=config, stack=stack, template=root, nested=nested, nag_findings=nag_findings(assembly, stack)
    )


FIREWALL_MAX_BODY_BYTES = 1024 * 1024  # above what WAF reads of a body: a regex on Content-Length


def build_firewall(
    sources: Sequence[FirewallSource], *, stack_name: str = "FirewallOnly", **budget: int
) -> tuple[WebhookFirewall, dict[str, Any]]:
    """The firewall alone in a bare stack, and its synthesized template: a second, not a full synth."""
    stack = cdk.Stack(cdk.App(), stack_name)
    firewall = WebhookFirewall(
        stack,
        "Firewall",
        sources=sources,
        metric_name="webhook-kit-test",
        stage_arn="arn:aws:apigateway:us-east-1::/restapis/abc/stages/prod",
        rate_limit=1000,
        max_body_bytes=FIREWALL_MAX_BODY_BYTES,
        body_inspection_kb=16,
        **budget,
    )
    return firewall, Template.from_stack(stack).to_json()


def default_config_data() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_CONFIG.read_text())


@pytest.fixture(scope="session")
def default_stack() -> Synthesized:
    """The stack of the shipped webhook-kit.toml."""
    return synthesize(load_config(DEFAULT_CONFIG))


# An existing secret named by its partial ARN (no six-character suffix), encrypted
# with a customer-managed key.
PARTIAL_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/billing"
SECRET_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# A configuration that switches on what the default leaves off: allow-lists
# (IPv4 and IPv6), an alarm e-mail, existing secrets (complete and partial ARN,
# one with a customer-managed key), a URL-signing scheme,
# a generic HMAC source being onboarded (enforce = false), batching, a source throttle of its own, a small body
# cap WAF can measure, shorter retention windows, no data retention, and the
# account's existing API Gateway CloudWatch Logs role.
VARIANT = {
    "stack_name": "WebhookKitVariant",
    "stage_name": "staging",
    "api_gateway_cloudwatch_role": "existing",
    "alarm_email": "oncall@example.com",
    "waf_rate_limit": 500,
    "max_body_bytes": 8192,
    "retain_data": False,
    "queue_retention_days": 4,
    "dead_letter_retention_days": 7,
    "claim_check_expiry_days": 12,
    "idempotency_expiry_seconds": 11 * 24 * 3600,
    "sources": [
        {
            "name": "stripe",
            "scheme": "stripe",
            "allowed_cidrs": ["3.18.12.63/32", "3.130.192.231/32", "2600:1f18::/36"],
            "batch_size": 50,
            "batching_window_seconds": 5,
            "max_concurrency": 3,
            "max_receive_count": 3,
            "timeout_seconds": 20,
            "throttle_rate": 20,
            "throttle_burst": 40,
        },
        {
            "name": "twilio-sms",
            "scheme": "twilio",
            "public_url": "https://hooks.example.com/webhooks/twilio-sms",
            "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:twilio-AbCdEf",
        },
        {
            "name": "billing",
            "scheme": "paddle",
            "secret_arn": PARTIAL_SECRET_ARN,
            "secret_kms_key_arn": SECRET_KEY_ARN,
        },
        {
            "name": "erp",
            "scheme": "generic-hmac",
            # Onboarding: failures are accepted, so the source has an enforcement-off alarm.
            "enforce": False,
            "allowed_cidrs": ["203.0.113.0/24"],
            "generic": {
                "signature_header": "X-Erp-Signature",
                "algorithm": "sha512",
                "encoding": "base64",
                "delivery_id_header": "X-Erp-Delivery",
            },
        },
    ],
}


@pytest.fixture(scope="session")
def variant_stack() -> Synthesized:
    return synthesize(parse_config(VARIANT))


def located_alarms(synth: Synthesized) -> list[tuple[str, dict[str, Any]]]:
    """(template key, properties) of every alarm: the root's, each source's, each group's."""
    return [(where, r["Properties"]) for (where, _), r in synth.all_resources("AWS::CloudWatch::Alarm").items()]


def dashboard_metrics(synth: Synthesized) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every graph of the dashboard, tokens put back as intrinsics."""
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = joined_json(dashboard["Properties"]["DashboardBody"])
    metrics = []
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            fields = row[:-1] if _render_options(row[-1]) else row
            namespace, name, *pairs = fields
            assert len(pairs) % 2 == 0 and "..." not in fields and "." not in fields, row
            dimensions = {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}
            metrics.append((namespace, name, dimensions))
    return metrics


def joined_json(value: dict[str, Any]) -> Any:
    """A JSON document the template assembles with ``Fn::Join``, parsed, each deploy-time part as its intrinsic."""
    separator, parts = value["Fn::Join"]
    tokens = {f"@@token{index}@@": part for index, part in enumerate(parts) if not isinstance(part, str)}
    names = {id(part): name for name, part in tokens.items()}

    def restored(node: Any) -> Any:
        if isinstance(node, list):
            return [restored(item) for item in node]
        if isinstance(node, dict):
            return {key: restored(item) for key, item in node.items()}
        return tokens.get(node, node) if isinstance(node, str) else node

    return restored(json.loads(separator.join(part if isinstance(part, str) else names[id(part)] for part in parts)))


def _render_options(field: Any) -> bool:
    """Whether a dashboard metric row's field is its render options (a dict, but not a deploy-time intrinsic)."""
    return isinstance(field, dict) and not any(key == "Ref" or key.startswith("Fn::") for key in field)
