"""``python -m webhook_kit ipsets``: the allow-list presets' IP sets and snapshots against what the providers publish.

``diff`` compares a deployment's (or the local pipeline's) WAF IP sets with
each provider's list now; ``refresh`` compares the snapshots shipped with the
kit with it and, with ``--write``, replaces them (for a release). A feed is
read through the kit's one bounded GET (``webhook_verify.https_get``: https, the
preset's own hosts, no redirect, ``MAX_FEED_BYTES``, ``FEED_SECONDS``) and
parsed by the preset as strictly as the allow-list sync parses it, so a list
either command shows is one the sync would apply. docs/cli.md, "ipsets".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from shared import contract
from shared.allowlists import (
    MAX_FEED_BYTES,
    PRESETS,
    FeedRejected,
    Preset,
    by_version,
    difference,
    get_preset,
    load_snapshot,
    snapshot_document,
    snapshot_path,
    sort_ranges,
)
from webhook_kit.cli_base import (
    DEFAULT_CONFIG,
    ConfigOption,
    RegionOption,
    SetOption,
    StackNameOption,
    console,
    errors,
    fail,
    read_config,
)
from webhook_verify.https_get import FetchError, build_opener, https_get

# A provider's list answers in a second; a slow one gets a few more, never an operator's afternoon.
FEED_SECONDS = 20.0
# Exit codes: every list read and equal, some differ, some list could not be read (or the arguments are wrong).
EQUAL, DIFFERENT, UNREADABLE = 0, 1, 2
SCOPE = "REGIONAL"
IP_VERSIONS = (4, 6)

ipsets = typer.Typer(
    help="The allow-list presets' IP sets and shipped snapshots against the providers' published lists.",
    no_args_is_help=True,
)

FeedOption = Annotated[
    list[str] | None,
    typer.Option(
        "--feed",
        help="Read PRESET's list from this https URL instead of its provider's (a mirror, a test server): "
        "PRESET=URL. Repeatable.",
    ),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        help="Trust this PEM certificate (bundle), not the system's roots, for the feeds: a test server's.",
        exists=True,
    ),
]


class Unreadable(Exception):
    """A list that could not be read: the message names what and why."""


@dataclass(frozen=True)
class Feed:
    """Where a preset's list is read from: its provider's URL, or an operator's ``--feed``."""

    preset: Preset
    url: str

    @property
    def hosts(self) -> tuple[re.Pattern[str], ...]:
        if self.url == self.preset.feed:
            return tuple(re.compile(re.escape(host)) for host in self.preset.hosts)
        return (re.compile(re.escape(urlsplit(self.url).netloc)),)


def feeds(presets: Iterable[str], overrides: Sequence[str] | None) -> dict[str, Feed]:
    """Each of ``presets`` with its URL, ``--feed PRESET=URL`` applied; ``typer.Exit(2)`` naming a bad one."""
    chosen = {name: Feed(get_preset(name), get_preset(name).feed) for name in presets}
    for item in overrides or []:
        name, sep, url = item.partition("=")
        if not sep or not url:
            raise fail(f"--feed {item!r}: expected PRESET=URL", UNREADABLE)
        if name not in chosen:
            known = ", ".join(chosen) or "none"
            raise fail(f"--feed {item!r}: {name!r} is not a preset this command reads (it reads: {known})", UNREADABLE)
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme != "https" or not parts.hostname:
            raise fail(
                f"--feed {item!r}: the URL must be https://host/...: a list that decides who reaches your "
                "endpoint is never read in clear text",
                UNREADABLE,
            )
        chosen[name] = Feed(chosen[name].preset, url)
    return chosen


def published(feed: Feed, *, opener: Any = None) -> tuple[str, ...]:
    """The list ``feed`` publishes now, validated as the sync validates it; ``Unreadable`` naming why not."""
    try:
        body = https_get(
            feed.url, allowed_hosts=feed.hosts, max_bytes=MAX_FEED_BYTES, total_seconds=FEED_SECONDS, opener=opener
        )
        return feed.preset.parse(body)
    except FetchError as error:
        raise Unreadable(f"{feed.preset.name}: cannot read {feed.url}: {error}") from None
    except FeedRejected as error:
        raise Unreadable(f"{feed.preset.name}: {feed.url} is refused ({error.reason}): {error}") from None


