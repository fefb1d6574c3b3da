"""Twilio: the public URL (and, for form posts, the sorted parameters) signed with HMAC-SHA1 or SHA-256."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .base import Check, Scheme, SigningInput, any_key_signs
from .helpers import b64, body_sha256, clean_id, equal, mac, signed_url, signed_urls, url_and_body_digest
from .request import Request

_DIGESTS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}
# Twilio posts a few dozen form fields. A form with more is not Twilio's, and
# parsing and sorting half a million forged fields before the HMAC check would
# cost about a second of CPU (parse_qsl counts the fields before parsing).
MAX_TWILIO_FORM_FIELDS = 1000
# The query parameter that carries the digest of a JSON body, which Twilio
# then signs through the URL instead of the body's parameters.
_BODY_DIGEST = "bodySHA256"


def twilio_json_query(body: bytes) -> tuple[tuple[str, str], ...]:
    """The query Twilio appends to the URL when it posts a JSON body."""
    return ((_BODY_DIGEST, body_sha256(body)),)


def _url_variants(url: str) -> list[str]:
    """``url`` as given, without its port, and with one (the scheme's default if it has
    none): twilio-python's ``RequestValidator.validate`` accepts a signature of the
    URL with its port removed or added (``remove_port``/``add_port``), whatever the port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [url]
    if not parts.hostname:
        return [url]
    at, _, hostport = parts.netloc.rpartition("@")
    userinfo = at + "@" if _ else ""
    host = hostport.rpartition(":")[0] if port is not None else hostport
    default = 443 if parts.scheme == "https" else 80  # as twilio-python's add_port
    without = urlunsplit(parts._replace(netloc=userinfo + host))
    with_port = url if port is not None else urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default}"))
    return list(dict.fromkeys([url, without, with_port]))


def _string_to_sign(url: str, params: Sequence[tuple[str, str]]) -> str:
    return url + "".join(k + v for k, v in sorted(set(params)))


@dataclass(frozen=True)
class Twilio(Scheme):
    """``X-Twilio-Signature``, base64 HMAC-SHA1 (or SHA-256 when the unsigned
    ``X-Twilio-Webhooks-Signature-Settings`` header names ``HMAC_SHA256``) of the
    public URL followed, for form posts, by every parameter as name+value sorted
    by name (then value; duplicate pairs count once, as Twilio's libraries do).

    For JSON posts Twilio adds ``bodySHA256=<hex sha256 of the body>`` to the URL;
    it must match the body, and the parameters are then not signed.

    The signature covers the *decoded* form parameters, not the body bytes: two
    spellings of the same parameters (``%41`` vs ``A``) verify alike. The public
    URL comes from ``options["public_url"]`` (API Gateway rewrites host and path),
    tried with and without its port; the query string is rebuilt from API
    Gateway's decoded parameters in each spelling ``signed_urls`` knows.
    A form of more than ``MAX_TWILIO_FORM_FIELDS`` fields is refused unparsed.
    """

    name: str = "twilio"
    timestamped: bool = False
    needs_public_url: ClassVar[bool] = True

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ("x-twilio-signature", "x-twilio-webhooks-signature-settings")

    @staticmethod
    def _digest(request: Request) -> str | None:
        """The digest the unsigned settings header names (SHA-1 without one), None if unknown."""
        settings = request.header("x-twilio-webhooks-signature-settings")
        digest: str | None = "sha1"
        for part in settings.split(",") if settings else ():
            name, sep, value = part.partition("=")
            if sep and name.strip() == "algorithm" and value.strip():
                digest = _DIGESTS.get(value.strip().upper())
                if digest is None:
                    return None
        return digest

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        provided = request.header("x-twilio-signature")
        urls = signed_urls(request, check.options)
        digest = self._digest(request)
        if not provided or not urls or digest is None:
            return False
        body_hashes = [v for k, v in request.query if k == _BODY_DIGEST]
        params: list[tuple[str, str]] = []
        if body_hashes:
            if len(body_hashes) != 1 or not equal(body_sha256(request.body), body_hashes[0]):
                return False
        else:
            try:
                params = parse_qsl(
                    request.body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_TWILIO_FORM_FIELDS
                )
            except (UnicodeDecodeError, ValueError):
                return False
        signed_params = _string_to_sign("", params)
        variants = dict.fromkeys(variant for url in urls for variant in _url_variants(url))
        candidates = [(variant + signed_params).encode() for variant in variants]
        return any_key_signs(keys, lambda key: [b64(mac(key, message, digest)) for message in candidates], [provided])

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        """Signed as a form post, or as a JSON post when the query carries ``bodySHA256``
        (``twilio_json_query``): the body's parameters are then not signed."""
        url = signed_url(Request(headers={}, body=delivery.body, query=delivery.query), options)
        json_post = any(name == _BODY_DIGEST for name, _ in delivery.query)
        params = [] if json_post else parse_qsl(delivery.body.decode("utf-8"), keep_blank_values=True)
        signature = b64(mac(self.signing_key(secret), _string_to_sign(url, params).encode(), "sha1"))
        return {"x-twilio-signature": signature}

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return clean_id(request.header("i-twilio-idempotency-token"))

    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        return False  # I-Twilio-Idempotency-Token is outside the signature

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        return url_and_body_digest(request, options)

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        return None

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"x-twilio-signature"})
