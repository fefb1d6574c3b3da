"""Redrive interrupted at chosen points, slow, concurrent, or facing an endpoint that never answers (moto).

What every test holds to: no message is lost (the queue and the DLQ together hold
each one; a duplicate only where docs/processor.md#redrive says), what the run held
is visible again as soon as it stops, and a rerun tells hidden messages from absent ones.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from typer.testing import CliRunner

from shared.message import to_send_message_kwargs
from tests.support.processor import SOURCE, webhook
from tests.support.processor_pipeline import Pipeline, build_pipeline
from tests.support.queues import queue_depth
from webhook_kit.cli import app
from webhook_kit.redrive import RedriveError, RedriveProgress, RedriveResult, redrive

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pipeline(reset_moto: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    yield from build_pipeline(monkeypatch)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "webhook-kit.toml"
    path.write_text(f'stack_name = "RedriveTest"\n\n[[sources]]\nname = "{SOURCE}"\nscheme = "stripe"\n')
    return path


class Interrupting:
    """An SQS client that raises at the ``at``-th call of ``method``: before the call reaches SQS, or after."""

    def __init__(
        self,
        client: Any,
        method: str,
        at: int,
        *,
        after: bool = False,
        error: Callable[[], BaseException] = KeyboardInterrupt,
    ) -> None:
        self._client = client
        self._method = method
        self._at = at
        self._after = after
        self._error = error
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name != self._method:
            return call

        def interrupted(**kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self._at and not self._after:
                raise self._error()
            answer = call(**kwargs)
            if self.calls == self._at:
                raise self._error()
            return answer

        return interrupted


def _fill_dlq(pipeline: Pipeline, count: int) -> list[str]:
    ids = [f"evt_{index:02d}" for index in range(count)]
    for delivery_id in ids:
        pipeline.sqs.send_message(QueueUrl=pipeline.dlq_url, **to_send_message_kwargs(webhook(delivery_id)))
    return ids


def _redrive(pipeline: Pipeline, sqs: Any = None, **kwargs: Any) -> RedriveResult:
    return redrive(
        source=SOURCE,
        dlq_url=pipeline.dlq_url,
        queue_url=pipeline.queue_url,
        sqs_client=sqs or pipeline.sqs,
        wait_seconds=0,
        **kwargs,
    )


def _delivery_ids(pipeline: Pipeline, queue_url: str) -> Counter[str]:
    """Every message of the queue by delivery id (each left hidden, so it is read once)."""
    found: Counter[str] = Counter()
    while batch := pipeline.receive(queue_url):
        found.update(message["MessageAttributes"]["delivery_id"]["StringValue"] for message in batch)
    return found


def test_an_interrupt_before_a_send_leaves_every_unmoved_message_visible_at_once(pipeline: Pipeline) -> None:
    _fill_dlq(pipeline, 15)  # a batch of ten, then five

    with pytest.raises(KeyboardInterrupt) as stopped:
        _redrive(pipeline, Interrupting(pipeline.sqs, "send_message", at=3))

    assert queue_depth(pipeline.sqs, pipeline.dlq_url) == (13, 0)  # the rest of the batch too, not only skips
    assert _delivery_ids(pipeline, pipeline.queue_url) == Counter({"evt_00": 1, "evt_01": 1})
    [note] = stopped.value.__notes__  # the one message whose fate the operator cannot see
    assert note.startswith("stopped while moving delivery evt_02")


@pytest.mark.parametrize(
    ("rerun_the_named_delivery_with_reprocess", "its_runs"),
    [pytest.param(False, 2, id="as documented"), pytest.param(True, 3, id="reprocess again: runs twice")],
)
def test_after_an_interrupted_reprocess_run_the_delivery_it_names_is_redriven_without_reprocess(
    pipeline: Pipeline, rerun_the_named_delivery_with_reprocess: bool, its_runs: int
) -> None:
    # Three deliveries that completed, each with a copy in the DLQ to be run once more on purpose.
    pipeline.on()
    ids = ["evt_00", "evt_01", "evt_02"]
    pipeline.send(*(webhook(delivery_id) for delivery_id in ids))
    pipeline.drain()
    _fill_dlq(pipeline, 3)
    reprocess = {"reprocess": True, "table_name": pipeline.table, "dynamodb_client": pipeline.dynamodb}
    with pytest.raises(KeyboardInterrupt) as stopped:  # between the second send and its delete
        _redrive(pipeline, Interrupting(pipeline.sqs, "delete_message", at=2), **reprocess)
    [note] = stopped.value.__notes__
    assert "delivery evt_01" in note and "redrive that copy without reprocess" in note
    pipeline.drain()  # the processor runs evt_00 and evt_01 again: their records were deleted

    named = reprocess if rerun_the_named_delivery_with_reprocess else {}
    assert _redrive(pipeline, delivery_ids=["evt_01"], **named).moved == 1
    assert _redrive(pipeline, delivery_ids=["evt_02"], **reprocess).moved == 1
    pipeline.drain()

    runs = Counter(event.delivery_id for event in pipeline.calls)
    assert runs == {"evt_00": 2, "evt_01": its_runs, "evt_02": 2}


@pytest.mark.parametrize(
    ("method", "at", "after", "duplicated"),
    [
        pytest.param("send_message", 3, False, 0, id="killed before a send"),
        pytest.param("send_message", 3, True, 1, id="killed after a send was accepted"),
        pytest.param("delete_message", 3, False, 1, id="killed between a send and its delete"),
        pytest.param("receive_message", 2, False, 0, id="killed before the second receive"),
    ],
)
def test_a_rerun_right_after_an_interrupt_moves_the_rest_and_the_processor_runs_each_delivery_once(
    pipeline: Pipeline, method: str, at: int, after: bool, duplicated: int
) -> None:
    ids = _fill_dlq(pipeline, 15)
    with pytest.raises(KeyboardInterrupt):
        _redrive(pipeline, Interrupting(pipeline.sqs, method, at=at, after=after))
    moved_before = queue_depth(pipeline.sqs, pipeline.queue_url)[0]

    result = _redrive(pipeline)

    assert (result.moved, result.failed, result.not_found) == (15 - moved_before + duplicated, 0, frozenset())
    assert queue_depth(pipeline.sqs, pipeline.dlq_url) == (0, 0)
    assert queue_depth(pipeline.sqs, pipeline.queue_url) == (15 + duplicated, 0)  # the documented duplicate only
    pipeline.on()
    pipeline.drain()
    # Nothing lost, and the duplicate is harmless without reprocess: the processor skips it by its record.
    assert Counter(event.delivery_id for event in pipeline.calls) == Counter(dict.fromkeys(ids, 1))


def test_messages_hidden_by_a_run_that_could_not_release_them_are_reported_in_flight_not_absent(
    pipeline: Pipeline,
) -> None:
    # The second receive was answered but the run died before it saw the answer (a dropped
    # connection, kill -9): SQS hides those five and nobody holds their receipt handles.
    _fill_dlq(pipeline, 15)
    with pytest.raises(KeyboardInterrupt):
        _redrive(pipeline, Interrupting(pipeline.sqs, "receive_message", at=2, after=True), visibility_timeout=1)

    with pytest.raises(RedriveError, match=r"5 message\(s\) are in flight .*retry in up to 30 seconds"):
        _redrive(pipeline)
    time.sleep(1.1)  # the dead run's one-second hide lapses
    assert _redrive(pipeline).moved == 5


def test_a_selective_run_longer_than_the_visibility_timeout_finds_every_chosen_delivery(pipeline: Pipeline) -> None:
    _fill_dlq(pipeline, 25)
    events: list[RedriveProgress] = []

    def slow(event: RedriveProgress) -> None:
        events.append(event)
        if len(events) == 10:
            time.sleep(1.1)  # the first batch (all skipped) outlasts the hide: those ten come back first

    result = _redrive(pipeline, delivery_ids=["evt_12", "evt_24"], visibility_timeout=1, progress=slow)

    assert (result.moved, result.skipped, result.not_found) == (2, 23, frozenset())
    assert len({event.message_id for event in events}) == len(events) == 25  # each reported once
    assert _delivery_ids(pipeline, pipeline.queue_url) == Counter({"evt_12": 1, "evt_24": 1})
    assert queue_depth(pipeline.sqs, pipeline.dlq_url) == (23, 0)


def test_a_run_during_another_runs_scan_reports_what_that_run_holds_and_a_run_after_it_finds_it(
    pipeline: Pipeline,
) -> None:
    _fill_dlq(pipeline, 15)
    concurrent: list[RedriveResult] = []

    def meanwhile(event: RedriveProgress) -> None:
        if not concurrent:  # the first run holds its first batch of ten now
            concurrent.append(_redrive(pipeline, delivery_ids=["evt_03"]))

    first = _redrive(pipeline, delivery_ids=["evt_12"], progress=meanwhile)

    [during] = concurrent
    assert (during.moved, during.not_found, during.in_flight, during.retry_seconds) == (0, {"evt_03"}, 10, 30)
    assert (first.moved, first.not_found) == (1, frozenset())
    assert queue_depth(pipeline.sqs, pipeline.dlq_url) == (14, 0)  # released when its scan ended
    after = _redrive(pipeline, delivery_ids=["evt_03"])
    assert (after.moved, after.not_found, after.in_flight) == (1, frozenset(), 0)


def test_an_unanswered_call_stops_the_run_and_releases_what_it_held(pipeline: Pipeline) -> None:
    _fill_dlq(pipeline, 5)
    timeout = Interrupting(
        pipeline.sqs, "send_message", at=2, error=lambda: ReadTimeoutError(endpoint_url=pipeline.queue_url)
    )
    events: list[RedriveProgress] = []

    with pytest.raises(ReadTimeoutError):
        _redrive(pipeline, timeout, progress=events.append)

    assert [event.action for event in events] == ["moved"]  # not four more "failed", each as slow
    assert queue_depth(pipeline.sqs, pipeline.dlq_url) == (4, 0)


def test_an_unreadable_in_flight_count_is_reported_unknown_and_the_result_kept(pipeline: Pipeline) -> None:
    _fill_dlq(pipeline, 2)
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetQueueAttributes")
    counting_denied = Interrupting(pipeline.sqs, "get_queue_attributes", at=1, error=lambda: denied)

    result = _redrive(pipeline, counting_denied, delivery_ids=["evt_01", "evt_gone"])

    assert (result.moved, result.not_found, result.in_flight) == (1, frozenset({"evt_gone"}), None)


# --------------------------------------------------------------------------- the command


def _redrive_args(config: Path, pipeline: Pipeline) -> list[str]:
    """``redrive SOURCE`` against the test pipeline's moto queues."""
    return [
        "redrive",
        SOURCE,
        "--endpoint-url",
        os.environ["AWS_ENDPOINT_URL"],
        "--queue-url",
        pipeline.queue_url,
        "--dlq-url",
        pipeline.dlq_url,
        "--config",
        str(config),
    ]


