"""The verifier's ``cryptography`` layer: arm64 / CPython 3.13 wheels that pip fetches at synth, without Docker.

Public-key schemes (``Scheme.uses_cryptography``: Ed25519, ECDSA, RSA certificates)
verify with ``cryptography``, which Lambda's Python runtime does not provide. A
deployment with such a source gets a layer of the releases pinned in
requirements-crypto-layer.txt, attached to the verifier alone; a deployment of HMAC
sources only gets no layer, and its synth never runs pip.

How the layer is built (CDK local bundling, so no Docker): ``pip download`` fetches the
wheels for the function's platform, not this machine's (``--platform`` manylinux
aarch64, ``--python-version 3.13``, ``--implementation cp``, ``--only-binary=:all:``,
``--no-deps``: the pins are the whole set), then ``pip install --target`` unpacks them
offline, and a CPython 3.13 of this machine, if there is one, compiles their byte code
(Lambda's ``/opt`` is read-only: without it every cold start compiles cryptography's
modules again). Both results are kept in a cache folder per platform and releases
(``.layer-cache/``, git-ignored), so only the first synth on a machine uses the network;
every later one copies the cached tree. Without network and cache, synth fails and the
error says how to fill the cache.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsii
from aws_cdk import Annotations, AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.lambda_factory import ARCHITECTURE, ROOT, RUNTIME, pinned_version
from webhook_verify.schemes import SCHEMES

if TYPE_CHECKING:
    from stacks.source_config import SourceConfig

CRYPTO_LAYER_REQUIREMENTS = ROOT / "requirements-crypto-layer.txt"
# cryptography and what it loads on CPython; each is pinned in CRYPTO_LAYER_REQUIREMENTS.
LAYER_PACKAGES = ("cryptography", "cffi", "pycparser")
DEFAULT_CACHE = ROOT / ".layer-cache"

# The function's interpreter and platform, for pip. python3.13 runs on Amazon Linux 2023
# (glibc 2.34), which loads manylinux wheels built for glibc 2.28 or older. pip takes the
# tags as given (it does not widen manylinux_2_28 to older glibc tags) and prefers them in
# this order.
PYTHON_VERSION = RUNTIME.name.removeprefix("python")
ABI = "cp" + PYTHON_VERSION.replace(".", "")
PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
# Lambda puts /opt/python/lib/python3.13/site-packages on sys.path before /opt/python, where
# other layers put packages (the Powertools layer of the [all] extras may carry a cryptography
# of its own): the pinned release is the one imported, whatever the order of the layers.
SITE_PACKAGES = f"python/lib/{RUNTIME.name}/site-packages"
# Where the layer's packages lie in the function (Lambda extracts layers into /opt): the
# source path recorded in the byte code, as tracebacks there will show it.
RUNTIME_SITE_PACKAGES = f"/opt/{SITE_PACKAGES}"
# CPython 3.13 interpreters that compile the byte code: the Python 3.13 test run's
# virtualenv (Makefile, VENV313), then one on PATH.
_BYTECODE_PYTHONS = (ROOT / ".venv-py313" / "bin" / "python", f"python{PYTHON_VERSION}")

_PIP_TIMEOUT_SECONDS = 600


def sources_needing_cryptography(sources: Iterable[SourceConfig]) -> list[str]:
    """The names of the sources whose scheme verifies with ``cryptography``."""
    return [source.name for source in sources if SCHEMES[source.scheme].uses_cryptography(source.verifier_options())]


class LayerBuildError(RuntimeError):
    """The layer's wheels could not be fetched or installed; the message says how to fix it."""


@dataclass(frozen=True)
class LayerPins:
    """The releases the layer holds, as ``(name, version)``."""

    pins: tuple[tuple[str, str], ...]

    @classmethod
    def read(cls, requirements: Path = CRYPTO_LAYER_REQUIREMENTS) -> LayerPins:
        return cls(tuple((name, pinned_version(name, requirements)) for name in LAYER_PACKAGES))

    @property
    def requirements(self) -> list[str]:
        return [f"{name}=={version}" for name, version in self.pins]

    @property
    def cache_key(self) -> str:
        """The cache folder's path: the platform, then the releases."""
        return f"{ABI}-{PLATFORMS[0]}/" + "+".join(f"{name}-{version}" for name, version in self.pins)


