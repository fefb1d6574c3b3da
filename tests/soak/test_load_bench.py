"""The load benchmark (``bench/load/run.py``, as ``make bench`` runs it) end to end, tiny: every target answers
every request, the ratios come out.

A child process, for the reason tests/soak/test_soak.py gives (moto's state is per process).
"""

from __future__ import annotations

import math
from pathlib import Path

from tests.support.bench import run_bench
from webhook_verify.schemes import SCHEMES

CONFIG = Path(__file__).with_name("webhook-kit.soak.toml")


def test_load_reports_every_target_and_the_ratios(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    report, printed = run_bench(
        "load", ["--config", str(CONFIG), "--requests", "30", "--rounds", "1", "--senders", "4"], out, timeout=180
    )
    for target in ("trivial", "pipeline"):
        assert report[target]["requests"] == report[target]["accepted"] == 30, target
        assert report[target]["p99_ms"] >= report[target]["p50_ms"] > 0
    assert len(report["sources"]) == len(SCHEMES)  # every source of the configuration, one per scheme
    assert all(math.isfinite(value) and value > 0 for value in report["ratios"].values())
    assert "pipeline / trivial" in printed
