"""The installable library: its wheel holds webhook_verify alone, a fresh virtualenv verifies with the README's
five lines, and neither the package nor a verification loads an AWS SDK or any other code of the kit."""

from __future__ import annotations

import ast
import base64
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from stacks.config import parse_config
from webhook_kit.devsecrets import dev_secret
from webhook_kit.send import build
from webhook_verify.providers import PROVIDERS
from webhook_verify.schemes import SCHEMES

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"
PACKAGE = LAMBDAS / "webhook_verify"
URL = "https://hooks.example.com/webhooks/p"

# What the library must never load: the AWS SDK and its transfer manager, the CDK and its
# runtime, Powertools; and every other top-level package of the kit (the rest of the Lambda
# asset, the stacks, the command line, the tests).
AWS_PACKAGES = frozenset({"boto3", "botocore", "s3transfer", "aws_cdk", "jsii", "aws_lambda_powertools"})
KIT_PACKAGES = frozenset(
    {path.stem for path in LAMBDAS.iterdir() if path.suffix == ".py" or (path / "__init__.py").exists()}
    - {"webhook_verify"}
) | {"stacks", "webhook_kit", "tests"}
FORBIDDEN = AWS_PACKAGES | KIT_PACKAGES

# The README block that a fresh virtualenv runs, found by the comment before it.
SNIPPET_MARKER = "<!-- tests/library/test_package.py runs the next block in a fresh virtualenv -->"


def readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(re.escape(SNIPPET_MARKER) + r"\s*```python\n(.*?)```", readme, re.DOTALL)
    assert found, f"README.md has no ```python block after {SNIPPET_MARKER}"
    return found.group(1)


def _delivery(provider: str, *, now: int, secret: str | None = None) -> dict[str, Any]:
    """One delivery of ``provider`` as its sender would sign it (webhook_kit.send), as JSON-able parts."""
    options = {"public_url": URL} if SCHEMES[PROVIDERS[provider].scheme].needs_public_url else {}
    source = parse_config({"stack_name": "Lib", "sources": [{"name": "p", "provider": provider, **options}]}).sources[0]
    secret = secret or dev_secret("p", source.scheme)
    webhook = build(source, secret=secret, url=URL, now=now)
    return {
        "provider": provider,
        "url": URL,
        "headers": dict(webhook.headers),
        "body": base64.b64encode(webhook.body).decode(),
        "secret": secret,
        "options": options or None,
        "delivery_id": webhook.delivery_id,
    }


