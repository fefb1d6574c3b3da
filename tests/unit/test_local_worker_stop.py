"""Stopping local Lambda workers: output kept, no interpreter teardown, busy ones finish first.

A worker asked to stop ends at once, as Lambda ends an environment, instead of
finalizing every module (a quarter of a second of CPU each, which made a
pipeline of 30-odd workers take 7-11 s to stop on two cores). What it printed
must still reach the console, and a worker in the middle of an invocation
still answers before it goes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook_kit.local.runtime import FunctionSpec, WorkerPool, close_pools

MODULE = """
import atexit
import sys
import time


def runtime():
    return None


def _said_goodbye():
    sys.stdout.write("interpreter torn down\\n")


atexit.register(_said_goodbye)


def handler(event, context):
    if "started" in event:
        open(event["started"], "w").close()
    time.sleep(event.get("seconds", 0))
    sys.stdout.write(f"handled {event['name']} without a newline or a flush")
    return {"done": event["name"]}
"""


@pytest.fixture
def pools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[WorkerPool]]:
    (tmp_path / "stopping_local_handler.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned workers inherit sys.path
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # their stdout buffered, as a file's or a pipe's is
    made = [
        WorkerPool(
            FunctionSpec(name=name, handler="stopping_local_handler.handler", environment={}, timeout_seconds=5),
            size=1,
        )
        for name in ("first", "second")
    ]
    yield made
    close_pools(made, timeout=1)


def test_a_stopped_worker_keeps_what_it_printed_and_skips_the_interpreter_teardown(
    pools: list[WorkerPool], capfd: pytest.CaptureFixture[str]
) -> None:
    [pool, _] = pools
    assert pool.invoke({"name": "a"}) == {"done": "a"}
    [worker] = pool.workers

    pool.close(timeout=5)

    assert worker.process.exitcode == 0
    out = capfd.readouterr().out
    assert "handled a without a newline or a flush" in out  # flushed before the worker ended
    assert "interpreter torn down" not in out  # atexit handlers do not run, as in Lambda


def test_closing_pools_together_lets_each_busy_worker_answer_first(pools: list[WorkerPool], tmp_path: Path) -> None:
    answers: dict[str, Any] = {}
    started = {pool.spec.name: tmp_path / f"started-{pool.spec.name}" for pool in pools}

    def invoke(pool: WorkerPool) -> None:
        name = pool.spec.name
        answers[name] = pool.invoke({"name": name, "seconds": 0.5, "started": str(started[name])})

    for pool in pools:
        pool.start_one()
    workers = [worker for pool in pools for worker in pool.workers]
    threads = [threading.Thread(target=invoke, args=(pool,)) for pool in pools]
    for thread in threads:
        thread.start()
    # Both handlers are running before the pools close.
    deadline = time.monotonic() + 10
    while not all(path.exists() for path in started.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(path.exists() for path in started.values())

    close_pools(pools, timeout=5)
    for thread in threads:
        thread.join(5)

    assert answers == {"first": {"done": "first"}, "second": {"done": "second"}}
    assert [worker.process.exitcode for worker in workers] == [0, 0]
