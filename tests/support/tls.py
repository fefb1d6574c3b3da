"""A real TLS server on loopback, trusted through a throw-away self-signed certificate: for the
kit's bounded HTTPS GET (webhook_verify.https_get) and its callers, tested over verified TLS."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def tls_files(directory: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost`` and its key, written to ``directory``: (certificate, key)."""
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


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that refuses the certificate or gives up drops the connection: expected here


@contextmanager
def tls_server(handler: type[BaseHTTPRequestHandler], directory: Path) -> Iterator[tuple[int, Path]]:
    """Serve ``handler`` over TLS on 127.0.0.1 as ``localhost``: yields (port, the certificate to trust)."""
    cert_path, key_path = tls_files(directory)
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], cert_path
    finally:
        httpd.shutdown()
        httpd.server_close()


def trusting(cafile: Path | None) -> ssl.SSLContext:
    """A client TLS context that trusts ``cafile`` (None: the system's roots only)."""
    return ssl.create_default_context(cafile=str(cafile)) if cafile else ssl.create_default_context()
