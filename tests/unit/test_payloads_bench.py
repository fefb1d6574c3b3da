"""The payload-model benchmark (``bench/payloads/run.py``, part of ``make bench``) end to end, tiny: one fresh
interpreter per cold-start variant, a few calls per message variant, and every figure and ratio comes out.
No timing is asserted."""

from __future__ import annotations

import math
from pathlib import Path

from tests.support.bench import run_bench


def test_payloads_bench_times_the_cold_start_and_each_message_variant(tmp_path: Path) -> None:
    report, printed = run_bench(
        "payloads", ["--cold-runs", "1", "--rounds", "1", "--calls", "20"], tmp_path / "payloads.json", timeout=180
    )
    assert set(report["cold"]) == {"plain", "models"}
    assert set(report["per_message"]) == {"plain", "model", "schema"}
    figures = [value for cold in report["cold"].values() for value in cold.values()]
    assert all(math.isfinite(value) and value > 0 for value in [*figures, *report["per_message"].values()])
    assert all(math.isfinite(value) and value > 0 for value in report["ratios"].values())
    assert "per message, model / plain" in printed
