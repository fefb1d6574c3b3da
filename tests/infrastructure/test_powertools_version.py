"""The deployed Powertools is the release the tests run, and the requirement files agree on it.

Powertools publishes each release's layer ARN as a public SSM parameter,
``/aws/service/powertools/python/{arch}/python{X.Y}/{release}`` (Powertools docs,
"Installation" > "Using SSM Parameter Store"; the path and its value are written by
aws-powertools/powertools-lambda-python .github/workflows/update_ssm.yml).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.config import ConfigError, parse_config
from stacks.lambda_factory import ROOT, pinned_version, powertools_layer_parameter
from tests.infrastructure.conftest import Synthesized, default_config_data

TESTED_WITH = ROOT / "requirements-dev.txt"  # the main test run
RUNTIME = ROOT / "requirements-lambda-runtime.txt"  # the Python 3.13 run (`make test-py313`)


def test_every_function_gets_the_layer_of_the_powertools_release_the_tests_run(default_stack: Synthesized) -> None:
    tested = pinned_version("aws-lambda-powertools", TESTED_WITH)
    functions = default_stack.resources("AWS::Lambda::Function")
    assert functions
    for function in functions.values():
        # Powertools' first; a verifier serving a public-key source has the cryptography layer after it.
        layer = function["Properties"]["Layers"][0]
        parameter = default_stack.json["Parameters"][layer["Ref"]]
        # CloudFormation reads the parameter when it deploys: the template names the release, no layer number.
        assert parameter == {
            "Type": "AWS::SSM::Parameter::Value<String>",
            "Default": f"/aws/service/powertools/python/arm64/python3.13/{tested}",
        }


def test_both_test_runs_use_the_powertools_release_the_stack_deploys() -> None:
    assert pinned_version("aws-lambda-powertools", RUNTIME) == pinned_version("aws-lambda-powertools", TESTED_WITH)


def test_the_python313_run_validates_the_configuration_with_the_synth_pydantic() -> None:
    assert pinned_version("pydantic", ROOT / "requirements-py313.txt") == pinned_version(
        "pydantic", ROOT / "requirements.txt"
    )


def test_the_layer_parameter_is_named_for_the_release_runtime_and_architecture() -> None:
    assert powertools_layer_parameter("3.37.0") == "/aws/service/powertools/python/arm64/python3.13/3.37.0"


@pytest.mark.parametrize("release", ["latest", "27", "2.43.1", "3.37"])
def test_a_pin_that_names_no_v3_release_fails_synth(release: str) -> None:
    with pytest.raises(ValueError, match="pin a Powertools v3 release"):
        powertools_layer_parameter(release)


def test_a_requirements_file_without_the_pin_fails_synth_naming_the_file(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements-lambda-runtime.txt"
    requirements.write_text("aws-lambda-powertools>=3.37.0\nboto3==1.35.36\n")
    with pytest.raises(ValueError, match=r"requirements-lambda-runtime\.txt: no 'aws-lambda-powertools==<version>'"):
        pinned_version("aws-lambda-powertools", requirements)


def test_a_pin_is_found_with_extras_and_any_spelling_of_the_name(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\n-r other.txt\nAWS_Lambda.Powertools[tracer]==3.37.0  # layer\n")
    assert pinned_version("aws-lambda-powertools", requirements) == "3.37.0"


def test_the_old_layer_number_setting_fails_with_where_the_release_is_pinned() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({**default_config_data(), "powertools_layer_version": 27})
    message = str(raised.value)
    assert "powertools_layer_version: remove this setting" in message
    assert "requirements-lambda-runtime.txt" in message
