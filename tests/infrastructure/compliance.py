"""The scanners the template tests share: cfn-lint's errors and checkov's report over a set of templates."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all

from tests.infrastructure.conftest import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def cfn_lint_errors(templates: dict[str, dict[str, Any]]) -> list[str]:
    """cfn-lint's errors (E rules) in every template, each as "<template>: <rule> <message>"."""
    return [
        f"{where}: {m.rule.id} {m.message}"
        for where, template in templates.items()
        for m in lint_all(json.dumps(template))
        if m.rule.id.startswith("E")
    ]


def checkov_report(templates: dict[str, dict[str, Any]], tmp_path: Path) -> dict[str, Any]:
    """Checkov's report on the templates, written as cdk.out holds them: one file a stack."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make install` creates it")
    for name, template in templates.items():
        (tmp_path / f"{name}.template.json").write_text(json.dumps(template))
    result = subprocess.run(  # noqa: S603 - the pinned checkov on files we wrote
        [str(CHECKOV), "--directory", str(tmp_path), "--framework", "cloudformation", "--output", "json", "--quiet"],
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
