"""Run the soak: a pipeline of its own, the senders, the drains and the redrive, then the ledger check.

``make soak`` and ``tests/soak/test_soak.py`` run it as ``python -m tests.soak.harness``; its options are
the fields of :class:`~tests.soak.harness.plan.SoakOptions`, and nothing else lists them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import logging
import os
import random
import sys
import time
import typing
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, WebhookKitConfig, load_config
from tests.soak.harness.faults import FlakySqsAdapters, ProcessorFaults, handle_everything, seeded_random
from tests.soak.harness.ledger import Ledger, Tally, soak_manager
from tests.soak.harness.plan import PERMANENT, Key, SoakOptions, plan, shares
from tests.soak.harness.report import SoakReport, summary_table
from tests.soak.harness.senders import Senders
from tests.support.queues import dead_letters, queue_depth
from webhook_kit.local import TABLE_NAME, LocalPipeline, LocalPipelineError, PipelineEvent, local_client

ROOT = Path(__file__).resolve().parents[3]


class Stages:
    """The pipeline's reporter: counts what the processors did."""

    def __init__(self) -> None:
        self.tally = Tally()

    def __call__(self, event: PipelineEvent) -> None:
        self.tally.add(event.stage)
        if event.stage in ("retried", "dead-lettered") and "IdempotencyAlreadyInProgressError" in event.detail:
            self.tally.add("in_progress")


def drain(sqs: Any, pipeline: LocalPipeline, deadline: float) -> list[str]:
    """Wait until every source queue is empty (twice in a row); return the ones that are not."""
    empty_in_a_row = 0
    depths: dict[str, int] = {}
    while time.monotonic() < deadline:
        depths = {name: sum(queue_depth(sqs, source.queue_url)) for name, source in pipeline.sources.items()}
        empty_in_a_row = empty_in_a_row + 1 if not any(depths.values()) else 0
        if empty_in_a_row >= 2:
            return []
        time.sleep(0.5)
    return [f"{name} ({depth})" for name, depth in depths.items() if depth]


def run_soak(
    config: WebhookKitConfig,
    options: SoakOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    aws_port: int = 0,
    phase: Callable[[str], None] | None = None,
) -> SoakReport:
    """Run the soak on a pipeline of its own (free ports by default) and return what happened."""
    say = phase or (lambda _message: None)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    rng = seeded_random(seed)
    report = SoakReport(
        options=options,
        sources=len(config.sources),
        schemes=len({source.scheme for source in config.sources}),
        seed=seed,
    )
    stages = Stages()
    with soak_manager() as shared:
        tally = shared.Tally()  # type: ignore[attr-defined]
        book = shared.Book()  # type: ignore[attr-defined]
        ledger = Ledger(book, tally)
        pipeline = LocalPipeline(
            config,
            host=host,
            port=port,
            aws_port=aws_port,
            visibility_scale=options.visibility_scale,
            reporter=stages,
            verifier_adapters=functools.partial(
                FlakySqsAdapters, rate=options.send_failure_rate, seed=rng.random(), tally=tally
            ),
            processor_setup=[functools.partial(handle_everything, ledger)],
            processor_hook=ProcessorFaults(
                ledger,
                crash_rate=options.crash_rate,
                lambda_seconds=options.lambda_seconds,
                seed=rng.random(),
                table_name=TABLE_NAME,
            ),
        )
        return _run(pipeline, ledger, tally, stages, report, rng, say)