def _pip_platform_options() -> list[str]:
    options = ["--only-binary=:all:", "--no-deps", "--implementation", "cp", "--python-version", PYTHON_VERSION]
    options += ["--abi", ABI]
    for platform in PLATFORMS:
        options += ["--platform", platform]
    return options


def _pip(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", *arguments, "--disable-pip-version-check", "--no-input"]
    try:
        return subprocess.run(  # noqa: S603 - this interpreter's pip, with fixed options and pinned names
            command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as error:
        return subprocess.CompletedProcess(command, 1, "", f"pip timed out after {error.timeout} s")


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def _publish(built: Path, final: Path) -> None:
    """Move a finished folder into place in one step; a concurrent synth that finished first wins."""
    try:
        built.rename(final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(built, ignore_errors=True)


def runtime_python() -> str | None:
    """A CPython of the runtime's version on this machine (compiles the layer's byte code), or None."""
    for candidate in _BYTECODE_PYTHONS:
        found = shutil.which(str(candidate))
        if found is None:
            continue
        probe = subprocess.run(  # noqa: S603 - asks an interpreter for its version
            [found, "-c", "import sys; print(sys.implementation.name, *sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if probe.stdout.split() == ["cpython", *PYTHON_VERSION.split(".")]:
            return found
    return None


class WheelCache:
    """The layer's wheels and their installed tree on disk, one folder per platform and pinned releases.

    ``<root>/<cache key>/wheels`` holds what ``pip download`` fetched (or what an
    operator copied there for an offline machine); ``.../installed`` the tree
    ``pip install --target`` made of them, with byte code compiled by
    ``bytecode_python`` (a CPython 3.13), or ``.../installed-without-bytecode``
    without one. Each appears whole or not at all.
    """

    def __init__(self, root: Path = DEFAULT_CACHE, *, bytecode_python: str | None = None) -> None:
        self.root = root
        self.bytecode_python = bytecode_python

    def entry(self, pins: LayerPins) -> Path:
        return self.root / pins.cache_key

    def installed(self, pins: LayerPins, *, needed_by: Sequence[str] = ()) -> Path:
        """The installed tree of ``pins`` for the function's platform, fetched and installed on first use."""
        entry = self.entry(pins)
        target = entry / ("installed" if self.bytecode_python else "installed-without-bytecode")
        if target.is_dir():
            return target
        wheels = self._wheels(pins, needed_by)
        with tempfile.TemporaryDirectory(dir=entry, prefix=".installing-") as work:
            built = Path(work) / "site-packages"
            # Offline and isolated from pip's configuration: only the cached wheels can be installed.
            result = _pip(
                "install",
                "--isolated",
                "--no-index",
                "--find-links",
                str(wheels),
                "--target",
                str(built),
                "--no-compile",
                *_pip_platform_options(),
                *pins.requirements,
            )
            if result.returncode != 0:
                raise LayerBuildError(
                    f"cryptography layer: pip could not install {', '.join(pins.requirements)} from {wheels}:\n"
                    f"{_tail(result.stderr)}\n"
                    f"Delete {entry} and synthesize again (with network access) to fetch the wheels afresh."
                )
            # Console scripts name this machine's interpreter; the function runs none.
            shutil.rmtree(built / "bin", ignore_errors=True)
            if self.bytecode_python:
                self._compile(built)
            _publish(built, target)
        return target

    def _compile(self, built: Path) -> None:
        """Byte code for CPython 3.13 that the runtime uses as it is: unchecked-hash pycs (no timestamp).

        The CDK zips the layer with fixed file times, so timestamp-checked byte code
        would be stale in the function; the recorded paths are the function's, so the
        files are the same whichever folder they were compiled in.
        """
        assert self.bytecode_python is not None
        result = subprocess.run(  # noqa: S603 - a CPython 3.13's compileall over the tree pip just made
            [
                self.bytecode_python,
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                "--invalidation-mode",
                "unchecked-hash",
                "-s",
                str(built),
                "-p",
                RUNTIME_SITE_PACKAGES,
                str(built),
            ],
            capture_output=True,
            text=True,
            timeout=_PIP_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            raise LayerBuildError(
                f"cryptography layer: {self.bytecode_python} could not compile the layer's byte code:\n"
                f"{_tail(result.stdout + result.stderr)}"
            )

    def _wheels(self, pins: LayerPins, needed_by: Sequence[str]) -> Path:
        entry = self.entry(pins)
        wheels = entry / "wheels"
        if wheels.is_dir():
            return wheels
        entry.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=entry, prefix=".downloading-") as work:
            fetched = Path(work) / "wheels"
            # pip's own configuration applies (PIP_INDEX_URL, a proxy, certificates): a mirror works.
            result = _pip("download", "--dest", str(fetched), *_pip_platform_options(), *pins.requirements)
            if result.returncode != 0:
                raise LayerBuildError(_download_failed(pins, wheels, needed_by, result.stderr))
            _publish(fetched, wheels)
        return wheels


def download_command(pins: LayerPins, destination: Path) -> str:
    """The ``pip download`` that fills the cache, to run on a machine with network access."""
    return " ".join(["pip download", "--dest", str(destination), *_pip_platform_options(), *pins.requirements])


def _download_failed(pins: LayerPins, wheels: Path, needed_by: Sequence[str], stderr: str) -> str:
    sources = ", ".join(needed_by) or "a source"
    if "No module named pip" in stderr:
        return (
            f"cryptography layer: the Python running synth ({sys.executable}) has no pip, which fetches the layer's "
            f"wheels for source(s) {sources}: `{sys.executable} -m ensurepip`, or synthesize with the kit's "
            "virtualenv (make synth)."
        )
    return (
        f"cryptography layer: pip could not download {', '.join(pins.requirements)} for {RUNTIME.name} on "
        f"{ARCHITECTURE.name} (manylinux aarch64 wheels), and they are not in the cache ({wheels}). "
        f"The verifier needs them: source(s) {sources} use a public-key scheme.\n"
        f"pip said:\n{_tail(stderr)}\n"
        "Fix: synthesize once with access to PyPI (or a mirror: PIP_INDEX_URL), after which the cache serves every "
        "synth offline; or fetch the wheels on another machine and copy the folder here:\n"
        f"    {download_command(pins, wheels)}"
    )


@jsii.implements(ILocalBundling)
class _InstalledWheels:
    """Local bundling: the cached tree, under the layer's site-packages folder."""

    def __init__(self, cache: WheelCache, pins: LayerPins, needed_by: Sequence[str]) -> None:
        self._cache = cache
        self._pins = pins
        self._needed_by = tuple(needed_by)

    def try_bundle(self, output_dir: str, *_: Any, **__: Any) -> bool:
        installed = self._cache.installed(self._pins, needed_by=self._needed_by)
        shutil.copytree(installed, Path(output_dir) / SITE_PACKAGES, dirs_exist_ok=True)
        return True


class CryptographyLayer(Construct):
    """A layer of the pinned ``cryptography`` release for the kit's functions' runtime and architecture.

    ``needed_by`` names the sources that need it (the error message cites them);
    ``cache`` is where the wheels are kept between synths.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, needed_by: Sequence[str], cache: WheelCache | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.pins = LayerPins.read()
        cache = cache or WheelCache(bytecode_python=runtime_python())
        if cache.bytecode_python is None:
            Annotations.of(self).add_warning_v2(
                "webhook-kit:cryptography-layer-bytecode",
                f"No CPython {PYTHON_VERSION} here to compile the cryptography layer's byte code (`make test` builds "
                "one in .venv-py313): the layer ships source only, and each cold start of a public-key source "
                "compiles cryptography's modules (docs/performance.md).",
            )
        source = cache.entry(self.pins)
        source.mkdir(parents=True, exist_ok=True)
        versions = ", ".join(f"{name} {version}" for name, version in self.pins.pins)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(
                str(source),
                # The hash of the bundled tree: the layer changes exactly when its content does.
                asset_hash_type=AssetHashType.OUTPUT,
                bundling=BundlingOptions(
                    # Never pulled: local bundling either succeeds or fails synth with LayerBuildError.
                    image=DockerImage.from_registry("local-bundling-only"),
                    local=_InstalledWheels(cache, self.pins, needed_by),
                ),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"webhook-kit: {versions} for {RUNTIME.name} on {ARCHITECTURE.name} (public-key schemes)",
        )
