"""Each function starts from what AWS gives it alone: the synthesized asset, the layer, the runtime.

Lambda's Python runtime puts the function's code, its layers and the runtime's own
packages on ``sys.path``, nothing else. Here each handler is imported, and its
cold-start state built, in a Python 3.13 process without site-packages whose path
holds only the asset folder the synth staged (``asset.<hash>``, the very folder
``cdk deploy`` zips) and a folder with only requirements-lambda-runtime.txt
installed (the Powertools release of the deployed layer, the runtime's boto3).
A module the tests' virtualenv happens to provide but AWS does not fails here,
not at the first cold start in an account. ``make lambda-runtime`` builds both.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stacks.lambda_factory import ROOT
from tests.infrastructure.conftest import Synthesized

RUNTIME_PYTHON = ROOT / ".venv-py313" / "bin" / "python"
RUNTIME_PACKAGES = ROOT / ".lambda-runtime"

# `-I -S`: no site-packages, no user site, no PYTHON* variables, no current directory:
# the standard library, then the folders given, first the asset as Lambda puts its task root first.
_COLD_START = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
module = importlib.import_module(sys.argv[2])
exec(sys.argv[3], {"handler": module})
"""
# What the first invocation builds, through each handler's public seams (clients, config, idempotency).
# The verifier's cold start reads its source table from SSM: here the parameters' synthesized
# values (references as placeholders) stand in for the call, through the config's reader seam.
_VERIFIER_COLD_START = """
import json
from verifier.config import load_config
values = json.loads({values!r})
handler.install(config=load_config(read_parameters=lambda names: {{n: values[n] for n in names if n in values}}))
"""
_PROCESSOR_COLD_START = "handler.runtime()"
# The sync's targets name each IP set by its Ref, which CloudFormation resolves to "name|id|scope".
_ALLOWLIST_SYNC_COLD_START = """
import json, os
from shared.contract import ENV_ALLOWLIST_TARGETS
targets = json.loads(os.environ[ENV_ALLOWLIST_TARGETS])
refs = {{preset: {{v: ref + "|id|REGIONAL" for v, ref in sets.items()}} for preset, sets in targets.items()}}
os.environ[ENV_ALLOWLIST_TARGETS] = json.dumps(refs)
handler.install()
"""


@pytest.fixture(scope="module")
def lambda_runtime() -> tuple[Path, Path]:
    # The Makefile is the one place that says how they are built; under `make test` this is a no-op.
    built = subprocess.run(
        ["make", "--no-print-directory", "lambda-runtime"],  # noqa: S607 - the repository's own Makefile target
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return RUNTIME_PYTHON, RUNTIME_PACKAGES


def cold_start(
    lambda_runtime: tuple[Path, Path], asset: Path, module: str, statement: str, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    python, packages = lambda_runtime
    return subprocess.run(  # noqa: S603 - the runtime's interpreter on our own snippet
        [str(python), "-I", "-S", "-c", _COLD_START, json.dumps([str(asset), str(packages)]), module, statement],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def staged_asset(synthesized: Synthesized, function: dict[str, Any]) -> Path:
    """The folder the synth staged for a function's code: ``asset.<hash>`` beside the template."""
    key = function["Properties"]["Code"]["S3Key"]
    asset = Path(synthesized.stack.node.root.outdir) / f"asset.{key.removesuffix('.zip')}"
    assert (asset / "verifier" / "handler.py").is_file(), f"no staged asset at {asset}"
    return asset


def lambda_environment(function: dict[str, Any], asset: Path) -> dict[str, str]:
    """The function's variables from the template (references as placeholders), and what Lambda adds."""
    variables = function["Properties"]["Environment"]["Variables"]
    return {
        **{name: _placeholder(value) for name, value in variables.items()},
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "smoke",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "LAMBDA_TASK_ROOT": str(asset),
        "_HANDLER": function["Properties"]["Handler"],
    }


def _source_table_values(synthesized: Synthesized) -> str:
    """Each source table parameter's name and value as SSM would return them, references as placeholders."""
    return json.dumps(
        {
            parameter["Properties"]["Name"]: _placeholder(parameter["Properties"]["Value"])
            for parameter in synthesized.resources("AWS::SSM::Parameter").values()
        }
    )


def _placeholder(value: Any) -> str:
    if isinstance(value, str):
        return value
    if set(value) == {"Ref"}:
        return f"placeholder-{value['Ref']}"
    if set(value) == {"Fn::GetAtt"}:
        return "placeholder-" + "-".join(value["Fn::GetAtt"])
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_placeholder(part) for part in parts)
    raise AssertionError(f"no placeholder for {value}: teach _placeholder this intrinsic")


@pytest.mark.parametrize(
    ("handler", "statement"),
    [
        ("verifier.handler.handler", _VERIFIER_COLD_START),
        ("processor.handler.handler", _PROCESSOR_COLD_START),
        ("allowlist_sync.handler.handler", _ALLOWLIST_SYNC_COLD_START),
    ],
)
def test_each_handler_starts_with_only_the_asset_the_layer_and_the_runtime(
    default_stack: Synthesized, lambda_runtime: tuple[Path, Path], handler: str, statement: str
) -> None:
    # The processors are in the sources' nested stacks, staged in the same assembly.
    functions = [
        function
        for function in default_stack.all_resources("AWS::Lambda::Function").values()
        if function["Properties"]["Handler"] == handler
    ]
    assert len(functions) == (len(default_stack.config.sources) if handler.startswith("processor") else 1)
    statement = statement.format(values=_source_table_values(default_stack))
    for function in functions:
        asset = staged_asset(default_stack, function)
        module = handler.rsplit(".", 1)[0]
        started = cold_start(lambda_runtime, asset, module, statement, lambda_environment(function, asset))
        assert started.returncode == 0, started.stderr


def test_an_import_the_runtime_cannot_satisfy_fails_the_check(
    tmp_path: Path, lambda_runtime: tuple[Path, Path]
) -> None:
    # requests is in both test virtualenvs, but neither the runtime nor the layer provides it.
    (tmp_path / "verifier").mkdir()
    (tmp_path / "verifier" / "__init__.py").write_text("")
    (tmp_path / "verifier" / "handler.py").write_text("import requests\n")
    started = cold_start(lambda_runtime, tmp_path, "verifier.handler", "pass", {})
    assert started.returncode != 0
    assert "No module named 'requests'" in started.stderr