def _run(
    pipeline: LocalPipeline,
    ledger: Ledger,
    tally: Any,
    stages: Stages,
    report: SoakReport,
    rng: random.Random,
    say: Callable[[str], None],
) -> SoakReport:
    """The soak proper, on a pipeline whose workers count into ``tally`` and ``ledger``."""
    from webhook_kit.redrive import EmptyDeadLetterQueueError, redrive

    options, counts, seed = report.options, shares(report.options), report.seed
    started = time.monotonic()
    with pipeline:
        webhooks, jobs = plan(pipeline, options, rng)
        ledger.book.plan({webhook.key: webhook.fault for webhook in webhooks if not webhook.forged})
        report.originals, report.redeliveries, report.forged = counts.originals, counts.redeliveries, counts.forged
        report.deliveries = len(jobs)
        say(
            f"seed {seed}: sending {len(jobs)} deliveries to {report.sources} sources "
            f"with {options.senders} senders ({pipeline.url})"
        )
        senders = Senders(pipeline, report, seeded_random(rng.random()))
        try:
            with ThreadPoolExecutor(max_workers=options.senders, thread_name_prefix="soak-sender") as pool:
                for _ in pool.map(senders.send, jobs):
                    pass
        finally:
            senders.close()
        report.send_seconds = time.monotonic() - started
        deadline = time.monotonic() + options.drain_timeout
        sqs = local_client("sqs", pipeline.aws_endpoint)
        say(f"sent in {report.send_seconds:.1f} s; waiting for the queues to drain")
        report.undrained = drain(sqs, pipeline, deadline)

        planned = {webhook.key: webhook for webhook in webhooks}
        permanent = {key for key, webhook in planned.items() if webhook.fault == PERMANENT}
        # Before any redrive: the permanent failures are in the DLQ with their reason.
        to_redrive: dict[str, set[str]] = {}
        for name, source in pipeline.sources.items():
            for letter in dead_letters(sqs, source.dead_letter_queue_url):
                if letter.failure_type is None:
                    to_redrive.setdefault(name, set()).add(letter.key[1])
                    report.dead_lettered_by_sqs += 1
        if to_redrive and not report.undrained:
            ledger.fix()  # "deploy the fix", then redrive what ran out of retries
            count = sum(len(ids) for ids in to_redrive.values())
            say(f"redriving {count} deliveries that ran out of retries (the permanent failures stay)")
            for name, ids in to_redrive.items():
                source = pipeline.sources[name]
                with contextlib.suppress(EmptyDeadLetterQueueError):
                    result = redrive(
                        source=name,
                        dlq_url=source.dead_letter_queue_url,
                        queue_url=source.queue_url,
                        sqs_client=sqs,
                        delivery_ids=ids,
                        wait_seconds=0,
                    )
                    report.redriven += result.moved
            report.undrained = drain(sqs, pipeline, deadline)

        # The ledger check.
        accepted = senders.accepted
        report.accepted = len(accepted)
        effects = dict(ledger.effects)
        report.effects = sum(effects.values())
        report.permanent_accepted = len(permanent & accepted)
        should_have_run = accepted - permanent
        report.missing = sorted(key for key in should_have_run if effects.get(key, 0) == 0)
        report.doubled = sorted(key for key, count in effects.items() if count > 1)
        report.unexpected = sorted(key for key in effects if key not in should_have_run)
        with_reason: set[Key] = set()
        for source in pipeline.sources.values():
            for letter in dead_letters(sqs, source.dead_letter_queue_url):
                if letter.key in permanent and letter.failure_type == "PermanentError" and letter.failure_reason:
                    with_reason.add(letter.key)
                elif letter.key in permanent:
                    report.permanent_without_reason.append(letter.key)
                else:
                    report.dlq_leftovers.append(letter.key)
        report.permanent_in_dlq = len(with_reason & accepted)
        report.faults = tally.snapshot()
        report.stages = stages.tally.snapshot()
    report.drain_seconds = time.monotonic() - started - report.send_seconds
    report.total_seconds = time.monotonic() - started
    return report


# --------------------------------------------------------------------------- the command line


def parser() -> argparse.ArgumentParser:
    """One ``--flag`` per :class:`SoakOptions` field, with its default and help, plus where to run and report."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak.harness",
        description="Soak the local pipeline with concurrent deliveries and injected faults, then check every effect.",
    )
    hints = typing.get_type_hints(SoakOptions)
    for option in dataclasses.fields(SoakOptions):
        kind = int if hints[option.name] == int | None else hints[option.name]
        parser.add_argument(
            "--" + option.name.replace("_", "-"), type=kind, default=option.default, help=option.metadata["help"]
        )
    parser.add_argument("--config", "-f", type=Path, default=ROOT / "webhook-kit.toml", help="The kit's configuration.")
    parser.add_argument(
        "--set", "-c", dest="overrides", action="append", default=[], help="Override a setting: key=value. Repeatable."
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the report as JSON to this file.")
    return parser


def options_from(args: argparse.Namespace) -> SoakOptions:
    """The :class:`SoakOptions` a parsed command line asks for (``ValueError`` when they do not hold)."""
    return SoakOptions(**{option.name: getattr(args, option.name) for option in dataclasses.fields(SoakOptions)})


def arguments(options: SoakOptions) -> list[str]:
    """The command line that runs ``options`` (only what differs from the defaults)."""
    argv: list[str] = []
    for option in dataclasses.fields(SoakOptions):
        value = getattr(options, option.name)
        if value != option.default:
            argv += ["--" + option.name.replace("_", "-"), str(value)]
    return argv


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 1 when an accepted webhook took effect zero or several times, or a fault never happened."""
    from rich.console import Console
    from rich.markup import escape

    args = parser().parse_args(argv)
    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        overrides: dict[str, str] = {}
        for item in args.overrides:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--set {item!r}: expected key=value")
            overrides[key.strip()] = value.strip()
        config = load_config(args.config, overrides)
        options = options_from(args)
    except (ConfigError, ValueError) as error:
        errors.print(f"[bold red]error:[/] {escape(str(error))}")
        return 1
    # Before the Lambda modules are imported: Powertools reads its log level at import.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    warnings.filterwarnings("ignore", message="Dimension .* has already been added")
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        # Powertools prints the functions' EMF metric lines on stdout; thousands of them would bury the summary.
        with contextlib.redirect_stdout(_Discard()):
            report = run_soak(config, options, phase=lambda message: console.print(escape(message)))
    except LocalPipelineError as error:
        errors.print(f"[bold red]error:[/] {escape(str(error))}")
        return 1
    console.print(summary_table(report))
    problems = report.problems()
    if args.json is not None:
        args.json.write_text(json.dumps({**report.as_dict(), "problems": problems}, indent=2) + "\n")
    for problem in problems:
        errors.print(f"[bold red]problem:[/] {escape(problem)}")
    if problems:
        return 1
    console.print("[green]every accepted webhook took effect exactly once[/]")
    return 0
