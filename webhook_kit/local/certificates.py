"""A test signing key and its certificates, for the local pipeline and the tests only.

AWS SNS and PayPal sign with their own private keys and publish the
certificates on their own hosts. To let ``send`` and ``make local`` try those
providers, the kit signs with the test key below, and the local pipeline's
verifier serves the matching certificate for the test certificate's URL
(``LocalWeb``): the URL is one the scheme accepts, but the bytes never come
from the provider. This module is not part of the Lambda asset (``lambdas/``),
so a deployed verifier can never use it. The key is public: never let a real
endpoint trust it.
"""

from __future__ import annotations

import urllib.request
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from webhook_verify.schemes import KeyUnavailable
from webhook_verify.schemes.aws_sns import AwsSns

SNS_CERTIFICATE_NAME = "SimpleNotificationService-webhook-kit-test.pem"
PAYPAL_CERTIFICATE_URL = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-webhook-kit-test"
# How long a local confirmation call may take.
CONFIRM_TIMEOUT_SECONDS = 5.0

SIGNING_KEY = """\
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCxZpPiJjV9lnl9
CgUq4A73LO/Tegd2LuORR8S1TDeTckkMoy62II4zfuYOVMhJIi6ff7HH3UqWKoaC
mMxvPexzlpPpnSEoranBd3v6wIE/Ql2MDq6LJLx0Nv5HvVWEZiTYEB3/XIKw+14B
yJH8DNC59J4EFda99zEULmBFR9GSsIpNliYNsGjUjylQfnPhVYRLdP1D8VFl/2tU
pKMbQU4MaBh40ckg3MkLBXxpqGBRCh/5BhHUAg9T2PjpDFpmxzkiZDS85KYCr2gM
sqzYBa5l8fJMfL0zJUTOjFPUQ7bUbnnDxfScPgzgm04hpIeoHc4nFcvsuLrZaMOW
BAyItURnAgMBAAECggEAHJVSC5SrdrZJkd+M8JkUYDgh1jmpvR2V9iERrUKAC+ZU
pdAfJSI+t0Zhi/qWIM58o59gBjt+Go70iFNVUTExiXhAEdqK7rJ4kR8O31qoGIi5
aOkur2W2ZaU8uFNl1YTdt+B07OG7fwepYHEwMGPiN6wVz8OzC32qLz2/rjoBpvg9
PjhUSuB5TvlPgXUhrrXGujLvJ7nNoa18jEZIfXzyIT3swlT5xACQNGaU5XFp1zF3
A6bw771q9EU+GrniAbmQEqIJIZtzV2I0yPqzDuDb00dFzTfBN6n63gWA//m7quNz
jnHBZV+c2GZ+f0nNEn9s0I1xzKUXmyGFo+hw2iDDzQKBgQDdtqKoIz1Jd+Pnv2jn
BhkbQ+/IwdOwljdBq7bmGVAbAxm3j4cqD0vUBR44HNT0xfge11Hscx7u5ToXecRi
bCKc/9p4wBPBdCB0zXvA8Gq9OMbBqF7Qg0zfcR7+tKWuZAcqrDYZ1acYeeL6D5me
2uoQLgGO3SKjCtIZi7+uwQC5OwKBgQDM1afHZKF+98CRFENIRnEqcfhOFNOj5zXf
Hd8jI6FTeD5RMfrrEp/+yC826sPlt1TpYdpvw/ZMdDEe8P8lv5JlUMF53Bjo2hzC
RToxh8W9OzQPq4i4FI94dOwW6j1MMmjsKBOMrx8mV7qx012hv6AzQ4+nbWlbhqed
s6rDzriOxQKBgQDWHzVVxrrAwm2zejNYspX6tBDWxQKpz1lMLgc0kAvCGqtykMYM
A7vK5qp5rLaqMqtfNboj7kZYl78TvwC/wQlosNwQtAggVAOoam7zNf0QA85IZ1Ay
div+u2Qgvtwn4Oje+HRDXQjEZaqkr/4/4dIdkCDnFYAHEEM6crHLlxAY0wKBgA8H
yoT2HGedtHKw4vMFwD4WGNtZ6eHIEIrrvTjt32OpmiEJItlnB3iBpf1IotFTb5ak
iIvU/FjF2ejkVESn1w06LMhNX0KO5rdWrxt9VAQ7uOlBdAnV8GUtZzmTPKY/uLVD
h5O2Mfn1TAzKbr90uUOpvHvTqnx92ATZbzlpDN/lAoGBANi+cec+zHoxOyY6V1Qe
GqLsWzF3ks/2Aqak85n3A1dykMQ26RLjHVMrc8Jb6CCldrO5q2KogtoBPFADxLql
m0r26Vrhpzf5MHu52tNH2mpvrxlp4nmaCSV96BM0n4AoHhYYe0PJDefwNPXEZtlV
sUrpT8+rwnflitqEwZ5ZVauP
-----END PRIVATE KEY-----
"""

