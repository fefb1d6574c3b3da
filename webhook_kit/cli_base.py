"""What every command of ``python -m webhook_kit`` shares: its consoles, the configuration options and reading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from stacks.config import ConfigError, SourceConfig, WebhookKitConfig, load_config

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

DEFAULT_CONFIG = Path("webhook-kit.toml")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-f", help="The kit's configuration file (the one `cdk synth` reads).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-c",
        help="Override a setting for this run, as `cdk -c`: key=value or sources.<name>.<key>=value. Repeatable.",
    ),
]

# Where a deployed stack is (the commands that read one: outputs, ipsets diff).
StackNameOption = Annotated[
    str | None,
    typer.Option("--stack-name", help="The deployed stack (default: stack_name from the configuration)."),
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS Region (default: your AWS configuration's).")]


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def read_config(path: Path, overrides: list[str] | None) -> WebhookKitConfig:
    parsed: dict[str, str] = {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--set {item!r}: expected key=value")
        parsed[key.strip()] = value.strip()
    try:
        return load_config(path, parsed)
    except ConfigError as error:
        raise fail(str(error)) from None


def find_source(config: WebhookKitConfig, name: str) -> SourceConfig:
    try:
        return config.source(name)
    except KeyError:
        known = ", ".join(source.name for source in config.sources)
        raise fail(f"unknown source {name!r}; the configuration declares: {known}") from None
