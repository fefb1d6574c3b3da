"""The scale benchmark (``bench/scale/run.py``, as ``make bench-scale`` runs it) end to end, tiny: 1 against 3
sources, one run each, and every figure and ratio comes out. No timing is asserted: the bench makes no claim
in a test.

A child process, as the benchmark always runs: its samples are fresh interpreters, and moto runs in a process
of its own.
"""

from __future__ import annotations

import math
from pathlib import Path

from tests.support.bench import run_bench


def test_scale_bench_reports_synth_and_verifier_figures_and_their_ratios(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    report, printed = run_bench(
        "scale",
        ["--small", "1", "--large", "3", "--synth-runs", "1", "--cold-runs", "1", "--warm-calls", "3"],
        out,
        timeout=300,
    )
    for size in ("1", "3"):
        # The root template, and a nested stack per source.
        assert report["synth"][size]["templates"] >= 1 + int(size)
        assert report["synth"][size]["root_resources"] > 0
        # The verifier read its table from SSM: a few sources fit one parameter, one GetParameters call.
        assert report["cold"][size]["parameters"] == report["cold"][size]["get_parameters_calls"] == 1
    assert all(math.isfinite(value) and value > 0 for value in report["ratios"].values())
    for heading in ("Synth as app.py", "Verifier cold start", "Warm, per request"):
        assert heading in printed
