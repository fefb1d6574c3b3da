"""``python -m webhook_kit outputs``: each source's webhook URL, secret and queues in a deployed stack (docs/cli.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from shared import contract
from webhook_kit.cli_base import (
    DEFAULT_CONFIG,
    ConfigOption,
    RegionOption,
    SetOption,
    StackNameOption,
    console,
    fail,
    find_source,
    read_config,
)

_SHOWN = (
    contract.OUTPUT_WEBHOOK_URL,
    contract.OUTPUT_SECRET_ARN,
    contract.OUTPUT_QUEUE_URL,
    contract.OUTPUT_DEAD_LETTER_QUEUE_URL,
)


def outputs(
    source: Annotated[str | None, typer.Argument(help="One source; all of the configuration's when left out.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    stack_name: StackNameOption = None,
    region: RegionOption = None,
) -> None:
    """Print each source's outputs: the URL to give the provider, its secret, its queue and dead-letter queue."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    from webhook_kit.deployment import source_outputs

    cfg = read_config(config, set_)
    names = [find_source(cfg, source).name] if source else [s.name for s in cfg.sources]
    name = stack_name or cfg.stack_name
    found: dict[str, dict[str, str]] = {}
    try:
        cloudformation = boto3.session.Session(region_name=region).client("cloudformation")
        for source_name in names:
            found[source_name] = source_outputs(cloudformation, name, source_name)
    except NoCredentialsError:
        raise fail("no AWS credentials: configure a profile or set AWS_PROFILE") from None
    except NoRegionError:
        raise fail("no AWS Region: pass --region or set AWS_REGION") from None
    except ClientError as error:
        raise fail(f"stack {name}: {error.response['Error'].get('Message', error)}") from None
    except BotoCoreError as error:
        raise fail(f"stack {name}: {error}") from None
    # One line an output, never wrapped: a URL or ARN is copied whole.
    for source_name, values in found.items():
        for key in _SHOWN:
            console.print(f"{escape(source_name)}\t{key}\t{escape(values.get(key, '-'))}")
