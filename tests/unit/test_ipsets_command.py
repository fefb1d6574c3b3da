"""``ipsets diff`` and ``ipsets refresh``: their argument errors, how they read a feed and a deployment's IP sets,
and that ``refresh --write`` replaces a snapshot only with a list the kit accepts (feeds served over loopback TLS)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

import shared.allowlists
from shared.allowlists import MAX_FEED_BYTES, get_preset, load_snapshot
from tests.support.tls import tls_server
from webhook_kit.cli import app
from webhook_kit.ipsets_command import Feed, Unreadable, deployed, published

CONFIG = """\
stack_name = "Kit"

[[sources]]
name = "stripe"
scheme = "stripe"
{extra}
"""


def run(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["ipsets", *arguments])
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "webhook-kit.toml"
    path.write_text(CONFIG.format(extra='allowed_presets = ["stripe"]'))
    return path


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("feed", "expected"),
    [
        ("stripe", "--feed 'stripe': expected PRESET=URL"),
        ("stripe=", "--feed 'stripe=': expected PRESET=URL"),
        ("github=https://localhost/x", "'github' is not a preset this command reads (it reads: stripe)"),
        ("stripe=http://127.0.0.1:8000/x", "the URL must be https://host/..."),
        ("stripe=file:///etc/passwd", "the URL must be https://host/..."),
        ("stripe=https:///x", "the URL must be https://host/..."),
    ],
)
def test_a_bad_feed_override_is_refused_with_exit_code_2(config: Path, feed: str, expected: str) -> None:
    code, output = run("diff", "--config", str(config), "--feed", feed)

    assert code == 2
    assert expected in output


def test_local_and_an_endpoint_together_are_refused(config: Path) -> None:
    code, output = run("diff", "--config", str(config), "--local", "--endpoint-url", "http://127.0.0.1:4566")

    assert code == 2
    assert "--local and --endpoint-url both name the AWS to read: pass one" in output


def test_local_without_a_running_pipeline_says_how_to_start_one(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    code, output = run("diff", "--config", str(config), "--local")

    assert code == 2
    assert "no local pipeline runs from this directory" in output
    assert "`python -m webhook_kit local`" in output


def test_a_configuration_without_presets_has_nothing_to_compare(tmp_path: Path) -> None:
    path = tmp_path / "webhook-kit.toml"
    path.write_text(CONFIG.format(extra=""))

    code, output = run("diff", "--config", str(path))

    assert code == 0
    assert "the configuration names no allow-list preset" in output


def test_refresh_of_an_unknown_preset_names_the_presets() -> None:
    code, output = run("refresh", "--preset", "stripee")

    assert code == 2
    assert "--preset 'stripee': no such preset; presets: github, stripe" in output


# --------------------------------------------------------------------------- reading a feed


class _Response:
    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body, self.status, self.headers = body, status, {"Content-Length": str(len(body))}

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read1(self, size: int) -> bytes:
        chunk, self.body = self.body[:size], self.body[size:]
        return chunk


class _Opener:
    def __init__(self, body: bytes, status: int = 200) -> None:
        self.response = _Response(body, status)
        self.urls: list[str] = []

    def open(self, url: str, timeout: float) -> _Response:
        self.urls.append(url)
        return self.response


def test_a_feed_is_parsed_by_its_preset() -> None:
    opener = _Opener(json.dumps({"WEBHOOKS": ["3.18.12.63", "3.130.192.231/32"]}).encode())

    assert published(Feed(get_preset("stripe"), get_preset("stripe").feed), opener=opener) == (
        "3.18.12.63/32",
        "3.130.192.231/32",
    )
    assert opener.urls == ["https://stripe.com/files/ips/ips_webhooks.json"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{}", 404, "cannot read https://stripe.com/files/ips/ips_webhooks.json: HTTP 404"),
        (b'{"WEBHOOKS": []}', 200, "is refused (empty)"),
        (b'{"WEBHOOKS": ["0.0.0.0/0"]}', 200, "is refused (too-wide)"),
        (b"<html>", 200, "is refused (malformed)"),
        (b" " * (MAX_FEED_BYTES + 1), 200, "cannot read https://stripe.com/files/ips/ips_webhooks.json: the response"),
    ],
)
def test_an_unusable_feed_is_unreadable_naming_the_preset_and_why(body: bytes, status: int, reason: str) -> None:
    with pytest.raises(Unreadable) as raised:
        published(Feed(get_preset("stripe"), get_preset("stripe").feed), opener=_Opener(body, status))

    assert str(raised.value).startswith("stripe: ")
    assert reason in str(raised.value)


def test_an_override_is_read_from_its_own_host_with_the_same_bounded_get() -> None:
    opener = _Opener(b'{"WEBHOOKS": ["3.18.12.63"]}')

    assert published(Feed(get_preset("stripe"), "https://mirror.example/stripe.json"), opener=opener) == (
        "3.18.12.63/32",
    )
    # The GET's own URL rules still hold for an override (here: no user info).
    with pytest.raises(Unreadable, match="the URL is not https on an allowed host"):
        published(Feed(get_preset("stripe"), "https://stripe.com@evil.example/x"), opener=opener)
    assert opener.urls == ["https://mirror.example/stripe.json"]


# --------------------------------------------------------------------------- reading a deployment


class _WafIpSets:
    """WAFv2's ListIPSets (two pages) and GetIPSet, in memory."""

    def __init__(self, sets: dict[str, list[str]]) -> None:
        self.sets = sets

    def list_ip_sets(self, *, Scope: str, Limit: int, NextMarker: str | None = None) -> dict[str, Any]:
        names = sorted(self.sets)
        page = names[:1] if NextMarker is None else names[1:]
        found: dict[str, Any] = {"IPSets": [{"Name": name, "Id": f"id-{name}"} for name in page]}
        if NextMarker is None:
            found["NextMarker"] = "next"
        return found

    def get_ip_set(self, *, Name: str, Scope: str, Id: str) -> dict[str, Any]:
        assert (Scope, Id) == ("REGIONAL", f"id-{Name}")
        return {"IPSet": {"Name": Name, "Addresses": self.sets[Name]}, "LockToken": "t"}


