"""Checkov, an independent policy scanner, finds nothing unjustified in the templates."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.conftest import ROOT, Synthesized

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _scan(template: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make install` creates it")
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    result = subprocess.run(  # noqa: S603 - the pinned checkov on a file we wrote
        [str(CHECKOV), "--file", str(path), "--framework", "cloudformation", "--output", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout or "{}")
    if isinstance(report, list):  # one report per framework
        (report,) = report
    if not report.get("results") and report.get("failed", 0) == 0:
        # --quiet with nothing failed prints the bare summary
        return {"summary": report, "results": {"failed_checks": []}}
    return report


@pytest.fixture(params=["default_stack", "variant_stack"])
def synth(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


def test_checkov_reports_no_unskipped_finding(synth: Synthesized, tmp_path: Path) -> None:
    report = _scan(synth.json, tmp_path)
    failed = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
    assert failed == []
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 50, summary  # it really scanned the resources


def test_every_checkov_skip_says_why(synth: Synthesized) -> None:
    skips = [
        skip
        for resource in synth.json["Resources"].values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for skip in skips:
        assert skip["id"].startswith("CKV_") and len(skip["comment"]) >= 60, skip


def test_checkov_would_report_an_unencrypted_public_bucket(tmp_path: Path) -> None:
    template = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}}}}
    report = _scan(template, tmp_path)
    assert {f["check_id"] for f in report["results"]["failed_checks"]} >= {"CKV_AWS_18", "CKV_AWS_21"}
