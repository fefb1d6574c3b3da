"""Checkov, an independent policy scanner, finds nothing unjustified in the templates (root and nested)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infrastructure.compliance import checkov_report
from tests.infrastructure.conftest import Synthesized


@pytest.fixture(params=["default_stack", "variant_stack"])
def synth(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


def test_checkov_reports_no_unskipped_finding(synth: Synthesized, tmp_path: Path) -> None:
    templates = synth.templates()
    assert len(templates) > len(synth.config.sources)  # each source's nested stack, and the alarm groups'
    report = checkov_report(templates, tmp_path)
    failed = [(f["check_id"], f["file_path"], f["resource"]) for f in report["results"]["failed_checks"]]
    assert failed == []
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    # It really scanned every resource of every template.
    assert summary["resource_count"] == sum(len(t["Resources"]) for t in templates.values()), summary
    assert summary["passed"] >= 50, summary


def test_every_checkov_skip_says_why(synth: Synthesized) -> None:
    skips = [
        skip
        for template in synth.templates().values()
        for resource in template["Resources"].values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for skip in skips:
        assert skip["id"].startswith("CKV_") and len(skip["comment"]) >= 60, skip


def test_checkov_would_report_an_unencrypted_public_bucket(tmp_path: Path) -> None:
    template = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
    report = checkov_report({"Root": {"Resources": {}}, "Nested": template}, tmp_path)
    assert {f["check_id"] for f in report["results"]["failed_checks"]} >= {"CKV_AWS_18", "CKV_AWS_21"}
