"""The newcomer's loop on `make local`: restart at once, edit a handler while it runs, redrive.

A pipeline of its own per test, on a configuration written here (one source,
three receives before the DLQ) and a handler module written into ``tmp_path``
that the workers import (``imports=``). Shown: a restart on the same ports
right after a stop starts (TIME-WAIT connections do not hold the ports); an
edited handler takes effect without a restart, with the queued message and
the dead letter still there, and the dead letter's reason on its console line;
the redriven dead letter runs the fixed handler.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
import requests
from e2e_support import post, signed, wait_for_stage
from typer.testing import CliRunner

from stacks.config import WebhookKitConfig, load_config
from webhook_kit.cli import app
from webhook_kit.local import LocalPipeline, PipelineEvent

SOURCE = "l-loop"
CONFIG = f"""
stack_name = "WebhookKitLoop"
unhandled_events = "acknowledge"

[[sources]]
name = "{SOURCE}"
scheme = "standard-webhooks"
# Scaled by 0.05, a 6 s visibility timeout and three receives: the retried message is still
# queued when the edited handler is in place, even on a busy machine.
timeout_seconds = 20
max_receive_count = 3
"""
# The handler as first written: a permanent failure for one delivery, a retryable one for the other.
BROKEN = """
from shared.event import PermanentError
from shared.router import router


@router.on("{source}")
def handle(event):
    if event.delivery_id.startswith("perm-"):
        raise PermanentError("amount is not a number")
    raise RuntimeError("not written yet")
"""
FIXED = """
from shared.router import router


@router.on("{source}")
def handle(event):
    print("fixed handler ran", event.delivery_id, flush=True)
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "webhook-kit.loop.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def config(config_path: Path) -> WebhookKitConfig:
    return load_config(config_path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_restart_on_the_same_ports_right_after_a_stop_starts(config: WebhookKitConfig) -> None:
    port, aws_port = _free_port(), _free_port()
    with requests.Session() as http, LocalPipeline(config, port=port, aws_port=aws_port) as first:
        assert post(http, signed(first, SOURCE)).status_code == 202  # connections that end in TIME-WAIT
    with LocalPipeline(config, port=port, aws_port=aws_port, visibility_scale=0.05) as again:
        assert (again.port, again.aws_endpoint.rsplit(":", 1)[1]) == (port, str(aws_port))


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    # Past the mtime (seconds) a cached .pyc was validated against, so the new worker compiles anew.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_an_edited_handler_reloads_keeping_the_queue_and_the_dlq_and_a_redrive_runs_it(
    config: WebhookKitConfig, config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"loop_handlers_{uuid.uuid4().hex[:8]}"
    handler_file = tmp_path / f"{module}.py"
    _write(handler_file, BROKEN.format(source=SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned workers inherit sys.path
    local = LocalPipeline(config, port=0, aws_port=0, visibility_scale=0.05, imports=[module], reload=True)
    with local, requests.Session() as http:
        permanent = signed(local, SOURCE, delivery_id=f"perm-{uuid.uuid4().hex}")
        retried = signed(local, SOURCE, delivery_id=f"retry-{uuid.uuid4().hex}")
        assert post(http, permanent).status_code == 202
        assert post(http, retried).status_code == 202

        [dead] = wait_for_stage(local, permanent.delivery_id, "dead-lettered")
        assert "PermanentError: amount is not a number" in dead.detail
        assert permanent.body.decode() not in dead.detail
        wait_for_stage(local, retried.delivery_id, "retried")

        # Fixed while the retried message waits in the queue for its second receive.
        _write(handler_file, FIXED.format(source=SOURCE))
        assert local.wait_for(lambda events: any(e.stage == "reloaded" for e in events), 10), "no reload line"
        reloaded = next(event for event in local.events if event.stage == "reloaded")
        assert f"{module}.py" in reloaded.detail

        wait_for_stage(local, retried.delivery_id, "processed")

        result = CliRunner().invoke(
            app, ["redrive", SOURCE, "--endpoint-url", local.aws_endpoint, "--config", str(config_path)]
        )
        assert result.exit_code == 0, result.output
        wait_for_stage(local, permanent.delivery_id, "processed")


def test_the_console_line_of_a_dead_letter_without_a_reason_points_at_the_dlq() -> None:
    from webhook_kit.local.events import processor_event

    source = type("Source", (), {"name": SOURCE, "max_receive_count": 2, "visibility_timeout": 1})()
    record = {"messageId": "m", "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}
    event: PipelineEvent = processor_event(source, record, "dead_lettered", False)  # type: ignore[arg-type]
    assert event.stage == "dead-lettered"
    assert "failure_reason" in event.detail
