"""``python -m webhook_kit``: run the pattern locally, send signed webhooks, redrive dead letters.

Reads the same ``webhook-kit.toml`` as ``cdk synth`` (``stacks.config``, which
does not import aws_cdk), so the tools and the stack never disagree about the
sources.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

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
from webhook_kit.devsecrets import capture_url, dev_secret
from webhook_kit.ipsets_command import ipsets
from webhook_kit.local.state import RunningPipeline, read_state, remove_state, write_state
from webhook_kit.outputs_command import outputs
from webhook_kit.providers_command import providers
from webhook_kit.redrive_command import redrive

app = typer.Typer(
    help="webhook-kit operator tools: a local pipeline, signed test webhooks, DLQ redrive, deployed outputs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(redrive)
app.command()(outputs)
app.command()(providers)
app.add_typer(ipsets, name="ipsets")

# --------------------------------------------------------------------------- local

_STYLES = {
    "accepted": ("→", "cyan"),
    "handshake": ("↔", "cyan"),
    "processed": ("✓", "green"),
    "duplicate": ("=", "yellow"),
    "unhandled": ("·", "bright_black"),
    "retried": ("↻", "yellow"),
    "dead-lettered": ("✗", "bold red"),
    "rejected": ("⊘", "red"),
    "unavailable": ("!", "bold red"),
    "error": ("!", "bold red"),
    "reloaded": ("⟳", "magenta"),
}


def print_event(event: local_pipeline.PipelineEvent) -> None:
    mark, style = _STYLES.get(event.stage, ("?", "white"))
    clock = datetime.fromtimestamp(event.at).strftime("%H:%M:%S")
    what = f"{event.status} {event.stage}" if event.status is not None else event.stage
    parts = [f"[bright_black]{clock}[/]", f"{escape(event.source):<14}", f"[{style}]{mark} {what:<16}[/]"]
    if event.delivery_id:
        parts.append(f"id={escape(event.delivery_id)}")
    if event.event_type:
        parts.append(f"[bright_black]{escape(event.event_type)}[/]")
    if event.detail:
        parts.append(f"[bright_black]{escape(event.detail)}[/]")
    console.print("  ".join(parts), soft_wrap=True)


def this_python() -> str:
    """The running interpreter as a command the user can type here: relative to the cwd when under it."""
    relative = os.path.relpath(sys.executable)
    return relative if not relative.startswith("..") else sys.executable


def send_hint(pipeline: local_pipeline.LocalPipeline, source: str) -> str:
    """A ``send`` command that reaches this pipeline as printed (this interpreter, this port)."""
    command = f"{this_python()} -m webhook_kit send {source}"
    if pipeline.host != local_pipeline.DEFAULT_HOST:
        return f"{command} --url {pipeline.webhook_url(source)}"
    if pipeline.port != local_pipeline.DEFAULT_PORT:
        return f"{command} --port {pipeline.port}"
    return command


def _allowed_from(source: local_pipeline.LocalSource, allow_loopback: bool) -> str:
    allowed = [str(network) for network in source.allowed_networks]
    allowed += [f"the {preset} preset's IP sets" for preset in source.allowed_presets]
    if source.allowed_presets and allow_loopback:
        allowed.append("this machine (--no-allow-loopback refuses it)")
    return ", ".join(allowed) or "any address"


def _print_banner(pipeline: local_pipeline.LocalPipeline) -> None:
    console.print("[bold]webhook-kit local pipeline[/]")
    for source in pipeline.sources.values():
        allowed = _allowed_from(source, pipeline.allow_loopback)
        handshake = [method for method in source.methods if method != "POST"]
        # A handshake's token (Meta's verify_token) is what the provider's dashboard asks for.
        extra = (
            f"      {' '.join(handshake)} answers the provider's handshake (docs/handshakes.md)\n" if handshake else ""
        ) + "".join(f"      dev {name}: {escape(value)}\n" for name, value in source.tokens.items())
        armed = capture_url(pipeline.webhook_url(source.name), source.tokens)
        if armed:
            # Asana's and Notion's handshakes hand over a new secret, stored once from this URL.
            extra += f"      armed for one secret capture: give the provider {escape(armed)}\n"
        console.print(
            f"  [bold]{escape(source.name)}[/] ({source.scheme})  POST {pipeline.webhook_url(source.name)}\n"
            f"      dev secret: {escape(source.secret)}\n{extra}"
            f"      visibility timeout {source.visibility_timeout} s, DLQ after {source.max_receive_count} receives,"
            f" allowed from {allowed}",
            soft_wrap=True,
        )
    console.print("  (dev secrets are derived from the source name: for local development only)")
    console.print(
        f"AWS APIs (moto, in memory: everything is lost on exit): [bold]{pipeline.aws_endpoint}[/]\n"
        f"Try: [bold]{escape(send_hint(pipeline, next(iter(pipeline.sources))))}[/]\n"
        f"Redrive: [bold]{escape(this_python())} -m webhook_kit redrive SOURCE"
        f" --endpoint-url {pipeline.aws_endpoint}[/]\n"
        + ("Handlers reload when lambdas/ changes (queues and dead letters are kept). " if pipeline.reloads else "")
        + "Ctrl-C stops.\n"
    )


@app.command()
def local(
    config: ConfigOption = DEFAULT_CONFIG,
    overrides: SetOption = None,
    host: Annotated[str, typer.Option(help="Interface for both servers.")] = local_pipeline.DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port of the webhook endpoint.")] = local_pipeline.DEFAULT_PORT,
    aws_port: Annotated[
        int, typer.Option(help="Port of the local AWS APIs (moto); use it as --endpoint-url.")
    ] = local_pipeline.DEFAULT_AWS_PORT,
    visibility_scale: Annotated[
        float,
        typer.Option(
            help="Multiply each queue's visibility timeout by this (at least 1 s), so retries come "
            "seconds apart instead of minutes. 1 keeps the configured timeouts."
        ),
    ] = local_pipeline.DEFAULT_VISIBILITY_SCALE,
    lambda_logs: Annotated[
        bool, typer.Option("--lambda-logs", help="Also print the functions' own JSON logs (Powertools).")
    ] = False,
    reload: Annotated[
        bool,
        typer.Option(
            help="Restart the functions' workers when their code in lambdas/ changes, keeping the queues, "
            "dead letters and idempotency records."
        ),
    ] = True,
    allow_loopback: Annotated[
        bool,
        typer.Option(
            help="Let this machine (127.0.0.1, ::1) through a source's allow-list presets, which no provider's "
            "list holds, so `send` reaches it. --no-allow-loopback applies the presets' IP sets as the WAF does."
        ),
    ] = True,
) -> None:
    """Run the whole pattern on this machine: moto for AWS, the real verifier and processors.

    Serves POST http://HOST:PORT/webhooks/{source}. State is in memory and lost on exit.
    """
    cfg = read_config(config, overrides)
    # The functions' workers take their log level from here (LocalPipeline's default).
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO" if lambda_logs else "CRITICAL")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    pipeline = local_pipeline.LocalPipeline(
        cfg,
        host=host,
        port=port,
        aws_port=aws_port,
        visibility_scale=visibility_scale,
        reporter=print_event,
        reload=reload,
        allow_loopback=allow_loopback,
    )
    try:
        pipeline.start()
    except local_pipeline.LocalPipelineError as error:
        raise fail(str(error)) from None
    # Anything else in this process that creates a boto3 client talks to moto too.
    os.environ.update(local_pipeline.aws_environment(pipeline.aws_endpoint))
    _print_banner(pipeline)
    stopped = threading.Event()
    # `timeout`, `kill` and process managers stop it with SIGTERM: the same orderly stop as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # `send` finds this pipeline (its port) here while it runs.
        write_state(RunningPipeline(url=pipeline.url, aws_endpoint=pipeline.aws_endpoint, pid=os.getpid()))
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        console.print("\nstopping: finishing the batches in hand…")
    finally:
        remove_state()
        pipeline.stop()
    console.print("stopped; the local state is gone.")


# --------------------------------------------------------------------------- send


@app.command()
def send(
    source: Annotated[str, typer.Argument(help="The source's name in the configuration.")],
    body: Annotated[
        Path | None,
        typer.Option(
            help="Send this file instead of samples/<scheme>.json (placeholders such as {{delivery_id}} are filled).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="Where to POST. Default: SOURCE's URL on the local pipeline running from this directory, "
            "else on port 8080."
        ),
    ] = None,
    port: Annotated[int | None, typer.Option(help="POST to the local pipeline on this port (`local --port`).")] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            help="Signing secret. Default: the local pipeline's development secret for SOURCE.",
            envvar="WEBHOOK_KIT_SECRET",
        ),
    ] = None,
    delivery_id: Annotated[
        str | None, typer.Option(help="Use this delivery id (send twice to see the duplicate skipped).")
    ] = None,
    event_type: Annotated[
        str | None, typer.Option(help="Event type for schemes that send it in a header (GitHub, Shopify, generic).")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    overrides: SetOption = None,
) -> None:
    """Sign a sample webhook with SOURCE's scheme and secret, and POST it."""
    import requests

    from webhook_kit import send as sender

    cfg = read_config(config, overrides)
    spec = find_source(cfg, source)
    target = url or local_webhook_url(source, port)
    if secret is None:
        secret = dev_secret(spec.name, spec.scheme)
        if url is not None and not url.startswith(("http://127.0.0.1", "http://localhost")):
            errors.print(
                "[yellow]warning:[/] signing with the local development secret; pass --secret for a deployment"
            )
    try:
        webhook = sender.build(
            spec, secret=secret, url=target, body_file=body, delivery_id=delivery_id, event_type=event_type
        )
    except (ValueError, FileNotFoundError) as error:
        raise fail(f"cannot build the webhook: {error}") from None
    try:
        response = sender.post(webhook)
    except requests.ConnectionError:
        raise fail(
            f"nothing answers at {target}: is `python -m webhook_kit local` running? (on another port: pass --port)"
        ) from None
    except requests.RequestException as error:
        raise fail(f"POST {target} failed: {error}") from None
    try:
        answered_id = response.json().get("id")
    except ValueError:
        answered_id = None
    style = "green" if response.status_code < 300 else "red"
    console.print(
        f"POST {escape(target)} -> [{style}]{response.status_code}[/] {escape(response.text.strip())}\n"
        f"delivery id: {escape(str(answered_id or webhook.delivery_id))}"
    )
    if response.status_code >= 300:
        raise typer.Exit(1)


def local_webhook_url(source: str, port: int | None) -> str:
    """SOURCE's URL on the local pipeline: on ``port``, else the one running from here, else the default port."""
    base = f"http://{local_pipeline.DEFAULT_HOST}:{port or local_pipeline.DEFAULT_PORT}"
    if port is None and (running := read_state()) is not None:
        base = running.url
    return f"{base}/{contract.WEBHOOK_PATH_PREFIX}/{source}"


def main() -> None:
    app()
