"""The library's import-time benchmark (``bench/library/run.py``, part of ``make bench``) end to end, tiny: one
fresh interpreter per variant, and every figure and ratio comes out. No timing is asserted."""

from __future__ import annotations

import math
from pathlib import Path

from tests.support.bench import run_bench


def test_library_bench_times_each_import_and_the_first_verify_against_the_interpreter(tmp_path: Path) -> None:
    report, printed = run_bench("library", ["--cold-runs", "1"], tmp_path / "library.json", timeout=120)
    assert set(report["medians"]) == {
        "pass (the interpreter alone)",
        "import webhook_verify",
        "from webhook_verify import verify",
        "... + first verify (GitHub, 1 KB)",
        "import verifier.handler (Lambda)",
    }
    assert all(
        math.isfinite(value) and value >= 0 for figures in report["medians"].values() for value in figures.values()
    )
    assert all(math.isfinite(value) and value > 0 for value in report["ratios"].values())
    assert "first verify / handler import" in printed