# Subject CN=sns.amazonaws.com, valid 2000-2099, self-signed with SIGNING_KEY.
SNS_CERTIFICATE = b"""\
-----BEGIN CERTIFICATE-----
MIIDRjCCAi6gAwIBAgIUepHEJyGfSVvxz4DTMaFYz3J4qRAwDQYJKoZIhvcNAQEL
BQAwXDEaMBgGA1UEAwwRc25zLmFtYXpvbmF3cy5jb20xPjA8BgNVBAoMNXdlYmhv
b2sta2l0IGxvY2FsIHRlc3QgKG5vdCBhIHByb3ZpZGVyJ3MgY2VydGlmaWNhdGUp
MCAXDTAwMDEwMTAwMDAwMFoYDzIwOTkxMjMxMDAwMDAwWjBcMRowGAYDVQQDDBFz
bnMuYW1hem9uYXdzLmNvbTE+MDwGA1UECgw1d2ViaG9vay1raXQgbG9jYWwgdGVz
dCAobm90IGEgcHJvdmlkZXIncyBjZXJ0aWZpY2F0ZSkwggEiMA0GCSqGSIb3DQEB
AQUAA4IBDwAwggEKAoIBAQCxZpPiJjV9lnl9CgUq4A73LO/Tegd2LuORR8S1TDeT
ckkMoy62II4zfuYOVMhJIi6ff7HH3UqWKoaCmMxvPexzlpPpnSEoranBd3v6wIE/
Ql2MDq6LJLx0Nv5HvVWEZiTYEB3/XIKw+14ByJH8DNC59J4EFda99zEULmBFR9GS
sIpNliYNsGjUjylQfnPhVYRLdP1D8VFl/2tUpKMbQU4MaBh40ckg3MkLBXxpqGBR
Ch/5BhHUAg9T2PjpDFpmxzkiZDS85KYCr2gMsqzYBa5l8fJMfL0zJUTOjFPUQ7bU
bnnDxfScPgzgm04hpIeoHc4nFcvsuLrZaMOWBAyItURnAgMBAAEwDQYJKoZIhvcN
AQELBQADggEBACyEZvbLaCl4e9AFD0fu79QQ3AfREtIWCPuZSze8+8VOt6UDkYs3
OhE8foL/zReQGPyrH0OZ888uFCIOrX7v8MUo2Z03SkIvuT/iOPGM8R1O/0Qp4aJo
JGl914Ws2rFLb8yrcEk3Csx4btqwpDnSW3PB1wi3UFe0tgGbQaBv+lAVbkV2zy1V
vnOUS5JieRYAj8wWpVt0y3kIqQuk/I3v9LmxGOh2v/PBEfuRizOS6R3WCGKDAX7L
jliJG/0aT8C5pyEybO4tS16ITheAd0Dlz8dMJlo7th+ggdHIn+2HdTyDeKoLBlM4
EsoqaM4qKr+vH07lcSWeMgG/AT8jI63dkhc=
-----END CERTIFICATE-----
"""

