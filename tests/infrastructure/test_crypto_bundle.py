"""The verifier's ``cryptography`` layer: built only when a source needs it, and built for arm64 / CPython 3.13.

The proof reads the staged layer folder (``asset.<hash>``, the folder ``cdk deploy``
zips): each wheel's own tags (``*.dist-info/WHEEL``) and the ELF header of each
compiled extension (machine 0xB7, AArch64), not the file names alone.

Network: the first run on a machine downloads the wheels from PyPI (about 5 MB,
pip's configuration applies); they are cached in ``.layer-cache/`` and every later
synth, here and in ``cdk synth``, is offline. Without network and cache the
fixture fails with the layer's own error, which names the fix.

Until a public-key scheme is registered, the tests mark one HMAC scheme as needing
``cryptography`` while they synthesize: the wiring does not depend on which scheme it is.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
from collections.abc import Iterator
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cfnlint.api import lint_all
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag
from packaging.utils import canonicalize_name

from stacks.config import parse_config
from stacks.crypto_layer import (
    LAYER_PACKAGES,
    PLATFORMS,
    RUNTIME_SITE_PACKAGES,
    SITE_PACKAGES,
    CryptographyLayer,
    LayerPins,
    WheelCache,
    runtime_python,
    sources_needing_cryptography,
)
from tests.infrastructure.conftest import FEATURE_FLAGS, ROOT, Synthesized, synthesize
from webhook_verify.schemes import SCHEMES

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
STAND_IN = "github"  # an HMAC scheme marked as public-key for these tests
ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 0xB7
# The python3.13 runtime's interpreter and platform, as PEP 508 markers see them.
LAMBDA_MARKERS = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": "3.13",
    "python_full_version": "3.13.0",
    "sys_platform": "linux",
    "os_name": "posix",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "extra": "",
}
PUBLIC_KEY_CONFIG = {
    "stack_name": "WebhookKitPublicKey",
    "sources": [{"name": "signed", "scheme": STAND_IN}, {"name": "stripe", "scheme": "stripe"}],
}


@pytest.fixture(scope="module")
def public_key_stack() -> Iterator[Synthesized]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(SCHEMES[STAND_IN]), "needs_cryptography", True)
        synthesized = synthesize(parse_config(PUBLIC_KEY_CONFIG))
    yield synthesized


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip without any index, link or configuration file: it can only fail to download."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)


def layers(synth: Synthesized) -> dict[tuple[str, str], Any]:
    return synth.all_resources("AWS::Lambda::LayerVersion")


def staged_layer(synth: Synthesized) -> Path:
    """The folder the synth staged for the layer: ``asset.<hash>`` beside the template."""
    ((_, layer),) = layers(synth).items()
    key = layer["Properties"]["Content"]["S3Key"]
    return Path(synth.stack.node.root.outdir) / f"asset.{key.removesuffix('.zip')}"


def site_packages(synth: Synthesized) -> Path:
    return staged_layer(synth) / SITE_PACKAGES


def dist_infos(synth: Synthesized) -> dict[str, Path]:
    return {
        canonicalize_name(path.name.removesuffix(".dist-info").rsplit("-", 1)[0]): path
        for path in site_packages(synth).glob("*.dist-info")
    }


def metadata(dist_info: Path) -> Any:
    return HeaderParser().parsestr((dist_info / "METADATA").read_text(encoding="utf-8"))


def lambda_tags() -> set[Tag]:
    """Every wheel tag CPython 3.13 on the runtime's platform accepts (the tags pip asked for)."""
    return {
        *cpython_tags((3, 13), abis=["cp313"], platforms=PLATFORMS),
        *compatible_tags((3, 13), interpreter="cp313", platforms=PLATFORMS),
    }


def verifier(synth: Synthesized) -> dict[str, Any]:
    (function,) = [
        f
        for f in synth.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "verifier.handler.handler"
    ]
    return dict(function)


# ----------------------------------------------------------------- only when a source needs it


def test_an_hmac_only_deployment_has_no_layer_and_bundles_nothing(variant_stack: Synthesized) -> None:
    assert sources_needing_cryptography(variant_stack.config.sources) == [], "the variant is the HMAC-only case"
    assert variant_stack.stack.ingestion.cryptography is None
    assert layers(variant_stack) == {}
    assert len(verifier(variant_stack)["Properties"]["Layers"]) == 1  # Powertools' alone
    outdir = Path(variant_stack.stack.node.root.outdir)
    assert not [path for path in outdir.glob("asset.*/python") if path.is_dir()]


