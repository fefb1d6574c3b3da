"""The CDK app entry point and the reusable construct, as users run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks import WebhookIngestion
from stacks.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def _run_app(tmp_path: Path, context: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path), "CDK_CONTEXT_JSON": json.dumps(context)}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_app_applies_context_overrides(tmp_path: Path) -> None:
    result = _run_app(tmp_path, {"stage_name": "dev", "sources.github.batch_size": "3"})
    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / "WebhookKit.template.json").read_text())
    stages = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert stages[0]["Properties"]["StageName"] == "dev"
    mappings = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert sorted(m["Properties"]["BatchSize"] for m in mappings) == [3, 10, 10]


def test_app_fails_synth_naming_the_bad_field(tmp_path: Path) -> None:
    result = _run_app(tmp_path, {"sources.stripe.batch_size": "0"})
    assert result.returncode == 1
    assert "sources[stripe].batch_size" in result.stderr and "greater than or equal to 1" in result.stderr
    assert not (tmp_path / "WebhookKit.template.json").exists()


def test_the_construct_works_in_any_app_without_this_repos_app_py() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "SomeoneElsesStack")
    config = parse_config({"sources": [{"name": "gh", "scheme": "github"}]})
    ingestion = WebhookIngestion(stack, "Webhooks", config=config)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::ApiGateway::Method", 1)
    assert ingestion.queues["gh"].queue is not None and ingestion.processors["gh"].function is not None
    template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "gh"})


def test_app_builds_the_stack_of_the_config_file_named_by_context(tmp_path: Path) -> None:
    config = tmp_path / "company.toml"
    config.write_text('stack_name = "CompanyWebhooks"\n\n[[sources]]\nname = "gh"\nscheme = "github"\n')
    out = tmp_path / "cdk.out"
    result = _run_app(out, {"config": str(config)})
    assert result.returncode == 0, result.stderr
    assert not (out / "WebhookKit.template.json").exists()
    template = json.loads((out / "CompanyWebhooks.template.json").read_text())
    alarm_names = [
        r["Properties"]["AlarmName"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert alarm_names and all(name.startswith("CompanyWebhooks-") for name in alarm_names)


@pytest.mark.parametrize("target", ["synth", "diff", "deploy", "destroy"])
def test_make_hands_the_config_and_args_to_every_cdk_command(target: str) -> None:
    # A dry run: make prints the command it would run, and runs nothing.
    result = subprocess.run(  # noqa: S603 - the repository's own Makefile, fixed arguments
        ["make", "-n", target, "CONFIG=company.toml", "ARGS=-c stage_name=dev --profile ops"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (command,) = [line for line in result.stdout.splitlines() if f"cdk {target}" in line]
    assert command.split(f"cdk {target}", 1)[1].split()[-6:] == [
        "-c",
        "config=company.toml",
        "-c",
        "stage_name=dev",
        "--profile",
        "ops",
    ]
