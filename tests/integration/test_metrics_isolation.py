"""Two functions in one process (as in the tests) keep their metric dimensions apart.

Powertools' ``Metrics`` instances share one metric set and one set of default
dimensions per process unless each has a provider of its own; the processor's
``source`` dimension then leaked into every verifier metric (and printed a
warning per request: about 20,000 in the full suite).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import pytest

from tests.support.processor import lambda_context, webhook
from tests.support.processor_pipeline import Pipeline, build_pipeline
from verifier import handler as verifier_handler
from verifier.config import VerifierConfig


@pytest.fixture
def pipeline(reset_moto: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    yield from build_pipeline(monkeypatch)


def _emf_lines(text: str) -> list[dict[str, object]]:
    documents = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    return [document for document in documents if "CloudWatchMetrics" in document["_aws"]]  # type: ignore[operator]


def test_the_processors_source_dimension_never_reaches_the_verifiers_metrics(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the processor of source "stripe" has run in this process
    pipeline.on()
    pipeline.send(webhook("evt_metrics"))
    pipeline.drain()
    assert pipeline.calls_for("evt_metrics") == 1
    capsys.readouterr()

    # When the verifier answers requests for an unknown source, twice
    verifier_handler.install(config=VerifierConfig(sources={}), adapters=object())  # type: ignore[arg-type]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                event = {"path": "/webhooks/nope", "pathParameters": {"source": "nope"}, "body": "{}"}
                assert verifier_handler.handler(event, lambda_context())["statusCode"] == 404
    finally:
        verifier_handler.reset()

    # Then its metrics carry only its own dimensions, and Powertools saw no clash
    assert not [w for w in caught if "already been added" in str(w.message)]
    lines = [line for line in _emf_lines(capsys.readouterr().out) if "Rejected" in line]
    assert len(lines) == 2
    assert all(line["source"] == "unknown" and line["service"] == "webhook-verifier" for line in lines)