# Subject CN=messageverificationcerts.sandbox.paypal.com, valid 2000-2099, self-signed with SIGNING_KEY.
PAYPAL_CERTIFICATE = b"""\
-----BEGIN CERTIFICATE-----
MIIDejCCAmKgAwIBAgIUEg66yJKO64tgYR0uY8IhMRI+27QwDQYJKoZIhvcNAQEL
BQAwdjE0MDIGA1UEAwwrbWVzc2FnZXZlcmlmaWNhdGlvbmNlcnRzLnNhbmRib3gu
cGF5cGFsLmNvbTE+MDwGA1UECgw1d2ViaG9vay1raXQgbG9jYWwgdGVzdCAobm90
IGEgcHJvdmlkZXIncyBjZXJ0aWZpY2F0ZSkwIBcNMDAwMTAxMDAwMDAwWhgPMjA5
OTEyMzEwMDAwMDBaMHYxNDAyBgNVBAMMK21lc3NhZ2V2ZXJpZmljYXRpb25jZXJ0
cy5zYW5kYm94LnBheXBhbC5jb20xPjA8BgNVBAoMNXdlYmhvb2sta2l0IGxvY2Fs
IHRlc3QgKG5vdCBhIHByb3ZpZGVyJ3MgY2VydGlmaWNhdGUpMIIBIjANBgkqhkiG
9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsWaT4iY1fZZ5fQoFKuAO9yzv03oHdi7jkUfE
tUw3k3JJDKMutiCOM37mDlTISSIun3+xx91KliqGgpjMbz3sc5aT6Z0hKK2pwXd7
+sCBP0JdjA6uiyS8dDb+R71VhGYk2BAd/1yCsPteAciR/AzQufSeBBXWvfcxFC5g
RUfRkrCKTZYmDbBo1I8pUH5z4VWES3T9Q/FRZf9rVKSjG0FODGgYeNHJINzJCwV8
aahgUQof+QYR1AIPU9j46QxaZsc5ImQ0vOSmAq9oDLKs2AWuZfHyTHy9MyVEzoxT
1EO21G55w8X0nD4M4JtOIaSHqB3OJxXL7Li62WjDlgQMiLVEZwIDAQABMA0GCSqG
SIb3DQEBCwUAA4IBAQBOpcwPR+xNXQLuMPaQ7lA8K9yPPvppKLnnHql1SgjA9uLB
BuaNV+lMmzDujm8pW7i71vuxWsY3OTJfrFpQEuWwS/2US5DT9gVbQdAi8KmF4Rw2
jSbd/+A1ANpWkev6rKFjtemiZ0sIWkBlQ7JjOgzL90w4thl5gteBQNJfXjL3cbLp
Oe5ffvFHeEM+VBIgsSfcdkh2l9XhClKRA8VG81bGVfdZ8jFmwfWLOxn/fY9iK4vK
7H39vCoX62T2QFHlsLddHNkiNAQIQ0jfj3nFSE07C3s063fDnPkAF9EzU836sC3K
OvgOM/ISArogR9ai9s4suJ1eTRiIM3TPlUbN1Fqc
-----END CERTIFICATE-----
"""


def signing_options(scheme: str) -> dict[str, Any]:
    """What a test sender adds to ``scheme``'s options to sign with the test key ({} for other schemes)."""
    if scheme == "aws-sns":
        return {"signing_key": SIGNING_KEY, "signing_certificate": SNS_CERTIFICATE_NAME}
    if scheme == "paypal":
        return {"signing_key": SIGNING_KEY, "signing_certificate_url": PAYPAL_CERTIFICATE_URL}
    return {}


def local_certificate(url: str) -> bytes | None:
    """The test certificate served at ``url`` in local mode, or None."""
    parts = urlsplit(url)
    if AwsSns.key_hosts.fullmatch(parts.netloc) and parts.path == "/" + SNS_CERTIFICATE_NAME:
        return SNS_CERTIFICATE
    if url == PAYPAL_CERTIFICATE_URL:
        return PAYPAL_CERTIFICATE
    return None


def serve_test_certificates(url: str) -> bytes:
    """A ``Fetcher`` that serves the test certificates only (unit tests)."""
    found = local_certificate(url)
    if found is None:
        raise KeyUnavailable(url)
    return found


class LocalWeb:
    """The local pipeline's ``verifier.core.Web``: the test certificates by their URLs, and SNS
    confirmations sent to a local stand-in for the SNS host (``confirm_endpoint``, an
    ``http://host:port``); every other key fetch goes to the real client (``verifier.web``)."""

    def __init__(self, confirm_endpoint: str | None = None, real: Any = None) -> None:
        self.confirm_endpoint = confirm_endpoint
        self._real = real

    def fetch_key(self, url: str) -> bytes:
        found = local_certificate(url)
        if found is not None:
            return found
        if self._real is None:
            raise KeyUnavailable(url)
        return bytes(self._real.fetch_key(url))

    def confirm(self, url: str) -> None:
        from verifier.adapters import DependencyError

        parts = urlsplit(url)
        if self.confirm_endpoint is None or not AwsSns.key_hosts.fullmatch(parts.netloc):
            raise DependencyError("no local stand-in answers confirmations for this host")
        local = urlsplit(self.confirm_endpoint)
        target = urlunsplit((local.scheme, local.netloc, parts.path, parts.query, ""))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(target, timeout=CONFIRM_TIMEOUT_SECONDS) as response:
                response.read(65536)
        except (OSError, ValueError) as error:
            raise DependencyError("the local confirmation call failed") from error


def install_local_web(confirm_endpoint: str | None = None) -> None:
    """A verifier worker's set-up: the cold-start state with ``LocalWeb`` as its HTTP client."""
    from verifier import handler

    cold = handler.runtime()
    handler.install(
        config=cold.config,
        adapters=cold.adapters,
        clock=cold.clock,
        web=LocalWeb(confirm_endpoint, real=cold.web),
    )


__all__: list[str] = [
    "PAYPAL_CERTIFICATE",
    "SIGNING_KEY",
    "SNS_CERTIFICATE",
    "LocalWeb",
    "install_local_web",
    "serve_test_certificates",
    "signing_options",
]
