"""verifier.web.UrllibWeb against a real TLS server on loopback: it fetches over verified TLS,
follows no redirect, gives up on a server that trickles its answer, and refuses a server
whose certificate is not trusted."""

from __future__ import annotations

import datetime
import re
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.schemes import KeyUnavailable
from verifier.adapters import DependencyError
from verifier.web import UrllibWeb, build_opener

PEM = b"-----BEGIN CERTIFICATE-----\nMII...\n-----END CERTIFICATE-----\n"


def _tls_files(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


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


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that refuses the certificate drops the connection: expected here


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    cert_path, key_path = _tls_files(tmp_path_factory.mktemp("tls"))
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], cert_path
    httpd.shutdown()
    httpd.server_close()


def _web(port: int, cafile: Path | None, **kwargs: object) -> UrllibWeb:
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else ssl.create_default_context()
    return UrllibWeb(
        allowed_hosts=[re.compile(rf"localhost:{port}")],
        opener=lambda: build_opener(context),
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
