"""What a soak found: the counts, the problems (broken invariants and faults that never happened), the table."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from tests.soak.harness.plan import Key, SoakOptions


@dataclass
class SoakReport:
    options: SoakOptions
    sources: int
    schemes: int
    seed: int = 0
    deliveries: int = 0
    originals: int = 0
    redeliveries: int = 0
    forged: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    retried_503: int = 0
    connection_errors: int = 0
    gave_up: list[Key] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    accepted: int = 0
    effects: int = 0
    missing: list[Key] = field(default_factory=list)
    doubled: list[Key] = field(default_factory=list)
    unexpected: list[Key] = field(default_factory=list)
    permanent_accepted: int = 0
    permanent_in_dlq: int = 0
    permanent_without_reason: list[Key] = field(default_factory=list)
    dead_lettered_by_sqs: int = 0
    redriven: int = 0
    dlq_leftovers: list[Key] = field(default_factory=list)
    wrong_ids: int = 0
    undrained: list[str] = field(default_factory=list)
    send_seconds: float = 0.0
    drain_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def duplicates_suppressed(self) -> int:
        return self.stages.get("duplicate", 0)

    def problems(self) -> list[str]:
        """What went wrong: broken invariants first, then faults that never happened (a run that proved nothing)."""
        found: list[str] = []

        def sample(keys: list[Key]) -> str:
            return ", ".join(f"{source}/{delivery_id}" for source, delivery_id in keys[:5])

        if self.undrained:
            found.append(f"queues not drained within {self.options.drain_timeout:.0f} s: {', '.join(self.undrained)}")
        if self.missing:
            found.append(f"{len(self.missing)} accepted webhooks without effect: {sample(self.missing)}")
        if self.doubled:
            found.append(f"{len(self.doubled)} webhooks with more than one effect: {sample(self.doubled)}")
        if self.unexpected:
            found.append(
                f"{len(self.unexpected)} effects of webhooks never accepted or failed permanently: "
                f"{sample(self.unexpected)}"
            )
        if self.gave_up:
            found.append(f"{len(self.gave_up)} webhooks never accepted after retries: {sample(self.gave_up)}")
        if self.permanent_in_dlq != self.permanent_accepted:
            found.append(
                f"{self.permanent_accepted} permanent failures accepted, "
                f"{self.permanent_in_dlq} in the DLQ with a reason"
            )
        if self.permanent_without_reason:
            found.append(f"permanent failures without failure_reason: {sample(self.permanent_without_reason)}")
        if self.dlq_leftovers:
            found.append(f"{len(self.dlq_leftovers)} other messages left in the DLQs: {sample(self.dlq_leftovers)}")
        if self.wrong_ids:
            found.append(f"{self.wrong_ids} answers of 202 named another delivery id")
        unexpected_statuses = {status: n for status, n in self.statuses.items() if status not in (202, 401, 503)}
        if unexpected_statuses:
            found.append(f"unexpected HTTP statuses: {unexpected_statuses}")
        if self.statuses.get(401, 0) != self.forged:
            found.append(f"{self.statuses.get(401, 0)} answers of 401 for {self.forged} forged webhooks")
        if self.stages.get("unhandled", 0) or self.stages.get("error", 0):
            found.append(f"pipeline reported unhandled/error: {self.stages}")
        expected_faults = {
            "redeliveries": (self.options.redelivery_share, self.redeliveries),
            "injected SendMessage failures": (self.options.send_failure_rate, self.injected_503),
            "503s retried by the senders": (self.options.send_failure_rate, self.retried_503),
            "transient handler failures": (self.options.transient_share, self.faults.get("transient_raised", 0)),
            "Lambda deaths mid-batch": (self.options.crash_rate, self.crashes),
            "records completed in a batch that then died": (
                self.options.crash_rate,
                self.faults.get("completed_before_death", 0),
            ),
            "permanent failures": (self.options.permanent, self.faults.get("permanent_raised", 0)),
            "deliveries dead-lettered by SQS and redriven": (self.options.exhausting, self.redriven),
            "forged webhooks": (self.options.forged_share, self.forged),
            "duplicates suppressed": (self.options.redelivery_share, self.duplicates_suppressed),
        }
        for name, (asked, happened) in expected_faults.items():
            if asked and not happened:
                found.append(f"no {name} happened: the run did not exercise them (more deliveries?)")
        died = self.faults.get("died_mid_handler", 0)
        if died and self.faults.get("in_progress_left", 0) != died:
            found.append(
                f"{died} deaths inside a handler but {self.faults.get('in_progress_left', 0)} INPROGRESS records left"
            )
        return found

    @property
    def injected_503(self) -> int:
        return self.faults.get("send_refused", 0) + self.faults.get("send_reply_lost", 0)

    @property
    def crashes(self) -> int:
        return self.faults.get("died_mid_handler", 0) + self.faults.get("died_before_answer", 0)

    @property
    def ok(self) -> bool:
        return not self.problems()

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain JSON values (``--json``; what tests/soak reads)."""

        def keys(values: list[Key]) -> list[str]:
            return [f"{source}/{delivery_id}" for source, delivery_id in values]

        return {
            "options": asdict(self.options),
            "seed": self.seed,
            "sources": self.sources,
            "schemes": self.schemes,
            "deliveries": self.deliveries,
            "originals": self.originals,
            "redeliveries": self.redeliveries,
            "forged": self.forged,
            "requests": self.requests,
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "injected_503": self.injected_503,
            "retried_503": self.retried_503,
            "connection_errors": self.connection_errors,
            "gave_up": keys(self.gave_up),
            "accepted": self.accepted,
            "faults": dict(sorted(self.faults.items())),
            "crashes": self.crashes,
            "stages": dict(sorted(self.stages.items())),
            "in_progress_retries": self.stages.get("in_progress", 0),
            "effects": self.effects,
            "duplicates_suppressed": self.duplicates_suppressed,
            "missing": keys(self.missing),
            "doubled": keys(self.doubled),
            "unexpected": keys(self.unexpected),
            "permanent_accepted": self.permanent_accepted,
            "permanent_in_dlq": self.permanent_in_dlq,
            "permanent_without_reason": keys(self.permanent_without_reason),
            "dead_lettered_by_sqs": self.dead_lettered_by_sqs,
            "redriven": self.redriven,
            "dlq_leftovers": keys(self.dlq_leftovers),
            "wrong_ids": self.wrong_ids,
            "undrained": self.undrained,
            "send_seconds": round(self.send_seconds, 2),
            "drain_seconds": round(self.drain_seconds, 2),
            "total_seconds": round(self.total_seconds, 2),
        }