def test_a_deployments_ip_sets_are_found_by_name_across_pages() -> None:
    waf = _WafIpSets(
        {
            "Kit-allow-github-ipv4": ["192.30.252.0/22", "140.82.112.0/20"],
            "Kit-allow-github-ipv6": ["2a0a:a440::/29"],
            "Other-allow-github-ipv4": ["10.0.0.0/8"],
        }
    )

    assert deployed(waf, "Kit", "github") == {
        4: ("140.82.112.0/20", "192.30.252.0/22"),
        6: ("2a0a:a440::/29",),
    }
    assert deployed(waf, "Kit", "stripe") == {}


# --------------------------------------------------------------------------- refresh


class _Feed(BaseHTTPRequestHandler):
    body: ClassVar[bytes] = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def snapshots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The shipped snapshots, copied where ``refresh --write`` may replace them."""
    directory = tmp_path / "snapshots"
    shutil.copytree(shared.allowlists.SNAPSHOTS, directory)
    monkeypatch.setattr(shared.allowlists, "SNAPSHOTS", directory)
    load_snapshot.cache_clear()
    yield directory
    load_snapshot.cache_clear()


def refresh(tmp_path: Path, ranges: list[str], *flags: str) -> tuple[int, str, str]:
    """``refresh --preset stripe`` against a feed publishing ``ranges``: exit code, output, the feed's URL."""
    _Feed.body = json.dumps({"WEBHOOKS": ranges}).encode()
    with tls_server(_Feed, tmp_path) as (port, certificate):
        url = f"https://localhost:{port}/ips_webhooks.json"
        code, output = run(
            "refresh", "--preset", "stripe", "--feed", f"stripe={url}", "--ca-file", str(certificate), *flags
        )
    return code, output, url


def test_refresh_shows_what_the_feed_changes_and_writes_nothing_without_write(snapshots: Path, tmp_path: Path) -> None:
    before = (snapshots / "stripe.json").read_text()
    shipped = list(load_snapshot("stripe").ranges)

    code, output, _ = refresh(tmp_path, [*shipped[1:], "198.51.100.7"])

    assert code == 1, output
    assert "+ 198.51.100.7/32" in output
    assert f"- {shipped[0]}" in output
    assert (snapshots / "stripe.json").read_text() == before


def test_refresh_write_replaces_the_snapshot_with_the_feed_its_date_and_where_it_came_from(
    snapshots: Path, tmp_path: Path
) -> None:
    code, output, url = refresh(tmp_path, ["3.18.12.63", "198.51.100.0/24"], "--write")

    assert code == 0, output
    load_snapshot.cache_clear()
    written = load_snapshot("stripe")
    assert written.ranges == ("3.18.12.63/32", "198.51.100.0/24")
    assert written.taken == datetime.now(UTC).date()
    assert written.via == f"fetched from {url} by `python -m webhook_kit ipsets refresh`"


@pytest.mark.parametrize("ranges", [[], ["0.0.0.0/0"], ["3.18.12.63", "not an address"]])
def test_refresh_write_never_writes_a_refused_feed(snapshots: Path, tmp_path: Path, ranges: list[str]) -> None:
    before = (snapshots / "stripe.json").read_text()

    code, output, _ = refresh(tmp_path, ranges, "--write")

    assert code == 2, output
    assert "its snapshot is unchanged" in output
    assert (snapshots / "stripe.json").read_text() == before
