"""A hundred sources in one deployment: every template within CloudFormation's limits, lint- and nag-clean.

The configuration (tests/support/scale.py) mixes every signature scheme, and
half of its sources are allow-listed. Synthesizing it takes about 25 s, once
for the module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_all

from stacks.budgets import (
    DASHBOARD_MAX_WIDGETS,
    STACK_MAX_OUTPUTS,
    STACK_MAX_RESOURCES,
    TEMPLATE_MAX_BYTES,
    BudgetError,
    Usage,
    check_assembly,
)
from stacks.config import parse_config
from stacks.waf_budget import DEFAULT_MAX_WCU
from stacks.webhook_stack import WebhookKitStack
from tests.infrastructure.conftest import FEATURE_FLAGS
from tests.support.scale import config_toml, scale_config_data

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SOURCES = 100


class Scale:
    def __init__(self, directory: Path) -> None:
        self.config = parse_config(scale_config_data(SOURCES))
        app = cdk.App(context=FEATURE_FLAGS, outdir=str(directory))
        self.stack = WebhookKitStack(app, self.config.stack_name, config=self.config)
        cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
        self.assembly = app.synth()
        self.directory = directory
        self.templates = {path.name: json.loads(path.read_text()) for path in directory.glob("*.template.json")}
        self.root = self.templates[f"{self.config.stack_name}.template.json"]


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> Scale:
    return Scale(tmp_path_factory.mktemp("scale"))


def test_every_template_stays_well_within_cloudformations_limits(scale: Scale) -> None:
    usage = check_assembly(scale.directory)

    # One stack per source, one per ten sources' alarms, and the parent.
    assert usage.templates == 1 + SOURCES + SOURCES // 10
    # Room to spare: the parent, the largest, holds under a third of the resources and
    # under two-thirds of the bytes it may.
    assert usage.largest_resources < STACK_MAX_RESOURCES / 3
    assert usage.largest_template_bytes < TEMPLATE_MAX_BYTES * 0.65
    assert usage.largest_outputs < STACK_MAX_OUTPUTS / 10
    root_resources = scale.root["Resources"]
    assert sum(r["Type"] == "AWS::CloudFormation::Stack" for r in root_resources.values()) == SOURCES + SOURCES // 10


def test_alarms_scale_with_groups_of_sources_and_every_dead_letter_queue_keeps_its_own(scale: Scale) -> None:
    usage = check_assembly(scale.directory)
    # A dead-letter alarm per source, five per ten sources, five for the whole deployment.
    assert usage.alarms == SOURCES + 5 * (SOURCES // 10) + 5 < 2 * SOURCES
    dead_letter_alarms = [
        name
        for template in scale.templates.values()
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and (name := resource["Properties"]["AlarmName"]).endswith("-dead-letters")
    ]
    assert sorted(dead_letter_alarms) == sorted(
        f"{scale.config.stack_name}-src-{i:03d}-dead-letters" for i in range(100)
    )
    assert usage.dashboard_widgets < DASHBOARD_MAX_WIDGETS / 10


def test_the_web_acl_holds_fifty_allow_lists_within_the_default_capacity(scale: Scale) -> None:
    firewall = scale.stack.ingestion.firewall
    allow_listed = [source for source in scale.config.sources if source.allowed_cidrs]
    assert len(allow_listed) == SOURCES // 2
    assert firewall.capacity <= DEFAULT_MAX_WCU
    [acl] = [r for r in scale.root["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL"]
    path_rules = [rule for rule in acl["Properties"]["Rules"] if rule["Name"].startswith("allow-list-")]
    assert len(path_rules) == len(allow_listed)


def test_cdk_nag_finds_nothing_unsuppressed_in_any_stack(scale: Scale) -> None:
    artifact = scale.assembly.get_stack_artifact(scale.stack.artifact_id)
    findings = [
        f"{message.id}: {message.entry.data}"
        for message in artifact.messages
        if message.level in ("error", "warning") and "AwsSolutions-" in str(message.entry.data)
    ]
    assert findings == []


def _distinct(templates: dict[str, Any]) -> dict[str, Any]:
    """One template of each shape: the sources' stacks differ by names and hashes only, within a scheme.

    What cfn-lint and checkov judge (types, properties, policies) is the same in
    templates of one shape; checking each shape once keeps the test to seconds.
    """
    seen: dict[str, tuple[str, Any]] = {}
    for name, template in sorted(templates.items()):
        text = re.sub(r"src-?\d{3}|[0-9A-F]{8}|[0-9a-f]{64}", "#", json.dumps(template))
        seen.setdefault(text, (name, template))
    return dict(seen.values())


def test_cfn_lint_reports_no_error_in_any_kind_of_template(scale: Scale) -> None:
    errors = [
        f"{name}: {match.rule.id} {match.message}"
        for name, template in _distinct(scale.templates).items()
        for match in lint_all(json.dumps(template))
        if match.rule.id.startswith("E")
    ]
    assert errors == []


@pytest.mark.skipif(not CHECKOV.exists(), reason="make test installs checkov in .venv-checkov")
def test_checkov_reports_no_unskipped_finding_in_any_kind_of_template(scale: Scale, tmp_path: Path) -> None:
    distinct = _distinct(scale.templates)
    assert 3 <= len(distinct) < 20  # the parent, an alarm group, the sources' kinds
    for name, template in distinct.items():
        (tmp_path / name).write_text(json.dumps(template))
    result = subprocess.run(  # noqa: S603 - the pinned checkov on files we wrote
        [str(CHECKOV), "-d", str(tmp_path), "--framework", "cloudformation", "--compact", "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [check["check_id"] + " " + check["resource"] for r in reports for check in r["results"]["failed_checks"]]
    assert failed == []


def test_a_configuration_past_a_limit_fails_at_synth_naming_the_limit_and_the_fix(tmp_path: Path) -> None:
    # 60 allow-listed sources, each with a list of its own: 60 IP set references, past the
    # 50 a web ACL may hold.
    data = scale_config_data(60, allow_listed_every=1)
    for index, source in enumerate(data["sources"]):
        source["allowed_cidrs"] = [f"198.51.{index}.0/24"]
    config_file = tmp_path / "webhook-kit.toml"
    config_file.write_text(config_toml(data))
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "out"), "WEBHOOK_KIT_CONFIG": str(config_file)}
    env["CDK_CONTEXT_JSON"] = json.dumps(FEATURE_FLAGS)
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 1
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    assert "AWS WAF web ACL references" in result.stderr and "61 statements" in result.stderr  # and the managed group
    assert "the 50 a web ACL may hold" in result.stderr and "the same allowed_cidrs" in result.stderr


def test_a_template_past_cloudformations_limits_is_refused_with_each_limit_named(tmp_path: Path) -> None:
    queues = {f"Queue{i}": {"Type": "AWS::SQS::Queue"} for i in range(STACK_MAX_RESOURCES + 1)}
    outputs = {f"Out{i}": {"Value": "x"} for i in range(STACK_MAX_OUTPUTS + 1)}
    (tmp_path / "Big.template.json").write_text(json.dumps({"Resources": queues, "Outputs": outputs}))
    with pytest.raises(BudgetError) as refused:
        check_assembly(tmp_path)
    message = str(refused.value)
    assert f"{STACK_MAX_RESOURCES + 1} resources, over CloudFormation's {STACK_MAX_RESOURCES}" in message
    assert f"{STACK_MAX_OUTPUTS + 1} outputs, over CloudFormation's {STACK_MAX_OUTPUTS}" in message


def test_a_verifier_environment_past_four_kilobytes_is_refused(tmp_path: Path) -> None:
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Environment": {"Variables": {"WEBHOOK_SOURCES": "x" * 4000, "BUCKET": {"Ref": "Bucket"}}}},
    }
    (tmp_path / "Kit.template.json").write_text(json.dumps({"Resources": {"Verifier": function}}))
    with pytest.raises(BudgetError, match="Verifier: about 4,277 bytes of environment, over Lambda's 4 KB"):
        check_assembly(tmp_path)
    function["Properties"]["Environment"]["Variables"]["WEBHOOK_SOURCES"] = "x" * 3000
    (tmp_path / "Kit.template.json").write_text(json.dumps({"Resources": {"Verifier": function}}))
    assert isinstance(check_assembly(tmp_path), Usage)