def _cli(config: Path, pipeline: Pipeline, *args: str) -> Any:
    return CliRunner().invoke(app, [*_redrive_args(config, pipeline), *args])


def _hide(pipeline: Pipeline, count: int) -> None:
    """What an interrupted run leaves: ``count`` messages received and not released."""
    got = pipeline.sqs.receive_message(QueueUrl=pipeline.dlq_url, MaxNumberOfMessages=count, VisibilityTimeout=30)
    assert len(got["Messages"]) == count


def test_the_command_says_messages_are_in_flight_instead_of_nothing_to_redrive(
    pipeline: Pipeline, config: Path
) -> None:
    _fill_dlq(pipeline, 3)
    _hide(pipeline, 3)

    result = _cli(config, pipeline)

    assert result.exit_code == 1
    assert "3 message(s) are in flight (held by another consumer or an interrupted run)" in result.output
    assert "retry in up to 30 seconds" in result.output
    assert "nothing to redrive" not in result.output


def test_the_command_says_a_hidden_delivery_may_be_in_flight_instead_of_not_in_the_dlq(
    pipeline: Pipeline, config: Path
) -> None:
    _fill_dlq(pipeline, 3)
    _hide(pipeline, 1)  # evt_00, the oldest

    result = _cli(config, pipeline, "--delivery-id", "evt_00")

    assert result.exit_code == 1
    assert "not seen: evt_00, which may be hidden: 1 message(s) are in flight" in result.output
    assert "not in the DLQ" not in result.output


