"""``python -m webhook_kit redrive``: send a source's dead letters back to its queue (docs/cli.md).

The work is ``webhook_kit.redrive``; this module is the command: where the
queues and table are (a deployed stack's outputs, the local pipeline, or given),
progress on the console, and what an interrupted or failed run did.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from shared import contract
from webhook_kit import local as local_pipeline
from webhook_kit.cli_base import (
    DEFAULT_CONFIG,
    ConfigOption,
    SetOption,
    console,
    errors,
    fail,
    find_source,
    read_config,
)
from webhook_kit.deployment import source_outputs, stack_outputs

if TYPE_CHECKING:
    from webhook_kit.redrive import RedriveProgress

# --------------------------------------------------------------------------- redrive

# Receives long-poll this long, within the read timeout (a short poll may miss messages on AWS).
REDRIVE_LONG_POLL_SECONDS = 2
# Attempts per AWS call (the first and two retries): an unreachable endpoint fails the command in bounded time.
REDRIVE_ATTEMPTS = 3


def _aws_session(endpoint_url: str | None, region: str | None) -> Any:
    """The local pipeline's fixed credentials and region with an endpoint; else the usual credential chain."""
    import boto3

    if endpoint_url is None:
        return boto3.session.Session(region_name=region)
    local = local_pipeline.aws_environment(endpoint_url)
    return boto3.session.Session(
        aws_access_key_id=local["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=local["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=local["AWS_SESSION_TOKEN"],
        region_name=local_pipeline.REGION,
    )


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM (a stopped container, `kill`) as Ctrl-C, so the redrive releases what it holds."""
    import signal

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def redrive(
    source: Annotated[str, typer.Argument(help="The source whose dead-letter queue to redrive.")],
    delivery_ids: Annotated[
        list[str] | None,
        typer.Option("--delivery-id", help="Only this delivery (repeatable). Default: every message of SOURCE."),
    ] = None,
    reprocess: Annotated[
        bool,
        typer.Option(help="Also delete the deliveries' idempotency records, to run a delivery that completed before."),
    ] = False,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            help="The local pipeline's AWS endpoint (e.g. http://127.0.0.1:4566): queues and table by local names."
        ),
    ] = None,
    stack_name: Annotated[
        str | None, typer.Option(help="Deployed stack to read queue URLs and table from. Default: from the config.")
    ] = None,
    queue_url: Annotated[str | None, typer.Option(help="Source queue URL (skips the stack lookup).")] = None,
    dlq_url: Annotated[str | None, typer.Option(help="Dead-letter queue URL (skips the stack lookup).")] = None,
    table: Annotated[str | None, typer.Option(help="Idempotency table name (for --reprocess).")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (default: your AWS configuration).")] = None,
    connect_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a connection to AWS, per attempt.", min=0.1)
    ] = 5.0,
    read_timeout: Annotated[
        float,
        typer.Option(
            help=f"Seconds to wait for an answer from AWS, per attempt ({REDRIVE_ATTEMPTS} attempts). Receives "
            f"long-poll for {REDRIVE_LONG_POLL_SECONDS} s of it (short polls below {REDRIVE_LONG_POLL_SECONDS + 1} s).",
            min=0.1,
        ),
    ] = REDRIVE_LONG_POLL_SECONDS + 10.0,
    config: ConfigOption = DEFAULT_CONFIG,
    overrides: SetOption = None,
) -> None:
    """Move SOURCE's dead letters back to its queue, all or by delivery id, after fixing the cause."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    from webhook_kit.redrive import (
        UNREACHABLE_ERRORS,
        EmptyDeadLetterQueueError,
        MessagesInFlightError,
        RedriveError,
        in_flight_note,
    )
    from webhook_kit.redrive import redrive as run_redrive

    cfg = read_config(config, overrides)
    spec = find_source(cfg, source)
    wait_seconds = REDRIVE_LONG_POLL_SECONDS if read_timeout >= REDRIVE_LONG_POLL_SECONDS + 1 else 0
    timeouts = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": REDRIVE_ATTEMPTS, "mode": "standard"},
    )
    tally = _Tally()
    try:
        session = _aws_session(endpoint_url, region)
        sqs = session.client("sqs", endpoint_url=endpoint_url, config=timeouts)
        dynamodb = session.client("dynamodb", endpoint_url=endpoint_url, config=timeouts)
        s3 = session.client("s3", endpoint_url=endpoint_url, config=timeouts)
        if endpoint_url:
            queue_url = queue_url or sqs.get_queue_url(QueueName=local_pipeline.queue_name(spec.name))["QueueUrl"]
            dlq_url = (
                dlq_url or sqs.get_queue_url(QueueName=local_pipeline.dead_letter_queue_name(spec.name))["QueueUrl"]
            )
            table = table or local_pipeline.TABLE_NAME
        elif not queue_url or not dlq_url or (reprocess and not table):
            name = stack_name or cfg.stack_name
            cloudformation = session.client("cloudformation", config=timeouts)
            outputs = source_outputs(cloudformation, name, spec.name)
            queue_url = queue_url or outputs.get(contract.OUTPUT_QUEUE_URL)
            dlq_url = dlq_url or outputs.get(contract.OUTPUT_DEAD_LETTER_QUEUE_URL)
            table = table or stack_outputs(cloudformation, name).get("IdempotencyTableName")
            if not queue_url or not dlq_url:
                raise fail(f"stack {name} has no queue outputs for source {spec.name!r}; pass --queue-url/--dlq-url")
        assert queue_url is not None and dlq_url is not None
        depth = int(
            sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        with _sigterm_as_interrupt():
            result = _run_with_progress(
                run_redrive,
                depth,
                tally,
                source=spec.name,
                dlq_url=dlq_url,
                queue_url=queue_url,
                sqs_client=sqs,
                delivery_ids=delivery_ids or None,
                reprocess=reprocess,
                table_name=table,
                dynamodb_client=dynamodb if reprocess else None,
                s3_client=s3,
                idempotency_expiry_seconds=cfg.idempotency_expiry_seconds,
                wait_seconds=wait_seconds,
            )
    except KeyboardInterrupt as stop:
        errors.print(
            f"[yellow]interrupted[/] after {tally.describe()}; the messages it held are visible in the DLQ again. "
            "Run it again for the rest (with --reprocess, read docs/cli.md#redrive first)."
        )
        for note in getattr(stop, "__notes__", []):
            errors.print(f"[yellow]{escape(note)}[/]")
        raise typer.Exit(130) from None
    except NoCredentialsError:
        raise fail(
            "no AWS credentials found: configure them (aws configure, AWS_PROFILE, ...) or pass --endpoint-url "
            "for the local pipeline"
        ) from None
    except NoRegionError:
        raise fail("no AWS region configured: pass --region or set AWS_REGION") from None
    except EmptyDeadLetterQueueError:
        raise fail(f"the dead-letter queue of {spec.name!r} is empty: nothing to redrive") from None
    except MessagesInFlightError as error:
        raise fail(
            f"nothing visible in the dead-letter queue of {spec.name!r}, but "
            f"{in_flight_note(error.in_flight, error.retry_seconds)}"
        ) from None
    except RedriveError as error:
        raise fail(str(error)) from None
    except ClientError as error:
        raise fail(f"AWS refused: {error}{tally.so_far()}") from None
    except UNREACHABLE_ERRORS as error:
        where = getattr(error, "kwargs", {}).get("endpoint_url", "AWS")
        raise fail(
            f"no answer from {where} (connect timeout {connect_timeout:g} s, read timeout {read_timeout:g} s, "
            f"{REDRIVE_ATTEMPTS} attempts): {error}{tally.so_far()}"
            + "".join(f"; {note}" for note in getattr(error, "__notes__", []))
        ) from None
    except BotoCoreError as error:
        raise fail(f"cannot reach AWS: {error}{tally.so_far()}") from None

    summary = Table(title=f"redrive of {spec.name}", title_justify="left")
    for column in ("moved", "skipped", "failed", "not found"):
        summary.add_column(column, justify="right")
    summary.add_row(str(result.moved), str(result.skipped), str(result.failed), str(len(result.not_found)))
    if result.warned:
        errors.print(f"[yellow]{result.warned} moved message(s) are older than the idempotency window (see above)[/]")
    console.print(summary)
    in_flight = in_flight_note(result.in_flight, result.retry_seconds) if result.in_flight else ""
    if result.not_found:
        ids = escape(", ".join(sorted(result.not_found)))
        if in_flight:
            errors.print(f"[yellow]not seen:[/] {ids}, which may be hidden: {escape(in_flight)}")
        elif result.in_flight is None:
            errors.print(f"[yellow]not seen:[/] {ids} (the number of messages in flight could not be read)")
        else:
            errors.print(f"[yellow]not in the DLQ:[/] {ids}")
    elif in_flight and delivery_ids is None:
        errors.print(f"[yellow]not redriven:[/] {escape(in_flight)}")
    if result.failed or result.not_found or (in_flight and delivery_ids is None):
        raise typer.Exit(1)


class _Tally:
    """What a run did so far, for the message of an interrupted or failed run."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, action: str) -> None:
        self.counts[action] = self.counts.get(action, 0) + 1

    def describe(self) -> str:
        return ", ".join(f"{count} {action}" for action, count in self.counts.items()) or "nothing moved"

    def so_far(self) -> str:
        return f" (before that: {self.describe()})" if self.counts else ""


def _run_with_progress(run: Any, total: int, tally: _Tally, **kwargs: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("redriving", total=total or None)

        def report(event: RedriveProgress) -> None:
            tally.add(event.action)
            bar.advance(task)
            if event.action == "failed":
                bar.console.print(f"[red]failed[/] {escape(str(event.delivery_id))}: {escape(event.detail)}")
            elif event.warning:
                bar.console.print(f"[yellow]warning[/] {escape(str(event.delivery_id))}: {escape(event.warning)}")

        return run(progress=report, **kwargs)
