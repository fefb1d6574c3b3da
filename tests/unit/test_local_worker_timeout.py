"""A local Lambda worker stops itself at its timeout, as Lambda stops an environment.

Powertools' INPROGRESS record expires at the Lambda context's deadline; a handler
still running after it could complete beside another copy that took the record
over. The parent's kill needs the CPU to wake up, so on a saturated machine it can
come late (the soak once counted a doubled effect that way): the worker itself
holds the deadline, and the parent's kill is only the backstop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from webhook_kit.local.runtime import TIMED_OUT_EXIT_CODE, FunctionSpec, Worker, WorkerDied

SLOW_MODULE = """
import time


def runtime():
    return None


def handler(event, context):
    deadline = time.monotonic() + event["seconds"]
    while time.monotonic() < deadline:  # busy, as a handler mid-work is
        pass
    return {"done": event["seconds"]}
"""


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    (tmp_path / "slow_local_handler.py").write_text(SLOW_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned worker inherits sys.path
    spec = FunctionSpec(name="slow", handler="slow_local_handler.handler", environment={}, timeout_seconds=0.5)
    started = Worker(spec)
    yield started
    started.stop(1)


def test_a_handler_past_its_timeout_is_stopped_by_the_worker_itself(worker: Worker) -> None:
    started = time.monotonic()
    with pytest.raises(WorkerDied, match=r"^the slow function timed out after 0\.5 s$"):
        worker.invoke({"seconds": 5})

    # The worker's own timer, not the parent's kill a second later (which would exit with -9).
    assert worker.process.exitcode == TIMED_OUT_EXIT_CODE
    assert time.monotonic() - started < 1.0


def test_a_handler_within_its_timeout_answers_and_the_timer_is_disarmed(worker: Worker) -> None:
    assert worker.invoke({"seconds": 0.1}) == {"done": 0.1}
    time.sleep(0.6)  # past the first invocation's deadline: a timer left armed would have stopped the worker
    assert worker.alive
    assert worker.invoke({"seconds": 0.1}) == {"done": 0.1}
