"""The receivers in examples/ on their own platforms: each accepts a Stripe and a GitHub delivery
signed here (202 with the delivery id), refuses forged ones (401) and knows no third provider (404).

Google Cloud Functions runs for real over HTTP, under the functions-framework command; Azure
Functions runs in process (its host cannot be installed here), the function taken from the app's
index as the host takes it; FastAPI runs through its TestClient. The examples import
webhook_verify from lambdas/, as an installed webhook-kit would provide it.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.metadata
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
import stripe

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STRIPE_SECRET = "whsec_example"
# Two GitHub secrets, as while one is rotated (the new one first): GitHub still signs with the old one.
GITHUB_SECRETS = ("github-new-secret", "github-old-secret")
ENVIRONMENT = {"STRIPE_WEBHOOK_SECRETS": STRIPE_SECRET, "GITHUB_WEBHOOK_SECRETS": ",".join(GITHUB_SECRETS)}


@dataclass(frozen=True)
class Delivery:
    """One request to an example's /<provider> path, and the answer it must get."""

    provider: str
    headers: dict[str, str]
    body: bytes
    status: int
    delivery_id: str | None = None


def stripe_delivery(secret: str) -> Delivery:
    """An event signed with ``secret``: Stripe's own library signs, as its docstring offers for tests."""
    body = json.dumps({"id": "evt_example", "object": "event", "type": "payment_intent.succeeded"}).encode()
    signature = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=int(time.time()))
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
    genuine = secret == STRIPE_SECRET
    return Delivery("stripe", headers, body, 202 if genuine else 401, "evt_example" if genuine else None)


def github_delivery(sent: bytes, signed: bytes) -> Delivery:
    """``sent`` with the signature of ``signed``: X-Hub-Signature-256 is "sha256=" and the hex
    HMAC-SHA256 of the body (GitHub's "Validating webhook deliveries")."""
    digest = hmac.new(GITHUB_SECRETS[1].encode(), signed, hashlib.sha256).hexdigest()
    delivery_id = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    genuine = sent == signed
    return Delivery("github", headers, sent, 202 if genuine else 401, delivery_id if genuine else None)


PUSH = b'{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"}'
DELIVERIES: dict[str, Callable[[], Delivery]] = {
    "stripe": lambda: stripe_delivery(STRIPE_SECRET),
    "github": lambda: github_delivery(PUSH, PUSH),
    "stripe signed with another secret": lambda: stripe_delivery("whsec_other"),
    "github body changed after signing": lambda: github_delivery(PUSH.replace(b"main", b"prod"), PUSH),
    "unlisted provider": lambda: Delivery("shopify", {"Content-Type": "application/json"}, b"{}", 404),
}


@pytest.fixture(params=list(DELIVERIES))
def delivery(request: pytest.FixtureRequest) -> Delivery:
    return DELIVERIES[request.param]()


def assert_answer(delivery: Delivery, status: int, body: bytes) -> None:
    assert status == delivery.status
    if delivery.delivery_id is not None:
        assert json.loads(body) == {"id": delivery.delivery_id}


def load_example(path: str) -> ModuleType:
    """The example module at examples/``path``: every example is named main.py, app.py or the like,
    so each is loaded under a name of its own."""
    name = "example_" + path.replace("/", "_").replace("-", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Spy = Callable[[ModuleType], list[str | None]]


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> Spy:
    """The secrets in the environment, and a spy on an example's ``handle``: the ids it was given."""
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)

    def spy(module: ModuleType) -> list[str | None]:
        ids: list[str | None] = []
        monkeypatch.setattr(module, "handle", lambda provider, result: ids.append(result.delivery_id))
        return ids

    return spy


def assert_handled_once_if_accepted(delivery: Delivery, ids: list[str | None]) -> None:
    assert ids == ([delivery.delivery_id] if delivery.status == 202 else [])


# ------------------------------------------------------------------------------- Google Cloud Functions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"functions-framework exited:\n{log.read_text()}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"functions-framework did not listen on {port} within 30 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def cloud_function(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Google Cloud Functions example served by the functions-framework command; yields its URL."""
    pytest.importorskip("functions_framework")
    port = free_port()
    log = tmp_path_factory.mktemp("functions-framework") / "output.log"
    command = [
        str(Path(sys.executable).with_name("functions-framework")),
        *("--target", "receive", "--source", str(EXAMPLES / "google-cloud-functions" / "main.py")),
        *("--host", "127.0.0.1", "--port", str(port)),
    ]
    environment = {**os.environ, **ENVIRONMENT, "PYTHONPATH": str(ROOT / "lambdas")}
    with log.open("wb") as output:
        # Its own session: gunicorn forks a worker, and the whole group is ended below.
        process = subprocess.Popen(  # noqa: S603 - the venv's own functions-framework, fixed arguments
            command, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_listening(process, port, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_google_cloud_function_over_http(cloud_function: str, delivery: Delivery) -> None:
    response = requests.post(
        f"{cloud_function}/{delivery.provider}", data=delivery.body, headers=delivery.headers, timeout=10
    )
    assert_answer(delivery, response.status_code, response.content)


# -------------------------------------------------------------------------------------- Azure Functions


@pytest.fixture(scope="module")
def azure_app() -> tuple[ModuleType, Callable[..., Any]]:
    """The example's module and its function, from the app's index as the Functions host reads it
    (once: the index refuses a second reading of the same function)."""
    pytest.importorskip("azure.functions")
    module = load_example("azure-functions/function_app.py")
    (function,) = module.app.get_functions()
    trigger = json.loads(function.get_raw_bindings()[0])
    assert (trigger["type"], trigger["route"], trigger["methods"]) == ("httpTrigger", "webhooks/{provider}", ["POST"])
    return module, function.get_user_function()


def test_azure_function_in_process(
    azure_app: tuple[ModuleType, Callable[..., Any]], delivery: Delivery, handled: Spy
) -> None:
    import azure.functions as func

    module, receive = azure_app
    ids = handled(module)
    request = func.HttpRequest(
        method="POST",
        url=f"https://example.azurewebsites.net/api/webhooks/{delivery.provider}",
        headers=delivery.headers,
        body=delivery.body,
        route_params={"provider": delivery.provider},
    )
    response = receive(request)
    assert_answer(delivery, response.status_code, response.get_body())
    assert_handled_once_if_accepted(delivery, ids)


# -------------------------------------------------------------------------------------------- FastAPI


@pytest.fixture(scope="module")
def fastapi_app() -> ModuleType:
    pytest.importorskip("fastapi")
    return load_example("fastapi/app.py")


def test_fastapi_app(fastapi_app: ModuleType, delivery: Delivery, handled: Spy) -> None:
    from fastapi.testclient import TestClient

    ids = handled(fastapi_app)
    with TestClient(fastapi_app.app, base_url="https://hooks.example.com") as client:
        response = client.post(f"/webhooks/{delivery.provider}", content=delivery.body, headers=delivery.headers)
    assert_answer(delivery, response.status_code, response.content)
    assert_handled_once_if_accepted(delivery, ids)


# --------------------------------------------------------------------------------------- requirements


@pytest.mark.parametrize(
    ("folder", "package"),
    [("google-cloud-functions", "functions-framework"), ("azure-functions", "azure-functions"), ("fastapi", "fastapi")],
)
def test_example_requirements_pin_the_release_tested_here(folder: str, package: str) -> None:
    try:
        tested = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{package} is not installed")
    pins = [line.split(";")[0].strip() for line in (EXAMPLES / folder / "requirements.txt").read_text().splitlines()]
    assert f"{package}=={tested}" in pins
