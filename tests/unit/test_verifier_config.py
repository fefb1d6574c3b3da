"""The verifier's environment: defaults, and errors that name the bad field."""

from __future__ import annotations

import json

import pytest

from verifier.adapters import SecretFormatError, parse_secret
from verifier.config import DEFAULT_TOLERANCE_SECONDS, ConfigError, load_config

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"


def _env(sources: dict, **extra: str) -> dict[str, str]:
    return {"WEBHOOK_SOURCES": json.dumps(sources), "CLAIM_CHECK_BUCKET": "b", **extra}


def test_minimal_source_gets_defaults() -> None:
    config = load_config(_env({"gh": {"scheme": "github", "queue_url": QUEUE, "secret_arn": ARN}}))
    source = config.sources["gh"]
    assert (source.scheme, source.tolerance_seconds, dict(source.options)) == ("github", DEFAULT_TOLERANCE_SECONDS, {})
    assert config.max_body_bytes > config.claim_check_threshold_bytes


@pytest.mark.parametrize(
    ("sources", "extra", "names"),
    [
        ({"x": {"scheme": "gitlab", "queue_url": QUEUE, "secret_arn": ARN}}, {}, "WEBHOOK_SOURCES['x'].scheme"),
        ({"x": {"scheme": "github", "secret_arn": ARN}}, {}, "WEBHOOK_SOURCES['x'].queue_url"),
        ({"x": {"scheme": "github", "queue_url": QUEUE, "secret_arn": ARN, "tolerance_seconds": "5"}}, {}, "tolerance"),
        ({"x": {"scheme": "twilio", "queue_url": QUEUE, "secret_arn": ARN}}, {}, "options.public_url"),
        ({"x": {"scheme": "generic-hmac", "queue_url": QUEUE, "secret_arn": ARN}}, {}, "signature_header"),
        ({}, {"MAX_BODY_BYTES": "big"}, "MAX_BODY_BYTES"),
        ({}, {"CLAIM_CHECK_BUCKET": ""}, "CLAIM_CHECK_BUCKET"),
    ],
)
def test_invalid_configuration_names_the_field(sources: dict, extra: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        load_config(_env(sources, **extra))


def test_sources_that_are_not_json_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SOURCES"):
        load_config({"WEBHOOK_SOURCES": "{nope"})


@pytest.mark.parametrize(
    ("secret_string", "expected"),
    [('{"secrets": ["a", "b"]}', ["a", "b"]), ('{"secrets": "only"}', ["only"]), ('{"secrets": []}', [])],
)
def test_secret_string_formats(secret_string: str, expected: list[str]) -> None:
    assert parse_secret(secret_string) == expected


@pytest.mark.parametrize("secret_string", [None, b"bytes", "plain", "[]", '{"secrets": {"a": 1}}', '{"other": 1}'])
def test_malformed_secret_strings_are_refused(secret_string: object) -> None:
    with pytest.raises(SecretFormatError):
        parse_secret(secret_string)


def test_tracer_is_opt_in_and_the_x_ray_sdk_stays_unloaded_without_it() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    probe = (
        "import sys, verifier.handler as h; "
        "print(h.TRACER_ENABLED, hasattr(h, 'tracer'), 'aws_xray_sdk.core' in sys.modules)"
    )
    outputs = {}
    for flag in ("false", "true"):
        env = {**os.environ, "WEBHOOK_KIT_VERIFIER_TRACER": flag, "PYTHONPATH": str(root / "lambdas")}
        result = subprocess.run(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=120
        )
        outputs[flag] = result.stdout.split()
    assert outputs["false"] == ["False", "False", "False"]
    assert outputs["true"] == ["True", "True", "True"]