def test_the_sources_that_need_the_layer_are_those_of_public_key_schemes(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(PUBLIC_KEY_CONFIG)
    assert sources_needing_cryptography(config.sources) == []
    monkeypatch.setattr(type(SCHEMES[STAND_IN]), "needs_cryptography", True)
    assert sources_needing_cryptography(config.sources) == ["signed"]


def test_the_layer_is_for_python_313_on_arm64_and_attached_to_the_verifier_only(public_key_stack: Synthesized) -> None:
    ((where, layer_id), layer) = next(iter(layers(public_key_stack).items()))
    assert len(layers(public_key_stack)) == 1 and where == public_key_stack.config.stack_name
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert {"Ref": layer_id} in verifier(public_key_stack)["Properties"]["Layers"]
    others = [
        (key, function)
        for key, function in public_key_stack.all_resources("AWS::Lambda::Function").items()
        if function["Properties"].get("Handler") != "verifier.handler.handler"
    ]
    assert any(function["Properties"].get("Handler") == "processor.handler.handler" for _, function in others)
    for key, function in others:
        assert layer_id not in json.dumps(function), key
        assert len(function["Properties"].get("Layers", [])) <= 1, key  # Powertools' at most


def test_the_layer_puts_its_packages_where_lambda_looks_first(public_key_stack: Synthesized) -> None:
    # /opt/python/lib/python3.13/site-packages comes before /opt/python on the runtime's sys.path.
    assert SITE_PACKAGES == "python/lib/python3.13/site-packages"
    assert [path.name for path in staged_layer(public_key_stack).iterdir()] == ["python"]
    assert (site_packages(public_key_stack) / "cryptography" / "__init__.py").is_file()
    assert not (site_packages(public_key_stack) / "bin").exists()


# ----------------------------------------------------------------- the arm64 / CPython 3.13 build


def test_the_layer_holds_exactly_the_pinned_releases(public_key_stack: Synthesized) -> None:
    pins = dict(LayerPins.read().pins)
    assert set(pins) == set(LAYER_PACKAGES)
    found = {name: metadata(path)["Version"] for name, path in dist_infos(public_key_stack).items()}
    assert found == pins


def test_every_wheel_is_tagged_for_cpython_313_on_linux_aarch64(public_key_stack: Synthesized) -> None:
    accepted = lambda_tags()
    for name, dist_info in dist_infos(public_key_stack).items():
        wheel = HeaderParser().parsestr((dist_info / "WHEEL").read_text(encoding="utf-8"))
        tags = {tag for line in wheel.get_all("Tag") for tag in parse_tag(line)}
        assert tags & accepted, (name, tags)
        if wheel["Root-Is-Purelib"] == "false":  # compiled: built for aarch64 and nothing else
            assert {tag.platform for tag in tags} <= set(PLATFORMS), (name, tags)
            assert {tag.interpreter for tag in tags} <= {f"cp3{minor}" for minor in range(2, 14)}, (name, tags)
        else:
            assert tags == {Tag("py3", "none", "any")}, (name, tags)
    assert dist_infos(public_key_stack)["cryptography"].joinpath("WHEEL").read_text().count("abi3") >= 1


def test_every_compiled_extension_is_an_aarch64_elf(public_key_stack: Synthesized) -> None:
    root = site_packages(public_key_stack)
    extensions = {path.relative_to(root).as_posix(): path for path in root.rglob("*.so")}
    # cryptography's Rust bindings (stable ABI) and cffi's backend, built for CPython 3.13 on aarch64.
    assert "cryptography/hazmat/bindings/_rust.abi3.so" in extensions
    assert "_cffi_backend.cpython-313-aarch64-linux-gnu.so" in extensions
    for name, path in extensions.items():
        header = path.read_bytes()[:20]
        assert header[:4] == ELF_MAGIC, name
        assert header[4] == 2 and header[5] == 1, name  # ELFCLASS64, little-endian
        assert int.from_bytes(header[18:20], "little") == EM_AARCH64, name


_USES_THE_BYTE_CODE = """
import json, marshal, sys
sys.path[:0] = [sys.argv[1]]
import pycparser.c_parser as module
with open(module.__cached__, "rb") as pyc:
    data = pyc.read()
print(json.dumps({"cached": module.__cached__, "recorded": marshal.loads(data[16:]).co_filename}))
"""


def test_the_layer_ships_byte_code_that_cpython_313_uses_as_it_is(public_key_stack: Synthesized) -> None:
    # /opt is read-only in Lambda: without byte code each cold start would compile cryptography's modules.
    python = runtime_python()
    assert python, "no CPython 3.13 here: `make lambda-runtime` builds .venv-py313"
    magic = subprocess.run(  # noqa: S603 - the runtime's interpreter, asked for its magic number
        [python, "-c", "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    root = site_packages(public_key_stack)
    sources = list(root.rglob("*.py"))
    assert len(sources) > 50
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        header = pyc.read_bytes()[:8]
        assert header[:4].hex() == magic, pyc
        assert int.from_bytes(header[4:8], "little") == 0b01, pyc  # hash-based, source never checked
    # -B: Python writes nothing; it imports from the shipped pyc, whose recorded source path is the function's.
    used = subprocess.run(  # noqa: S603 - the runtime's interpreter on our own snippet
        [python, "-I", "-S", "-B", "-c", _USES_THE_BYTE_CODE, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(used.stdout)
    assert Path(result["cached"]).is_file()
    assert result["recorded"] == f"{RUNTIME_SITE_PACKAGES}/pycparser/c_parser.py"  # the path in the function


def test_the_layer_has_every_dependency_python_313_needs(public_key_stack: Synthesized) -> None:
    present = {name: metadata(path)["Version"] for name, path in dist_infos(public_key_stack).items()}
    for name, dist_info in dist_infos(public_key_stack).items():
        for line in metadata(dist_info).get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if requirement.marker and not Marker(str(requirement.marker)).evaluate(LAMBDA_MARKERS):
                continue
            dependency = canonicalize_name(requirement.name)
            assert dependency in present, f"{name} needs {line}"
            assert requirement.specifier.contains(present[dependency], prereleases=True), f"{name} needs {line}"


def test_the_tests_run_the_releases_the_layer_ships() -> None:
    for name, version in LayerPins.read().pins:
        assert importlib.metadata.version(name) == version, f"{name}: requirements-crypto-layer.txt pins {version}"


# ----------------------------------------------------------------- the cache and offline synth


def _layer_alone(cache: WheelCache | None = None) -> str:
    """A stack with only the layer, synthesized: its asset hash."""
    app = cdk.App(context=FEATURE_FLAGS)
    stack = cdk.Stack(app, "LayerAlone")
    CryptographyLayer(stack, "Cryptography", needed_by=["signed"], cache=cache)
    (layer,) = Template.from_stack(stack).find_resources("AWS::Lambda::LayerVersion").values()
    return str(layer["Properties"]["Content"]["S3Key"])


@pytest.mark.usefixtures("offline")
def test_a_synth_after_the_first_needs_no_network(public_key_stack: Synthesized) -> None:
    # The fixture's synth filled the cache; offline, the same layer, byte for byte (same asset hash).
    key = _layer_alone()
    assert key == f"{staged_layer(public_key_stack).name.removeprefix('asset.')}.zip"


@pytest.mark.usefixtures("offline")
def test_without_network_or_cache_synth_fails_and_says_how_to_fill_the_cache(tmp_path: Path) -> None:
    cache = WheelCache(tmp_path)
    wheels = cache.entry(LayerPins.read()) / "wheels"
    with pytest.raises(RuntimeError) as raised:
        _layer_alone(cache)
    message = str(raised.value)
    assert "pip could not download cryptography==" in message
    assert "source(s) signed use a public-key scheme" in message
    assert "PIP_INDEX_URL" in message
    assert re.search(rf"pip download --dest {re.escape(str(wheels))} .*--platform manylinux_2_28_aarch64", message)
    assert not wheels.exists()  # nothing half-downloaded is left to be taken for a cache


# ----------------------------------------------------------------- compliance with the layer


def test_cdk_nag_and_cfn_lint_find_nothing_with_the_layer(public_key_stack: Synthesized) -> None:
    assert public_key_stack.nag_findings == []
    errors = [
        f"{where}: {m.rule.id} {m.message}"
        for where, template in public_key_stack.templates().items()
        for m in lint_all(json.dumps(template))
        if m.rule.id.startswith("E")
    ]
    assert errors == []


def test_checkov_finds_nothing_in_the_template_with_the_layer(public_key_stack: Synthesized, tmp_path: Path) -> None:
    # The root template holds the layer and the verifier; test_checkov.py scans every template of the
    # default and variant deployments, which have no public-key source.
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make install` creates it")
    template = tmp_path / "root.template.json"
    template.write_text(json.dumps(public_key_stack.json))
    result = subprocess.run(  # noqa: S603 - the pinned checkov on a file we wrote
        [str(CHECKOV), "--file", str(template), "--framework", "cloudformation", "--output", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(result.stdout or "{}")
    failed = [(f["check_id"], f["resource"]) for f in report.get("results", {}).get("failed_checks", [])]
    assert failed == []
    summary = report.get("summary", report)  # --quiet with nothing failed prints the bare summary
    assert summary.get("parsing_errors") == 0 and summary.get("passed", 0) > 0, result.stderr[-2000:]