def summary_table(report: SoakReport) -> Any:
    from rich.table import Table

    faults = report.faults
    table = Table(title=f"webhook-kit soak (seed {report.seed})", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("", style="bright_black")
    rows: list[tuple[str, Any, str]] = [
        ("sources / schemes", f"{report.sources} / {report.schemes}", ""),
        ("deliveries sent", report.deliveries, f"{report.options.senders} concurrent senders"),
        ("  redeliveries", report.redeliveries, "same delivery id and body, signed again"),
        ("  forged (401)", report.forged, "never accepted"),
        ("HTTP requests", report.requests, ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses.items()))),
        (
            "503s injected",
            report.injected_503,
            f"{faults.get('send_refused', 0)} refused, {faults.get('send_reply_lost', 0)} after SQS stored it",
        ),
        ("503s retried by senders", report.retried_503, "with backoff"),
        ("webhooks accepted (202)", report.accepted, "distinct delivery ids"),
        ("transient failures", faults.get("transient_raised", 0), "first run raised, retried"),
        (
            "Lambda deaths mid-batch",
            report.crashes,
            f"{faults.get('died_mid_handler', 0)} in a handler (INPROGRESS left: {faults.get('in_progress_left', 0)}),"
            f" {faults.get('died_before_answer', 0)} before answering;"
            f" {faults.get('completed_before_death', 0)} records had completed",
        ),
        ("in-progress retries", report.stages.get("in_progress", 0), "came back before the dead run's window ended"),
        ("permanent failures", report.permanent_accepted, f"{report.permanent_in_dlq} in the DLQ with failure_reason"),
        (
            "retried too often",
            report.dead_lettered_by_sqs,
            f"moved to the DLQ by SQS; {report.redriven} redriven",
        ),
        ("effects", report.effects, "handler runs that returned"),
        ("duplicates suppressed", report.duplicates_suppressed, "skipped by idempotency"),
        ("missing", len(report.missing), "accepted, no effect"),
        ("doubled", len(report.doubled), "more than one effect"),
        ("unexpected", len(report.unexpected), "effect of a never-accepted or permanent webhook"),
        (
            "duration",
            f"{report.total_seconds:.1f} s",
            f"sending {report.send_seconds:.1f} s, draining and redriving {report.drain_seconds:.1f} s",
        ),
    ]
    for what, count, note in rows:
        table.add_row(what, str(count), note)
    return table
