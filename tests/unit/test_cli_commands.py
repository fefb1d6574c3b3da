"""The product CLI holds what an operator uses; the soak and load harnesses live with the tests and benchmarks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from webhook_kit.cli import app


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
