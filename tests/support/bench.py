"""Running a benchmark of bench/ as its make target does, tiny, and reading its JSON report (no timing asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(name: str, arguments: list[str], out: Path, *, timeout: float) -> tuple[dict[str, Any], str]:
    """``bench/<name>/run.py`` in a child process (moto's state is per process), without the caller's AWS settings.

    Its JSON report and what it printed.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(ROOT / "bench" / name / "run.py"), *arguments, "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report, completed.stdout