def feed_opener(ca_file: Path | None) -> Any:
    """The opener for the feeds: the system's roots, and ``ca_file`` when given."""
    if ca_file is None:
        return None
    import ssl

    return build_opener(ssl.create_default_context(cafile=str(ca_file)))


def deployed(wafv2: Any, stack_name: str, preset: str) -> dict[int, tuple[str, ...]]:
    """The addresses of ``preset``'s IP sets in the deployment ``stack_name``, by IP version (found ones only)."""
    names = {contract.preset_ip_set_name(stack_name, preset, version): version for version in IP_VERSIONS}
    found: dict[int, tuple[str, ...]] = {}
    marker: str | None = None
    while True:
        page = wafv2.list_ip_sets(Scope=SCOPE, Limit=100, **({"NextMarker": marker} if marker else {}))
        for summary in page.get("IPSets", []):
            if summary["Name"] in names:
                ip_set = wafv2.get_ip_set(Name=summary["Name"], Scope=SCOPE, Id=summary["Id"])["IPSet"]
                found[names[summary["Name"]]] = sort_ranges(ip_set["Addresses"])
        marker = page.get("NextMarker")
        if not marker or not page.get("IPSets"):
            return found


@dataclass(frozen=True)
class Row:
    preset: str
    version: int
    ip_set: str
    current: tuple[str, ...]
    published: tuple[str, ...]
    note: str = ""


def print_rows(rows: Iterable[Row]) -> bool:
    """One line per range added or removed, or one saying the lists are equal; whether any differ."""
    differs = False
    for row in rows:
        change = difference(row.current, row.published)
        where = f"{escape(row.preset):<8}  IPv{row.version}  {escape(row.ip_set)}"
        if not change:
            console.print(f"{where}  equal ({len(row.current)} ranges)")
            continue
        differs = True
        if row.note:
            console.print(f"{where}  [yellow]{escape(row.note)}[/]")
        for cidr in change.added:
            console.print(f"{where}  [green]+ {cidr}[/]")
        for cidr in change.removed:
            console.print(f"{where}  [red]- {cidr}[/]")
    return differs


def compare(
    preset: str, current: Mapping[int, tuple[str, ...]], now: Sequence[str], labels: Mapping[int, str]
) -> list[Row]:
    """A row per IP version either list has; ``labels`` name where each version's current list is."""
    split = by_version(now)
    return [
        Row(
            preset,
            version,
            labels[version],
            current.get(version, ()),
            split.get(version, ()),
            "" if version in current else f"not there: nothing applies {preset}'s IPv{version} ranges",
        )
        for version in sorted({*current, *split})
    ]


def _local_endpoint(local: bool, endpoint_url: str | None) -> str | None:
    if local and endpoint_url:
        raise fail("--local and --endpoint-url both name the AWS to read: pass one", UNREADABLE)
    if not local:
        return endpoint_url
    from webhook_kit.local.state import STATE_FILE, read_state

    running = read_state()
    if running is None:
        raise fail(
            f"no local pipeline runs from this directory ({STATE_FILE} names none): start "
            "`python -m webhook_kit local` here, or pass --endpoint-url",
            UNREADABLE,
        )
    return running.aws_endpoint


def _wafv2(endpoint_url: str | None, region: str | None) -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    from webhook_kit.local import local_client

    if endpoint_url is not None:
        return local_client("wafv2", endpoint_url)
    timeouts = Config(connect_timeout=5, read_timeout=15, retries={"total_max_attempts": 3, "mode": "standard"})
    try:
        return boto3.session.Session(region_name=region).client("wafv2", config=timeouts)
    except NoRegionError:
        raise fail("no AWS Region: pass --region or set AWS_REGION", UNREADABLE) from None


def _finish(unreadable: Sequence[str], differs: bool) -> None:
    """Say what could not be read, and exit with the code for the worst outcome."""
    for reason in unreadable:
        errors.print(f"[bold red]error:[/] {escape(reason)}")
    if unreadable:
        raise typer.Exit(UNREADABLE)
    if differs:
        raise typer.Exit(DIFFERENT)


