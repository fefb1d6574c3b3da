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


def _nested_templates(out: Path) -> list[dict]:
    """The nested stacks' templates the synth wrote beside the root's."""
    return [json.loads(path.read_text()) for path in sorted(out.glob("*.nested.template.json"))]


def _of_type(template: dict, type_: str) -> list[dict]:
    return [r for r in template["Resources"].values() if r["Type"] == type_]


def test_app_applies_context_overrides(tmp_path: Path) -> None:
    result = _run_app(tmp_path, {"stage_name": "dev", "sources.github.batch_size": "3"})
    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / "WebhookKit.template.json").read_text())
    stages = _of_type(template, "AWS::ApiGateway::Stage")
    assert stages[0]["Properties"]["StageName"] == "dev"
    # Each source's event source mapping is in its nested stack, beside its processor.
    batch_sizes = {}
    for nested in _nested_templates(tmp_path):
        for function in _of_type(nested, "AWS::Lambda::Function"):
            (mapping,) = _of_type(nested, "AWS::Lambda::EventSourceMapping")
            batch_sizes[function["Properties"]["Environment"]["Variables"]["WEBHOOK_SOURCE"]] = mapping["Properties"][
                "BatchSize"
            ]
    assert batch_sizes == {"stripe": 10, "github": 3, "orders": 10}


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
    gh = ingestion.sources["gh"]
    assert gh.queues.queue is not None and gh.processor.function is not None
    # The API's own method is GET / (404); the source's POST path is in the source's nested stack.
    template.has_resource_properties("AWS::ApiGateway::Method", {"HttpMethod": "GET"})
    template.resource_count_is("AWS::ApiGateway::Method", 1)
    source = Template.from_stack(gh)
    source.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "gh"})
    source.has_resource_properties("AWS::ApiGateway::Method", {"HttpMethod": "POST"})
    source.resource_count_is("AWS::ApiGateway::Method", 1)


def test_app_builds_the_stack_of_the_config_file_named_by_context(tmp_path: Path) -> None:
    config = tmp_path / "company.toml"
    config.write_text('stack_name = "CompanyWebhooks"\n\n[[sources]]\nname = "gh"\nscheme = "github"\n')
    out = tmp_path / "cdk.out"
    result = _run_app(out, {"config": str(config)})
    assert result.returncode == 0, result.stderr
    assert not (out / "WebhookKit.template.json").exists()
    template = json.loads((out / "CompanyWebhooks.template.json").read_text())
    templates = [template, *_nested_templates(out)]
    alarm_names = [r["Properties"]["AlarmName"] for t in templates for r in _of_type(t, "AWS::CloudWatch::Alarm")]
    # The nested stacks' alarms too are named after the deployment, not after their nested stack.
    assert len(templates) == 3 and len(alarm_names) == 5 + 1 + 4  # global, the source's, its group's
    assert all(name.startswith("CompanyWebhooks-") for name in alarm_names), alarm_names


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
