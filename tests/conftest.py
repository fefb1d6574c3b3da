"""Session-wide test fixtures: a real HTTP endpoint of the AWS APIs (moto server).

Every boto3 client created while the fixture is active talks to it through the
standard ``AWS_ENDPOINT_URL`` setting, so Lambda handlers run unchanged.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start moto's threaded server for the session; yield its URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    try:
        yield url
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)


@pytest.fixture
def reset_moto(moto_endpoint: str) -> Iterator[str]:
    """Give a test an empty AWS: moto's state is wiped before it runs."""
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    yield moto_endpoint
