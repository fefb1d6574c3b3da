"""Builders shared by the scheme tests (no tests here): a validly signed request for any scheme."""

from __future__ import annotations

import re
from typing import Any

from webhook_kit.local.certificates import serve_test_certificates, signing_options
from webhook_verify.schemes import SCHEMES, Request, get_scheme, twilio_json_query
from webhook_verify.schemes.twitch import rfc3339

PUBLIC_URL = "https://hooks.example.com/prod/webhooks/demo"

# Options each scheme needs to sign and verify at all: every registered scheme
# is here, so the property tests pick a new one up without a line of their own.
OPTIONS: dict[str, dict[str, Any]] = {
    name: {"public_url": PUBLIC_URL} if scheme.needs_public_url else {} for name, scheme in SCHEMES.items()
}
OPTIONS["generic-hmac"] = {
    "signature_header": "X-Signature",
    "algorithm": "sha256",
    "encoding": "hex",
    "prefix": "sha256=",
    "timestamp_header": "X-Timestamp",
    "signed_template": "{timestamp}.{body}",
}

OPTIONS["shared-token"] = {"token_header": "X-Token"}
# Schemes signed with a provider's private key sign here with the kit's test key.
for _name in SCHEMES:
    OPTIONS[_name].update(signing_options(_name))

TIMESTAMPED = tuple(name for name, scheme in SCHEMES.items() if scheme.signs_timestamp(OPTIONS[name]))


def secret_for(scheme: str, seed: bytes) -> str:
    """A secret in the form the scheme's provider hands out, its key derived from ``seed``.

    The key is text ("sec_" + hex), so that distinct seeds never give keys an
    HMAC treats alike (it pads short keys with zero bytes).
    """
    return get_scheme(scheme).secret_for_key(b"sec_" + seed.hex().encode())


def signed_request(scheme: str, body: bytes, secret: str, timestamp: int) -> Request:
    """A request that ``scheme`` signs with ``secret`` at ``timestamp``.

    Twilio is signed in JSON mode (bodySHA256 in the URL), where the signature
    covers the exact body bytes, like every other scheme here.
    """
    query = twilio_json_query(body) if scheme == "twilio" else ()
    signer = get_scheme(scheme)
    # Where the signature travels in the body (AWS SNS), the body sent is the provider's envelope.
    body = signer.envelope(body, secret, timestamp=timestamp, options=OPTIONS[scheme])
    headers = signer.sign(body, secret, timestamp=timestamp, options=OPTIONS[scheme], query=query)
    return Request(headers={k.lower(): v for k, v in headers.items()}, body=body, url=PUBLIC_URL, query=query)


def _signature_header(scheme: str) -> str | None:
    headers = signed_request(scheme, b"{}", secret_for(scheme, b"k"), 0).headers
    return next((name for name in headers if name in get_scheme(scheme).signature_headers(OPTIONS[scheme])), None)


# Where each scheme carries its digest, as its own signer writes it (None: in the body, as AWS SNS).
SIGNATURE_HEADER = {name: _signature_header(name) for name in SCHEMES}
# The schemes whose signature is a header a test can replace.
HEADER_SIGNED = tuple(sorted(name for name, header in SIGNATURE_HEADER.items() if header))


def split_signature(value: str) -> tuple[str, str]:
    """Split a signature header value into (text before the digest, digest).

    The digest is what follows the last "=" or "," that is not base64 padding:
    ``v1,<b64>``, ``t=..,v1=<hex>``, ``sha256=<hex>``, or a bare digest.
    """
    core = value.rstrip("=")
    cut = max(core.rfind("="), core.rfind(",")) + 1
    return value[:cut], value[cut:]


def with_timestamp(request: Request, old: int, new: int) -> Request:
    """The same request claiming timestamp ``new`` instead of ``old`` (signature untouched).

    The timestamp is wherever the scheme's signer wrote it: a header of its own,
    or an item of the signature header (``t=``, ``ts=``), or else the body (Mailgun's
    signature object); digits next to it would make it another number, so only a
    free-standing ``old`` is replaced.
    """
    headers = dict(request.headers)
    for was, now in ((old, new), (old * 1000, new * 1000)):
        if headers == dict(request.headers):
            # In Unix seconds, else in milliseconds (HubSpot, WorkOS).
            stamp = re.compile(rf"(?<![0-9]){was}(?![0-9])")
            headers = {name: stamp.sub(str(now), value, count=1) for name, value in request.headers.items()}
    if headers == dict(request.headers):
        # Twitch and Box write their signed time as RFC 3339 text, not as Unix seconds.
        headers = {name: value.replace(rfc3339(old), rfc3339(new), 1) for name, value in request.headers.items()}
    body = request.body
    if headers == dict(request.headers):
        # No header carries it: the signer wrote it in the body (Mailgun's signature object, first).
        body = re.sub(rb"(?<![0-9])%d(?![0-9])" % old, str(new).encode(), body, count=1)
    assert (headers, body) != (dict(request.headers), request.body), "the scheme signs no timestamp"
    return Request(headers=headers, body=body, url=request.url, query=request.query)


def replace_header(request: Request, name: str, value: str) -> Request:
    headers = dict(request.headers)
    headers[name] = value
    return Request(headers=headers, body=request.body, url=request.url, query=request.query)


def verify(scheme: str, request: Request, secrets: list[str], now: float, tolerance: int = 300) -> bool:
    # A certificate a request names by URL is one of the kit's test certificates here.
    return get_scheme(scheme).verify(
        request, secrets, now=now, tolerance_seconds=tolerance, options=OPTIONS[scheme], fetch=serve_test_certificates
    )
