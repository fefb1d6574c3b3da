"""`make local` with 100 sources: it starts, idles without burning CPU, and webhooks, `send` and `redrive` work.

One pipeline of 100 sources (``tests.support.scale``: every scheme, half of
them allow-listed) for the module, on free ports, with the tests' ledger
handler in its processor workers.

The idle bound: the CPU time of this process and every process under it (moto,
the Lambda workers, the ledger's manager), per second of wall time, while no
webhook arrives. With one short poll per source per second the pipeline used
about 0.45 CPU seconds per second at 100 sources on the two-core machine these
tests run on (0.06 at 10); with long polls it uses about 0.02. The bound, 0.15,
leaves room for a busy machine and for another local pipeline of the same
xdist worker (the e2e session pipeline's ten sources, about 0.06), and still
fails by three times over if the pollers go back to short polls.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_support import Ledger, eventually, post, queue_depth, signed, wait_for_stage
from typer.testing import CliRunner

from stacks.config import parse_config
from tests.support.ledger import ledger_server, serving
from tests.support.scale import config_toml, scale_config_data, scale_source_name, scale_source_scheme
from webhook_kit.cli import app
from webhook_kit.local import LocalPipeline, local_client
from webhook_verify.schemes import SCHEMES

SOURCES = 100
IDLE_CPU_PER_SECOND = 0.15
IDLE_SECONDS = 5.0
# After start-up or the last webhook: the pollers' clients are built and the last batches deleted.
SETTLE_SECONDS = 2.0
# About 4 s here. Provisioning is a few AWS calls per source; a processor worker started per source
# up front (half a second or more each) would take minutes, and would fail this.
START_SECONDS = 30.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _data() -> dict[str, Any]:
    data = scale_config_data(SOURCES)
    for source in data["sources"]:
        # Short timeouts: a retry comes a second later (scaled visibility timeout).
        source.update(timeout_seconds=3, max_receive_count=2)
    return data


def _tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and its descendants, all threads, from /proc."""
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # After the command name (which may hold spaces): state, ppid, ... utime and stime are fields 14 and 15.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        seconds[int(entry)] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(seconds.get(pid, 0.0) for pid in tree)


def _idle_cpu_per_second(seconds: float) -> float:
    before, started = _tree_cpu_seconds(os.getpid()), time.monotonic()
    time.sleep(seconds)
    return (_tree_cpu_seconds(os.getpid()) - before) / (time.monotonic() - started)


@pytest.fixture(scope="module")
def scale_ledger() -> Iterator[Ledger]:
    with ledger_server() as ledger:
        yield ledger


@pytest.fixture(scope="module")
def scale_data() -> dict[str, Any]:
    return _data()


@pytest.fixture(scope="module")
def idle_before(scale_ledger: Ledger) -> float:
    """This test process's idle CPU before the 100-source pipeline starts: in a full run, the
    session's other pipelines (the e2e one has a source per scheme) live in the same process tree."""
    return _idle_cpu_per_second(IDLE_SECONDS)


@pytest.fixture(scope="module")
def started(
    scale_data: dict[str, Any], scale_ledger: Ledger, idle_before: float
) -> Iterator[tuple[LocalPipeline, float]]:
    """The pipeline and how long its start took."""
    local = LocalPipeline(
        parse_config(scale_data), port=0, aws_port=0, processor_setup=[serving(scale_ledger, "src-*")]
    )
    began = time.monotonic()
    with local:
        yield local, time.monotonic() - began


@pytest.fixture
def scale_pipeline(started: tuple[LocalPipeline, float]) -> LocalPipeline:
    return started[0]


def _first_source(scheme: str) -> str:
    return next(scale_source_name(i) for i in range(SOURCES) if scale_source_scheme(i) == scheme)


def test_a_pipeline_of_100_sources_starts_with_a_queue_each(started: tuple[LocalPipeline, float]) -> None:
    local, seconds = started

    assert seconds < START_SECONDS
    assert len(local.sources) == SOURCES
    assert len({source.queue_url for source in local.sources.values()}) == SOURCES


def test_webhooks_to_sources_across_the_100_are_each_processed_once(
    scale_pipeline: LocalPipeline, scale_ledger: Ledger, http: requests.Session
) -> None:
    # The first and the last, an allow-listed one, one that signs the URL and the generic one.
    url_signing = next(name for name, scheme in SCHEMES.items() if scheme.needs_public_url)
    names = {scale_source_name(0), scale_source_name(SOURCES - 1), scale_source_name(42)}
    names |= {_first_source(url_signing), _first_source("generic-hmac")}
    webhooks = [signed(scale_pipeline, name) for name in sorted(names)]

    for webhook in webhooks:
        assert post(http, webhook).status_code == 202, webhook.url

    for webhook in webhooks:
        wait_for_stage(scale_pipeline, webhook.delivery_id, "processed")
        assert len(scale_ledger.calls(webhook.delivery_id)) == 1


def test_an_idle_pipeline_of_100_sources_stays_under_the_cpu_bound(
    scale_pipeline: LocalPipeline, idle_before: float
) -> None:
    time.sleep(SETTLE_SECONDS)

    used = _idle_cpu_per_second(IDLE_SECONDS) - idle_before

    assert used < IDLE_CPU_PER_SECOND, f"idle, the pipeline's processes used {used:.3f} CPU seconds per second"


def test_send_with_port_and_redrive_work_at_100_sources(
    scale_pipeline: LocalPipeline, scale_data: dict[str, Any], scale_ledger: Ledger, tmp_path: Path
) -> None:
    config_file = tmp_path / "webhook-kit.scale.toml"
    config_file.write_text(config_toml(scale_data))
    sent, dead = scale_source_name(7), scale_source_name(SOURCES - 2)

    result = CliRunner().invoke(app, ["send", sent, "--port", str(scale_pipeline.port), "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    wait_for_stage(scale_pipeline, result.output.rsplit("delivery id:", 1)[1].strip(), "processed")

    # A permanent failure goes to the DLQ at once; the cause fixed, the operator redrives it.
    webhook = signed(scale_pipeline, dead)
    scale_ledger.fail(webhook.delivery_id, permanent=True)
    with requests.Session() as http:
        http.trust_env = False
        assert post(http, webhook).status_code == 202
    sqs = local_client("sqs", scale_pipeline.aws_endpoint)
    eventually(lambda: queue_depth(sqs, scale_pipeline.sources[dead].dead_letter_queue_url) == 1, message="DLQ")
    scale_ledger.heal(webhook.delivery_id)
    result = CliRunner().invoke(
        app, ["redrive", dead, "--endpoint-url", scale_pipeline.aws_endpoint, "--config", str(config_file)]
    )
    assert result.exit_code == 0, result.output
    wait_for_stage(scale_pipeline, webhook.delivery_id, "processed")
    assert len(scale_ledger.successes(webhook.delivery_id)) == 1
