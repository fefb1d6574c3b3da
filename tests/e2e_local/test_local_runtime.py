"""The local runtime behaves like Lambda: functions in worker processes of their own, side by side.

A pipeline of its own (``webhook-kit.runtime.toml``), real HTTP through it, the
tests' ledger handler in the processor workers. Shown here: a slow handler on
one source does not hold up another source's 202; two copies of one delivery
processed at the same moment by two workers of one source run the handler
once (Powertools' INPROGRESS record turns the second into a retry, then a
duplicate); and stopping ``python -m webhook_kit local`` with Ctrl-C leaves no
process behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from e2e_support import eventually, post, signed, wait_for_stage

from stacks.config import load_config
from tests.support.ledger import Ledger, serving
from tests.support.local_pipeline import running_pipeline
from webhook_kit.devsecrets import dev_secret
from webhook_kit.local import LocalPipeline
from webhook_kit.send import build

CONFIG_PATH = Path(__file__).with_name("webhook-kit.runtime.toml")
ROOT = Path(__file__).resolve().parents[2]
SLOW_SECONDS = 5.0


@pytest.fixture(scope="module")
def runtime_pipeline(shared_ledger: Ledger) -> Iterator[LocalPipeline]:
    config = load_config(CONFIG_PATH)
    # The session's e2e pipeline shares moto's state: a table and a bucket of its own.
    with running_pipeline(
        config, names="webhook-kit-runtime", processor_setup=[serving(shared_ledger, "r-*")]
    ) as local:
        yield local


def test_a_slow_handler_on_one_source_does_not_delay_another_sources_202(
    runtime_pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    slow = signed(runtime_pipeline, "r-slow", delivery_id=f"slow-{uuid.uuid4().hex}")
    ledger.slow(slow.delivery_id, SLOW_SECONDS)
    assert post(http, slow).status_code == 202
    eventually(lambda: ledger.running(slow.delivery_id), message="the slow handler started")

    fast = signed(runtime_pipeline, "r-fast")
    started = time.monotonic()
    response = post(http, fast)
    elapsed = time.monotonic() - started

    assert response.status_code == 202
    assert elapsed < 1.5, f"the other source's 202 took {elapsed:.2f} s"
    assert ledger.running(slow.delivery_id) == 1, "the slow handler was still running"
    wait_for_stage(runtime_pipeline, slow.delivery_id, "processed")


def test_two_copies_processed_at_once_run_the_handler_once(
    runtime_pipeline: LocalPipeline, ledger: Ledger, http: requests.Session
) -> None:
    delivery_id = f"dup-{uuid.uuid4().hex}"
    ledger.hold(delivery_id)  # the first copy's handler waits until the second copy has been tried
    try:
        assert post(http, signed(runtime_pipeline, "r-dup", delivery_id=delivery_id)).status_code == 202
        eventually(lambda: ledger.running(delivery_id), message="the first copy's handler started")
        assert post(http, signed(runtime_pipeline, "r-dup", delivery_id=delivery_id)).status_code == 202

        # Given to a second worker while the first holds the INPROGRESS record: a batch item failure.
        retried = wait_for_stage(runtime_pipeline, delivery_id, "retried")
    finally:
        ledger.release(delivery_id)
    wait_for_stage(runtime_pipeline, delivery_id, "processed")
    # The retried copy comes back after the visibility timeout and finds the completed record.
    wait_for_stage(runtime_pipeline, delivery_id, "duplicate")

    assert "IdempotencyAlreadyInProgressError" in retried[0].detail
    assert len(runtime_pipeline.processors["r-dup"].workers) == 2, "two workers of one source ran at once"
    assert len(ledger.calls(delivery_id)) == 1
    assert len(ledger.successes(delivery_id)) == 1


def _session_processes(session_id: int) -> list[int]:
    """The live processes of a session (Linux /proc), zombies excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session_id:  # state, ppid, pgrp, session
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_ctrl_c_in_local_stops_every_worker(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    command = [sys.executable, "-m", "webhook_kit", "local", "--config", str(CONFIG_PATH), "--port", "0"]
    local = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [*command, "--aws-port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a session of its own, as a terminal's: Ctrl-C reaches the whole group
    )
    try:
        banner = ""
        assert local.stdout is not None
        while "Ctrl-C stops." not in banner:
            line = local.stdout.readline()
            assert line, f"local exited early: {banner}"
            banner += line
        url = re.search(r"POST (http://\S+/webhooks/r-fast)", banner)
        assert url is not None, banner
        source = load_config(CONFIG_PATH).source("r-fast")
        webhook = build(source, secret=dev_secret("r-fast", source.scheme), url=url.group(1))
        assert requests.post(webhook.url, data=webhook.body, headers=webhook.headers, timeout=10).status_code == 202
        # The processor worker has started once the console says what it did.
        while "processed" not in (line := local.stdout.readline()) and "unhandled" not in line:
            assert line, "local exited early"
        assert len(_session_processes(local.pid)) >= 3, "local, its verifier and a processor worker"

        os.killpg(local.pid, signal.SIGINT)
        output = local.communicate(timeout=30)[0]
    finally:
        if local.poll() is None:
            os.killpg(local.pid, signal.SIGKILL)
            local.wait()
    assert "stopped; the local state is gone." in output
    eventually(lambda: not _session_processes(local.pid), timeout=5, message="no process of local is left")