def _run(python: Path | str, script: str, *arguments: str, cwd: Path, pythonpath: Path | None = None) -> Any:
    """The last line of what ``script`` printed, as JSON; the child sees no PYTHON* setting of ours."""
    env = {"PATH": "/usr/bin:/bin", **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    completed = subprocess.run(  # noqa: S603 - an interpreter of this test and its own script
        [str(python), "-c", script, *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.splitlines()[-1])


# ------------------------------------------------------------------------------------------- the wheel


def _setuptools_builds_wheels() -> bool:
    """Whether this interpreter's setuptools builds a wheel itself (70.1 and later: pyproject's build-system)."""
    try:
        version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        return False
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2]) >= (70, 1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip install .` builds, from a copy of what the build reads (setuptools builds in the tree).

    With this interpreter's setuptools when it is recent enough; else pip's isolated build fetches
    the build-system's setuptools from the configured index (about 2 s here).
    """
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("lambdas", "stacks", "webhook_kit"):  # the other packages, so that leaving them out is tested
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.cfg", "docs/library.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    isolation = ["--no-build-isolation"] if _setuptools_builds_wheels() else []
    completed = subprocess.run(  # noqa: S603 - this interpreter's pip on a copy of the repository
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--wheel-dir", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    (built,) = (work / "dist").glob("webhook_kit-*.whl")
    return built


def test_the_wheel_holds_webhook_verify_with_its_catalogue_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    metadata_dir = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
    assert {name.split("/")[0] for name in names} == {"webhook_verify", metadata_dir}
    expected = {
        path.relative_to(LAMBDAS).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file()
        and (path.suffix == ".py" or path.parent.name == "catalogue" or path.name == "py.typed")
        and "__pycache__" not in path.parts
    }
    assert {name for name in names if name.startswith("webhook_verify/")} == expected
    assert len([name for name in names if name.startswith("webhook_verify/providers/catalogue/")]) == len(PROVIDERS)
    assert "webhook_verify/py.typed" in names, "PEP 561: type checkers read the library's annotations"


def test_the_wheel_requires_nothing_but_cryptography_for_the_public_key_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        meta = archive.read(next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA")))
    requires = [line for line in meta.decode().splitlines() if line.startswith("Requires-Dist:")]
    pins = (ROOT / "requirements-crypto-layer.txt").read_text(encoding="utf-8")
    (layer_release,) = re.findall(r"^cryptography==(\S+)$", pins, re.MULTILINE)
    assert requires == [f'Requires-Dist: cryptography>={layer_release}; extra == "crypto"']


def test_a_fresh_virtualenv_verifies_stripe_and_github_with_the_readmes_five_lines(wheel: Path, tmp_path: Path) -> None:
    snippet = readme_snippet()
    assert len([line for line in snippet.splitlines() if line.strip()]) == 5, snippet
    # Given a virtualenv with nothing but the wheel (no pip of its own: this interpreter's pip installs into it)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)  # noqa: S603
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run(  # noqa: S603 - this interpreter's pip, offline, into the new virtualenv
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            str(wheel),
        ],
        check=True,
    )
    # and deliveries signed now, as Stripe and GitHub send them, and one signed with another secret
    now = int(time.time())
    stripe, github = _delivery("stripe", now=now), _delivery("github", now=now)
    stripe_library = pytest.importorskip("stripe")
    stripe_library.WebhookSignature.verify_header(
        base64.b64decode(stripe["body"]),
        next(value for name, value in stripe["headers"].items() if name.lower() == "stripe-signature"),
        stripe["secret"],
        tolerance=300,
    )  # Stripe's own library agrees that the delivery is signed as Stripe signs
    forged = {**github, "secret": "not-the-senders-secret"}
    (tmp_path / "cases.json").write_text(json.dumps([stripe, github, forged]))

    # When the virtualenv's python runs the README's block on each
    outcomes = _run(python, _SNIPPET_CHILD, snippet, str(tmp_path / "cases.json"), cwd=tmp_path)

    # Then the two are accepted and handed to the handler, the forgery is refused, from the installed package
    assert outcomes["origin"].startswith(str(tmp_path / "venv"))
    stripe_outcome, github_outcome, forged_outcome = outcomes["cases"]
    signed_types = (json.loads(base64.b64decode(stripe["body"]))["type"], github["headers"]["X-GitHub-Event"])
    for case, outcome, event_type in zip((stripe, github), (stripe_outcome, github_outcome), signed_types, strict=True):
        ((handled_type, _keys, handled_body),) = outcome["handled"]
        assert (handled_type, handled_body) == (outcome["event_type"], case["body"]) and handled_type == event_type
        assert outcome["status"] == 202 and json.loads(outcome["response_body"]) == {"id": case["delivery_id"]}
    # Stripe signs its event id, so the id is the key; GitHub does not sign its delivery id, so a digest is.
    assert stripe_outcome["handled"][0][1] == [stripe["delivery_id"]]
    assert [key.partition(":")[0] for key in github_outcome["handled"][0][1]] == ["sha256"]
    assert forged_outcome["handled"] == [] and forged_outcome["status"] == 401


# Runs the README's block (argv[1]) on each delivery of a file (argv[2]), with the names it uses bound.
_SNIPPET_CHILD = """
import base64, json, sys
snippet, cases = sys.argv[1], json.load(open(sys.argv[2]))
outcomes = []
for case in cases:
    handled = []
    names = {"provider": case["provider"], "url": case["url"], "headers": case["headers"],
             "body": base64.b64decode(case["body"]), "signing_secret": case["secret"],
             "handle": lambda *args: handled.append([args[0], args[1], base64.b64encode(args[2]).decode()])}
    exec(compile(snippet, "README.md", "exec"), names)
    outcomes.append({"handled": handled, "status": names["status"], "event_type": names["result"].event_type,
                     "response_body": names["response_body"].decode()})
import webhook_verify
print(json.dumps({"cases": outcomes, "origin": webhook_verify.__file__}))
"""


# ------------------------------------------------------------------------------------------- imports


def test_verifying_every_hmac_provider_loads_no_aws_sdk_and_nothing_else_of_the_kit(tmp_path: Path) -> None:
    # Given a signed delivery of every provider that verifies without cryptography or a fetched key
    now = int(time.time())
    hmac_providers = sorted(
        name for name, entry in PROVIDERS.items() if not SCHEMES[entry.scheme].uses_cryptography(entry.options)
    )
    assert {"stripe", "github", "shopify", "slack"} <= set(hmac_providers)
    (tmp_path / "cases.json").write_text(json.dumps([_delivery(name, now=now) for name in hmac_providers]))
    # When a fresh interpreter with only lambdas/ on its path (where boto3 and Powertools are installed) verifies them
    outcome = _run(sys.executable, _GUARD_CHILD, str(tmp_path / "cases.json"), cwd=tmp_path, pythonpath=LAMBDAS)
    # Then each is accepted, and no module of the AWS SDK, the CDK, Powertools or the rest of the kit was loaded
    assert outcome["refused"] == []
    assert outcome["accepted"] == len(hmac_providers)
    assert sorted(name for name in outcome["loaded"] if name.partition(".")[0] in FORBIDDEN) == []
    assert outcome["boto3_importable"], "the guard proves nothing where boto3 is not installed"


_GUARD_CHILD = """
import sys
before = set(sys.modules)
import base64, importlib.util, json
from webhook_verify import verify
refused, accepted = [], 0
for case in json.load(open(sys.argv[1])):
    result = verify(provider=case["provider"], url=case["url"], headers=case["headers"], secrets=case["secret"],
                    body=base64.b64decode(case["body"]), options=case["options"])
    if result.accepted:
        accepted += 1
    else:
        refused.append([case["provider"], result.reason])
loaded = sorted(set(sys.modules) - before)
print(json.dumps({"refused": refused, "accepted": accepted, "loaded": loaded,
                  "boto3_importable": importlib.util.find_spec("boto3") is not None}))
"""


DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def _imported_names(tree: ast.AST) -> list[str]:
    """Absolute module names a module imports, in import statements and as importlib's dotted strings."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
            names.append(node.value)  # a registry entry's module, imported by name
    return names


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: path.relative_to(PACKAGE).as_posix())
def test_no_module_of_webhook_verify_imports_aws_or_the_rest_of_the_kit(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    packages = len(path.relative_to(LAMBDAS).parts) - 1  # how far up a relative import may reach and stay inside
    assert all(node.level <= packages for node in ast.walk(tree) if isinstance(node, ast.ImportFrom))
    assert [name for name in _imported_names(tree) if name.partition(".")[0] in FORBIDDEN] == []
