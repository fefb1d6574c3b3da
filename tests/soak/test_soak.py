"""The fault-injected soak (tests/soak/harness), run the way ``make soak`` runs it: ``python -m tests.soak.harness``.

It runs in a child process with a pipeline of its own on free ports. A child
process, because moto keeps its state per process: in an xdist worker that
also runs tests/e2e_local, two pipelines would share one idempotency table and
bucket. Its command line is derived from a :class:`SoakOptions` (``arguments``),
so the options are written once. The child writes its report as JSON (``--json``); the slow test reads
it and checks the invariants one by one, then that every injected fault
really happened (a soak in which no Lambda died proves nothing about deaths).

The fast tests below check the checker: ``SoakReport.problems`` names a broken
invariant and a fault that never happened, so the soak can fail.

Sizes: 1,000 deliveries from 16 senders over the sources of
``webhook-kit.soak.toml`` (one per scheme, two processor workers each, batches
of 5), 3.6 s visibility timeouts (6 s function timeouts scaled by 0.1), and a
5 s in-progress window, longer than the visibility timeout on purpose: the
delivery a Lambda died in comes back while its INPROGRESS record still holds
(retried), then takes over once it expired. The window stays below the 6 s
timeout, where the local runtime stops an invocation. Each function runs in
processes of its own, as in Lambda, so every source adds two processes to the
two cores; the configuration's comment says why its batches and timeouts are
sized so that invocations do not run into their timeout (about 95 s alone).
It is marked ``alone``: ``make test`` runs it after the parallel run, because
beside another xdist worker it took between 97 s and 283 s and slowed that
worker's tests as much (docs/soak.md).
``make soak`` runs 2,000 by default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.soak.harness.plan import SoakOptions
from tests.soak.harness.report import SoakReport
from tests.soak.harness.run import arguments, options_from, parser
from webhook_verify.schemes import SCHEMES

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("webhook-kit.soak.toml")
DELIVERIES = 1000
SOAK_TIMEOUT_SECONDS = 600


def _run_soak(report_path: Path) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    options = SoakOptions(
        deliveries=DELIVERIES,
        senders=16,
        visibility_scale=0.1,  # 6 x 6 s x 0.1: retries 3.6 s apart
        lambda_seconds=5.0,  # above the visibility timeout, below the sources' 6 s timeout_seconds
    )
    command = [
        sys.executable,
        "-m",
        "tests.soak.harness",
        "--config",
        str(CONFIG),
        *arguments(options),
        "--json",
        str(report_path),
    ]
    # The child talks only to the moto server it starts; no endpoint of this session leaks in.
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SOAK_TIMEOUT_SECONDS, check=False
    )
    print(completed.stdout)  # the summary table: shown with -s, and on failure
    print(completed.stderr, file=sys.stderr)
    assert report_path.exists(), f"the soak wrote no report (exit {completed.returncode}):\n{completed.stderr[-4000:]}"
    return json.loads(report_path.read_text()), completed


@pytest.mark.slow
@pytest.mark.alone
def test_every_accepted_webhook_takes_effect_exactly_once_under_injected_faults(tmp_path: Path) -> None:
    report, completed = _run_soak(tmp_path / "soak.json")

    # Given: every scheme, the asked-for volume, from concurrent senders.
    assert report["sources"] == report["schemes"] == len(SCHEMES)
    assert report["deliveries"] >= DELIVERIES
    assert report["redeliveries"] == round(DELIVERIES * 0.30)

    # Then: the ledger holds.
    assert report["undrained"] == [], "the queues did not drain"
    assert report["missing"] == [], "accepted webhooks without effect"
    assert report["doubled"] == [], "webhooks that took effect more than once"
    assert report["unexpected"] == [], "effects of never-accepted or permanently failed webhooks"
    assert report["gave_up"] == [], "senders gave up on webhooks"
    assert report["effects"] == report["accepted"] - report["permanent_accepted"]
    assert report["permanent_accepted"] == report["permanent_in_dlq"] == 5
    assert report["permanent_without_reason"] == []
    assert report["dlq_leftovers"] == [], "messages left in the DLQs besides the permanent failures"
    assert report["wrong_ids"] == 0
    assert report["statuses"].get("401") == report["forged"] > 0, "every forged webhook refused, nothing else"

    # And: every fault was really injected (a soak without them proves nothing).
    faults = Counter(report["faults"])
    assert report["injected_503"] > 0
    assert report["statuses"]["503"] == report["injected_503"] == report["retried_503"]
    assert faults["send_reply_lost"] > 0, "no SendMessage failed after SQS stored the message"
    assert faults["transient_raised"] > 0
    assert faults["died_mid_handler"] > 0 and faults["completed_before_death"] > 0
    assert faults["in_progress_left"] == faults["died_mid_handler"], "a death left no INPROGRESS record"
    assert report["in_progress_retries"] > 0, "no retry met the INPROGRESS record of a dead invocation"
    assert faults["permanent_raised"] >= 5
    assert report["redriven"] >= 3, "the exhausted deliveries were not redriven"
    assert report["duplicates_suppressed"] > 0

    # The soak's own verdict agrees, and says so in its exit status.
    assert report["problems"] == []
    assert completed.returncode == 0, completed.stderr[-4000:]


# --------------------------------------------------------------------------- the checker


def _clean_report() -> SoakReport:
    """The counts of a soak in which everything held and every fault happened."""
    return SoakReport(
        options=SoakOptions(deliveries=100, permanent=1, exhausting=1),
        sources=1,
        schemes=1,
        deliveries=100,
        originals=69,
        redeliveries=30,
        forged=1,
        requests=105,
        statuses=Counter({202: 99, 401: 1, 503: 5}),
        retried_503=5,
        faults={
            "send_refused": 4,
            "send_reply_lost": 1,
            "transient_raised": 7,
            "died_mid_handler": 2,
            "in_progress_left": 2,
            "completed_before_death": 3,
            "permanent_raised": 1,
        },
        stages={"duplicate": 30, "processed": 68},
        accepted=69,
        effects=68,
        permanent_accepted=1,
        permanent_in_dlq=1,
        dead_lettered_by_sqs=1,
        redriven=1,
    )


def test_a_clean_report_has_no_problems() -> None:
    assert _clean_report().problems() == []


def test_a_doubled_or_missing_effect_is_a_problem() -> None:
    report = _clean_report()
    report.doubled = [("s-std", "msg_1")]
    report.missing = [("s-std", "msg_2")]

    problems = report.problems()

    assert any("more than one effect" in problem and "msg_1" in problem for problem in problems)
    assert any("without effect" in problem and "msg_2" in problem for problem in problems)


def test_a_permanent_failure_missing_from_the_dlq_is_a_problem() -> None:
    report = _clean_report()
    report.permanent_in_dlq = 0

    assert any("in the DLQ with a reason" in problem for problem in report.problems())


def test_a_fault_that_never_happened_is_a_problem() -> None:
    report = _clean_report()
    report.faults = {**report.faults, "died_mid_handler": 0, "in_progress_left": 0, "completed_before_death": 0}

    assert any("no Lambda deaths mid-batch happened" in problem for problem in report.problems())


def test_a_fault_switched_off_is_not_expected() -> None:
    report = _clean_report()
    report.options = SoakOptions(deliveries=100, permanent=1, exhausting=1, crash_rate=0)
    report.faults = {**report.faults, "died_mid_handler": 0, "in_progress_left": 0, "completed_before_death": 0}

    assert report.problems() == []


def test_the_command_line_reads_back_the_options_it_was_derived_from() -> None:
    options = SoakOptions(deliveries=300, senders=4, crash_rate=0, visibility_scale=0.1, seed=7)

    assert options_from(parser().parse_args(arguments(options))) == options


def test_options_refuse_a_share_of_one_or_more() -> None:
    with pytest.raises(ValueError, match="crash_rate"):
        SoakOptions(crash_rate=1.5)
