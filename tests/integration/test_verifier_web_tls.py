"""verifier.web.UrllibWeb against a real TLS server on loopback: it fetches over verified TLS,
follows no redirect, gives up on a server that trickles its answer, and refuses a server
whose certificate is not trusted."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from tests.support.tls import tls_server, trusting
from verifier.adapters import DependencyError
from verifier.web import UrllibWeb, build_opener
from webhook_verify.schemes import KeyUnavailable

PEM = b"-----BEGIN CERTIFICATE-----\nMII...\n-----END CERTIFICATE-----\n"


class Handler(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Handler.hits.append(self.path)
        if self.path == "/redirect.pem":
            self.send_response(302)
            self.send_header("Location", "/cert.pem")
            self.end_headers()
        elif self.path == "/slow.pem":
            self.send_response(200)
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.4)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(PEM)))
            self.end_headers()
            self.wfile.write(PEM)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    with tls_server(Handler, tmp_path_factory.mktemp("tls")) as served:
        yield served


def _web(port: int, cafile: Path | None, **kwargs: object) -> UrllibWeb:
    return UrllibWeb(
        allowed_hosts=[re.compile(rf"localhost:{port}")],
        opener=lambda: build_opener(trusting(cafile)),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_certificate_is_fetched_over_verified_tls(server: tuple[int, Path]) -> None:
    port, cafile = server
    assert _web(port, cafile).fetch_key(f"https://localhost:{port}/cert.pem") == PEM


def test_a_redirect_is_not_followed(server: tuple[int, Path]) -> None:
    port, cafile = server
    Handler.hits.clear()
    web = _web(port, cafile)
    with pytest.raises(KeyUnavailable):
        web.fetch_key(f"https://localhost:{port}/redirect.pem")
    with pytest.raises(DependencyError):
        web.confirm(f"https://localhost:{port}/redirect.pem")
    assert "/cert.pem" not in Handler.hits


def test_a_server_that_trickles_its_answer_meets_the_deadline(server: tuple[int, Path]) -> None:
    port, cafile = server
    started = time.monotonic()
    with pytest.raises(KeyUnavailable):
        _web(port, cafile, total_seconds=1.0).fetch_key(f"https://localhost:{port}/slow.pem")
    assert time.monotonic() - started < 4


def test_a_server_whose_certificate_is_not_trusted_is_unavailable(server: tuple[int, Path]) -> None:
    port, _cafile = server
    with pytest.raises(KeyUnavailable):
        _web(port, None).fetch_key(f"https://localhost:{port}/cert.pem")