@ipsets.command()
def diff(
    config: ConfigOption = DEFAULT_CONFIG,
    set_: SetOption = None,
    stack_name: StackNameOption = None,
    region: RegionOption = None,
    local: Annotated[
        bool, typer.Option("--local", help="The local pipeline running from this directory, not a deployment.")
    ] = False,
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="A local pipeline's AWS endpoint (`local --aws-port`).")
    ] = None,
    feed: FeedOption = None,
    ca_file: CaFileOption = None,
) -> None:
    """Show, per preset and IP version, the ranges the provider's list adds to or removes from the IP sets.

    Exit code 0: every IP set equals its provider's list; 1: some differ; 2: a list could not be read.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    cfg = read_config(config, set_)
    presets = sorted({preset for source in cfg.sources for preset in source.allowed_presets})
    chosen = feeds(presets, feed)
    if not presets:
        console.print("the configuration names no allow-list preset (allowed_presets): nothing to compare")
        return
    endpoint = _local_endpoint(local, endpoint_url)
    name = stack_name or cfg.stack_name
    wafv2 = _wafv2(endpoint, region)
    opener = feed_opener(ca_file)
    unreadable: list[str] = []
    differs = False
    for preset in presets:
        ip_sets = {version: contract.preset_ip_set_name(name, preset, version) for version in IP_VERSIONS}
        try:
            try:
                current = deployed(wafv2, name, preset)
            except (BotoCoreError, ClientError) as error:
                raise Unreadable(f"{preset}: cannot read the IP sets of stack {name}: {error}") from None
            if not current:
                raise Unreadable(
                    f"{preset}: no IP set {' or '.join(ip_sets.values())} in WAFv2 ({SCOPE}"
                    + (f", {region}" if region else "")
                    + f"): is stack {name} deployed there, with a source naming the preset?"
                )
            now = published(chosen[preset], opener=opener)
        except Unreadable as error:
            unreadable.append(str(error))
            continue
        differs = print_rows(compare(preset, current, now, ip_sets)) or differs
    _finish(unreadable, differs)


@ipsets.command()
def refresh(
    preset: Annotated[
        list[str] | None, typer.Option("--preset", help="Only this preset (repeatable). Default: every preset.")
    ] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Rewrite the snapshot of each preset whose feed was read and accepted.")
    ] = False,
    feed: FeedOption = None,
    ca_file: CaFileOption = None,
) -> None:
    """Read each preset's published list and show how it differs from the snapshot shipped with the kit.

    With --write, replace lambdas/shared/allowlists/snapshots/<preset>.json with it (for a release). A feed
    that cannot be read or is refused (empty, malformed, too wide, too many) never replaces a snapshot.
    Exit code 0: equal, or written; 1: some differ (without --write); 2: a feed could not be read.
    """
    names = preset or sorted(PRESETS)
    for name in names:
        if name not in PRESETS:
            raise fail(f"--preset {name!r}: no such preset; presets: {', '.join(sorted(PRESETS))}", UNREADABLE)
    chosen = feeds(dict.fromkeys(names), feed)
    opener = feed_opener(ca_file)
    unreadable: list[str] = []
    differs = False
    today = datetime.now(UTC).date()
    for name, source in chosen.items():
        try:
            now = published(source, opener=opener)
        except Unreadable as error:
            unreadable.append(f"{error}; its snapshot is unchanged")
            continue
        try:
            shipped = load_snapshot(name).ranges
        except FeedRejected as error:
            errors.print(f"[yellow]warning:[/] {escape(str(error))}; compared as empty")
            shipped = ()
        path = snapshot_path(name)
        changed = print_rows(compare(name, by_version(shipped), now, dict.fromkeys(IP_VERSIONS, path.name)))
        if write:
            via = f"fetched from {source.url} by `python -m webhook_kit ipsets refresh`"
            path.write_text(snapshot_document(name, now, taken=today, via=via), encoding="utf-8")
            console.print(f"wrote {escape(str(path))} (taken {today.isoformat()})")
        else:
            differs = changed or differs
    _finish(unreadable, differs)
