"""The verifier's source table in SSM parameters: packed at synth, read at a cold start, read again while stale."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest

from shared import contract
from verifier import handler as verifier_handler
from verifier.config import ConfigError, load_config

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"


def _route(scheme: str = "github") -> dict[str, object]:
    return contract.source_route(scheme=scheme, queue_url=QUEUE, secret_arn=ARN, tolerance_seconds=300, options={})


class Parameters:
    """SSM as the verifier sees it: name -> value, and the names each call asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.calls: list[list[str]] = []

    def __call__(self, names: Sequence[str]) -> dict[str, str]:
        self.calls.append(list(names))
        return {name: self.values[name] for name in names if name in self.values}


def _published(tables: Mapping[str, Mapping[str, object]], digest: str = "d1") -> tuple[dict[str, str], Parameters]:
    values = {name: json.dumps(contract.source_table_chunk(digest, routes)) for name, routes in tables.items()}
    env = {**contract.table_in_parameters(list(tables), digest), "CLAIM_CHECK_BUCKET": "b"}
    return env, Parameters(values)


def test_the_table_is_the_union_of_its_parameters_read_in_one_call() -> None:
    env, read = _published({"/t/0": {"a": _route(), "b": _route("stripe")}, "/t/1": {"c": _route("shopify")}})
    config = load_config(env, read_parameters=read)
    assert {name: source.scheme for name, source in config.sources.items()} == {
        "a": "github",
        "b": "stripe",
        "c": "shopify",
    }
    assert config.sources_current
    assert read.calls == [["/t/0", "/t/1"]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "parameter /t/0 does not exist"),
        ("not json", "parameter /t/0 is not JSON"),
        (json.dumps({"a": {}}), 'parameter /t/0 must be a JSON object {"digest": ..., "sources": {...}}'),
    ],
)
def test_a_missing_or_malformed_parameter_fails_the_cold_start_naming_it(value: str | None, expected: str) -> None:
    env = {**contract.table_in_parameters(["/t/0"], "d1"), "CLAIM_CHECK_BUCKET": "b"}
    read = Parameters({} if value is None else {"/t/0": value})
    with pytest.raises(
        ConfigError, match=f"WEBHOOK_SOURCES_PARAMETERS: {expected}".replace("{", r"\{").replace("}", r"\}")
    ):
        load_config(env, read_parameters=read)


def test_a_source_in_two_parameters_is_refused() -> None:
    env, read = _published({"/t/0": {"a": _route()}, "/t/1": {"a": _route()}})
    with pytest.raises(ConfigError, match="parameter /t/1 repeats source"):
        load_config(env, read_parameters=read)


def test_every_route_is_validated_as_in_the_environment() -> None:
    env, read = _published({"/t/0": {"a": {**_route(), "scheme": "nope"}}})
    with pytest.raises(ConfigError, match=r"WEBHOOK_SOURCES\['a'\]\.scheme"):
        load_config(env, read_parameters=read)


def test_a_table_of_another_digest_is_served_but_not_current() -> None:
    env, read = _published({"/t/0": {"a": _route()}}, digest="old")
    env[contract.ENV_SOURCES_DIGEST] = "new"
    config = load_config(env, read_parameters=read)
    assert list(config.sources) == ["a"]
    assert not config.sources_current


def test_a_stale_table_is_read_again_until_it_matches_then_never(monkeypatch: pytest.MonkeyPatch) -> None:
    env, read = _published({"/t/0": {"a": _route()}}, digest="old")
    env[contract.ENV_SOURCES_DIGEST] = "new"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(verifier_handler, "read_ssm_parameters", read)
    clock = [1000.0]
    monkeypatch.setattr(verifier_handler.time, "monotonic", lambda: clock[0])
    verifier_handler.reset()
    try:
        assert list(verifier_handler.runtime().config.sources) == ["a"]
        clock[0] += verifier_handler.TABLE_RETRY_SECONDS / 2
        verifier_handler.runtime()
        assert len(read.calls) == 1  # not before TABLE_RETRY_SECONDS

        # CloudFormation has now written the table this function was configured with.
        read.values["/t/0"] = json.dumps(contract.source_table_chunk("new", {"a": _route(), "b": _route()}))
        clock[0] += verifier_handler.TABLE_RETRY_SECONDS
        state = verifier_handler.runtime()
        assert sorted(state.config.sources) == ["a", "b"] and state.config.sources_current
        clock[0] += 10 * verifier_handler.TABLE_RETRY_SECONDS
        verifier_handler.runtime()
        assert len(read.calls) == 2
    finally:
        verifier_handler.reset()


def test_packing_keeps_order_fills_each_parameter_and_names_an_entry_that_fits_none() -> None:
    sizes = {f"s{i}": 1000 for i in range(20)}
    chunks = contract.pack_source_table(sizes, budget=4096)
    assert [name for chunk in chunks for name in chunk] == list(sizes)
    assert [len(chunk) for chunk in chunks] == [4, 4, 4, 4, 4]
    for chunk in chunks:
        table = contract.source_table_chunk("0" * 16, {name: "x" * (1000 - 2) for name in chunk})
        assert len(json.dumps(table)) <= 4096
    with pytest.raises(ValueError, match=r"sources\[big\]: its entry in the source table would take about 5000 bytes"):
        contract.pack_source_table({"small": 10, "big": 5000}, budget=4096)
