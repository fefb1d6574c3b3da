"""The product CLI holds what an operator uses; the soak and load harnesses live with the tests and benchmarks."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from webhook_kit.cli import app, send_hint
from webhook_kit.local import DEFAULT_HOST, LocalPipelineError
from webhook_kit.local.resources import require_free_port
from webhook_kit.local.state import RunningPipeline, read_state, write_state

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "webhook-kit.toml"


@pytest.mark.parametrize("command", ["local", "send", "redrive"])
def test_the_operator_commands_are_there(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])

    assert result.exit_code == 0, result.output
    assert "--config" in result.output


@pytest.mark.parametrize("command", ["soak", "load"])
def test_the_test_harnesses_are_no_operator_commands(command: str) -> None:
    # `soak` moved to tests/soak/harness (make soak) and `load` to bench/load (make bench).
    result = CliRunner().invoke(app, [command, "--help"])

    assert result.exit_code == 2
    assert "No such command" in result.output


# --------------------------------------------------------------------------- local's ports, send's target


class _Recorder(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.paths.append(self.path)
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"id":"evt_1"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[str]]]:
    """An HTTP server on a free port standing in for the local pipeline's front; yields its port and the paths."""
    paths: list[str] = []
    handler = type("Recorder", (_Recorder,), {"paths": paths})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], paths
    finally:
        server.shutdown()
        server.server_close()


def test_send_posts_to_the_port_it_is_given(receiver: tuple[int, list[str]]) -> None:
    port, paths = receiver
    result = CliRunner().invoke(app, ["send", "stripe", "--port", str(port), "--config", str(CONFIG)])

    assert result.exit_code == 0, result.output
    assert paths == ["/webhooks/stripe"]


def test_send_finds_the_pipeline_running_from_this_directory(
    receiver: tuple[int, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, paths = receiver
    monkeypatch.chdir(tmp_path)
    write_state(RunningPipeline(url=f"http://127.0.0.1:{port}", aws_endpoint="http://127.0.0.1:1", pid=os.getpid()))

    result = CliRunner().invoke(app, ["send", "stripe", "--config", str(CONFIG)])

    assert result.exit_code == 0, result.output
    assert paths == ["/webhooks/stripe"]


def test_a_state_file_left_by_a_killed_pipeline_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    path = tmp_path / "local.json"
    write_state(RunningPipeline(url="http://127.0.0.1:1", aws_endpoint="", pid=int(dead.stdout)), path)

    assert read_state(path) is None


def test_the_banners_send_hint_works_as_printed(
    receiver: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, paths = receiver
    monkeypatch.chdir(ROOT)
    pipeline = SimpleNamespace(host=DEFAULT_HOST, port=port, webhook_url=None)

    hint = send_hint(pipeline, "stripe")  # type: ignore[arg-type]
    command = [*shlex.split(hint), "--config", str(CONFIG)]
    completed = subprocess.run(command, capture_output=True, text=True)  # noqa: S603 - the hint this test built

    assert Path(command[0]).absolute() == Path(sys.executable).absolute(), "this interpreter, not bare python"
    assert f"--port {port}" in hint
    assert completed.returncode == 0, completed.stderr
    assert paths == ["/webhooks/stripe"]


def test_a_port_something_listens_on_is_refused_with_the_fix() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(LocalPipelineError, match="something is listening there") as refused:
            require_free_port("127.0.0.1", port, "--port")
    assert "--port" in str(refused.value)


def test_a_port_with_only_time_wait_connections_is_free() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end of the connection waits in TIME-WAIT
    client.close()
    listener.close()

    require_free_port("127.0.0.1", port, "--port")