def test_the_command_fails_a_full_redrive_that_left_messages_in_flight(pipeline: Pipeline, config: Path) -> None:
    _fill_dlq(pipeline, 3)
    _hide(pipeline, 1)

    result = _cli(config, pipeline)

    assert result.exit_code == 1
    assert "not redriven: 1 message(s) are in flight" in result.output
    assert queue_depth(pipeline.sqs, pipeline.queue_url) == (2, 0)


def test_sigterm_stops_the_command_like_ctrl_c_and_leaves_nothing_hidden(pipeline: Pipeline, config: Path) -> None:
    _fill_dlq(pipeline, 15)
    # The command in its own process, terminated while it sends its third message.
    script = (
        "import os, signal, sys\n"
        "import webhook_kit.redrive as logic\n"
        "from webhook_kit.cli import main\n"
        "run = logic.redrive\n"
        "class Terminating:\n"
        "    def __init__(self, client): self.client, self.sends = client, 0\n"
        "    def __getattr__(self, name):\n"
        "        if name != 'send_message': return getattr(self.client, name)\n"
        "        self.sends += 1\n"
        "        if self.sends == 3: os.kill(os.getpid(), signal.SIGTERM)\n"
        "        return self.client.send_message\n"
        "logic.redrive = lambda **kw: run(**{**kw, 'sqs_client': Terminating(kw['sqs_client'])})\n"
        "sys.argv[0] = 'webhook_kit'\n"
        "main()\n"
    )
    command = [sys.executable, "-c", script, *_redrive_args(config, pipeline)]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "lambdas")])}

    finished = subprocess.run(  # noqa: S603 - our own interpreter and module
        command, capture_output=True, text=True, timeout=60, env=environment, cwd=REPO
    )

    assert finished.returncode == 130, finished.stderr
    assert "interrupted after 2 moved" in finished.stderr
    assert "stopped while moving delivery evt_02" in finished.stderr
    assert queue_depth(pipeline.sqs, pipeline.dlq_url) == (13, 0)
    assert _delivery_ids(pipeline, pipeline.queue_url) == Counter({"evt_00": 1, "evt_01": 1})


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        server.close()


@pytest.mark.parametrize("deployed", [False, True], ids=["--endpoint-url", "deployed (AWS_ENDPOINT_URL)"])
def test_an_endpoint_that_never_answers_fails_the_command_in_bounded_time_naming_it(
    silent_endpoint: str, config: Path, deployed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = ["--queue-url", f"{silent_endpoint}/1/q", "--dlq-url", f"{silent_endpoint}/1/q-dlq"]
    if deployed:
        monkeypatch.setenv("AWS_ENDPOINT_URL", silent_endpoint)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(name, "testing")
        where = ["--region", "eu-west-1"]
    else:
        where = ["--endpoint-url", silent_endpoint]
    started = time.monotonic()

    result = CliRunner().invoke(
        app,
        [
            "redrive",
            SOURCE,
            *where,
            *urls,
            "--connect-timeout",
            "0.3",
            "--read-timeout",
            "0.3",
            "--config",
            str(config),
        ],
    )

    assert result.exit_code == 1
    assert f"no answer from {silent_endpoint}" in result.output
    assert "read timeout 0.3 s, 3 attempts" in result.output
    assert time.monotonic() - started < 10  # three 0.3 s waits and two short back-offs
