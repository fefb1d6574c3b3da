"""The local pipeline for the security tests (one per xdist worker), built from
``webhook-kit.security.toml``, and the handler its processors run for ``s-*`` sources.

The handler fails on request by delivery id prefix: ``retry-`` raises once
(retryable), ``perm-`` raises ``PermanentError``; anything else succeeds. It runs
in the processor workers; which deliveries already failed once is kept in a
ledger shared by every worker (``tests.support.ledger``). Everything the
functions write (stdout, stderr, their Powertools logs) goes to one file,
``function_output``, for the log tests to search.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from security_support import serve_by_prefix, write_function_output_to

from shared import contract
from stacks.config import load_config
from tests.support.ledger import ledger_server
from tests.support.local_pipeline import running_pipeline
from webhook_kit.local import LocalPipeline

CONFIG_PATH = Path(__file__).with_name("webhook-kit.security.toml")
SOURCE_PATTERN = "s-*"


@pytest.fixture(scope="session")
def function_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security-pipeline") / "functions.log"


@pytest.fixture(scope="session")
def pipeline(function_output: Path) -> Iterator[LocalPipeline]:
    def output_of(handler: str) -> functools.partial[None]:
        return functools.partial(write_function_output_to, str(function_output), handler.rpartition(".")[0])

    with (
        ledger_server() as ledger,
        running_pipeline(
            load_config(CONFIG_PATH),
            # The e2e_local pipeline of the same xdist worker shares moto's state.
            names="webhook-kit-security",
            verifier_setup=[output_of(contract.VERIFIER_HANDLER)],
            processor_setup=[
                output_of(contract.PROCESSOR_HANDLER),
                functools.partial(serve_by_prefix, ledger, SOURCE_PATTERN),
            ],
        ) as local,
    ):
        yield local
