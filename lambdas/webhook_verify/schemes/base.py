"""The base every scheme extends: the one verify loop, signing, and what a scheme says about itself.

Rules every scheme follows:

* ``verify`` never raises on anything a sender controls: a missing, malformed
  or oversized header, a body that is not UTF-8 or JSON, a secret that does not
  decode. Any of these is simply ``False``.
* Every active secret is tried; digests are compared with
  ``hmac.compare_digest`` on the encoded form the provider sends (hex or
  base64 text), so a non-canonical spelling of a right digest does not pass.
* An empty secret verifies nothing (an HMAC keyed with ``b""`` is forgeable).
* A header a proxy repeated is read once per distinct value: identical repeats
  count once, and different values are tried one combination at a time
  (``verified_request``), so a signature, timestamp or id is only ever checked
  together with the values it was signed with. The delivery id, event type and
  replay digest are read from the combination that verified.

Schemes without a signed timestamp cannot bound replays here; the processor's
idempotency does. Where the delivery id is not signed a replay can carry any
id, so each scheme says what it signs (``delivery_id_signed``,
``event_type_signed``) and gives the digest of its signed material
(``replay_digest``) for the idempotency key.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .helpers import IdShape, any_equal, body_sha256, timestamp_in_window
from .request import Request


class SchemeConfigError(ValueError):
    """Scheme options that cannot work (raised by ``validate_options``, never by ``verify``)."""


class KeyUnavailable(Exception):
    """A public key or certificate the request names could not be fetched now.

    The only exception ``verify`` lets out: the verifier answers 503, so the
    provider retries, and never a 2xx or a 401 (the request may be genuine).
    """


# Fetches a public key or certificate by URL (https, bounded size and time, cached
# per cold start); raises KeyUnavailable. The verifier passes one in ``Check.fetch``.
Fetcher = Callable[[str], bytes]


@dataclass(frozen=True)
class SigningInput:
    """What a sender knows when it signs a delivery; each scheme signs the parts its provider signs.

    ``delivery_id`` is signed by schemes that carry it in a signed header
    (Standard Webhooks, Svix) and ignored by the others, so a caller passes it
    whatever the scheme. ``query`` is the query of the URL the delivery is
    posted to, signed by the schemes that sign the URL (``needs_public_url``).
    """

    body: bytes
    timestamp: int
    delivery_id: str | None = None
    query: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Check:
    """What a request is verified against besides its keys: the clock, the window, the source's options."""

    now: float
    tolerance_seconds: int
    options: Mapping[str, Any]
    # For schemes whose request names its key by URL (a certificate): None offline,
    # where such a scheme verifies nothing.
    fetch: Fetcher | None = None

    def in_window(self, timestamp: str | None) -> bool:
        return timestamp_in_window(timestamp, self.now, self.tolerance_seconds)


def any_key_signs(keys: Iterable[bytes], digests: Callable[[bytes], Iterable[str]], provided: Iterable[str]) -> bool:
    """Whether a digest made with any key equals any provided signature.

    No early exit (see ``any_equal``): timing says nothing about which key matched.
    """
    provided = tuple(provided)
    result = False
    for key in keys:
        for digest in digests(key):
            result |= any_equal(digest, provided)
    return result


class Scheme(ABC):
    """One provider's signature: verify a request, sign a body, and read its delivery id and type.

    A scheme implements ``_verify_one`` for a request with one value per
    header, names the headers it reads (``_checked_headers``), and signs in
    ``_sign``; the loop over repeated header values is here, once.

    By default the id and the event type come from signed material (the body,
    or a header the signature covers) and a replay is recognised by the body.
    Schemes that read them from unsigned headers, or that also sign a URL or a
    timestamp, override ``delivery_id_signed``, ``event_type_signed`` and
    ``replay_digest``.
    """

    name: str
    # Whether the scheme signs a timestamp (and so enforces the window).
    timestamped: bool
    # Whether the provider signs the URL it posts to, so a source must say
    # which public URL that is (``options["public_url"]``).
    needs_public_url: ClassVar[bool] = False
    # Whether what authenticates a delivery depends on its body (a signature does;
    # a token the provider sends as it is does not: anyone who sees one request
    # can send any body with it, which is why such providers are "weaker").
    signs_body: ClassVar[bool] = True
    # The provider's delivery id format, for ``new_delivery_id``; None: a UUID.
    id_shape: IdShape | None = None
    # Whether verifying needs the ``cryptography`` package (public-key schemes): the
    # verifier's asset then carries its arm64 wheel, and only these schemes import it.
    needs_cryptography: ClassVar[bool] = False
    # The handshake (``webhook_verify.handshakes``) a source with this scheme answers when
    # its provider entry names none.
    default_handshake: ClassVar[str | None] = None

    # ----------------------------------------------------------------- what a scheme implements

    @abstractmethod
    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        """The headers ``_verify_one`` reads: signature, signed timestamp or id, settings."""

    @abstractmethod
    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        """Whether ``request`` (one value per checked header) is signed with one of ``keys``."""

    @abstractmethod
    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]: ...

    @abstractmethod
    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None: ...

    @abstractmethod
    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None: ...

    @abstractmethod
    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]: ...

    # ----------------------------------------------------------------- the one verify loop

    def verified_request(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
        fetch: Fetcher | None = None,
    ) -> Request | None:
        """The request as it verified (one value per repeated header), or None.

        Read the delivery id, event type and replay digest from it: a header
        repeated with a signed and an unsigned value has no single value in
        ``request`` itself. Raises ``KeyUnavailable`` only when a key the
        request names by URL cannot be fetched (``fetch``).
        """
        keys = self.keys(secrets)
        check = Check(now, tolerance_seconds, options, fetch)
        for candidate in request.combinations(self._checked_headers(options)):
            if self._verify_one(candidate, keys, check):
                return candidate
        return None

    def verify(
        self,
        request: Request,
        secrets: Sequence[str],
        *,
        now: float,
        tolerance_seconds: int,
        options: Mapping[str, Any],
        fetch: Fetcher | None = None,
    ) -> bool:
        found = self.verified_request(
            request, secrets, now=now, tolerance_seconds=tolerance_seconds, options=options, fetch=fetch
        )
        return found is not None

    # ----------------------------------------------------------------- secrets

    def key(self, secret: str) -> bytes | None:
        """The HMAC key in ``secret``, or None if it does not decode; most providers key with the text itself."""
        return secret.encode()

    def signing_key(self, secret: str) -> bytes:
        key = self.key(secret)
        if key is None:
            raise ValueError(f"the secret is not in the format {self.name} issues (see example_secret)")
        return key

    def keys(self, secrets: Sequence[str] | str) -> list[bytes]:
        """The keys of the active (non-empty, decodable) secrets."""
        if isinstance(secrets, str):
            secrets = [secrets]
        found = (self.key(secret) for secret in secrets if isinstance(secret, str) and secret)
        return [key for key in found if key is not None]

    def secret_for_key(self, key: bytes) -> str:
        """The secret text whose HMAC key is ``key`` (UTF-8 for most providers)."""
        return key.decode()

    def example_secret(self, seed: bytes) -> str:
        """A secret in the format this scheme's providers issue, made from ``seed`` (24 random bytes or more)."""
        return seed.hex()[:40]

    def new_delivery_id(self) -> str:
        """A fresh delivery id in the provider's format (for a test sender)."""
        return self.id_shape.new() if self.id_shape else str(uuid.uuid4())

    def validate_options(self, options: Mapping[str, Any]) -> None:
        """Raise ``SchemeConfigError`` for options that cannot work; most schemes take none."""
        return None

    def uses_cryptography(self, options: Mapping[str, Any]) -> bool:
        """Whether a source with these options verifies with ``cryptography`` (its verifier gets the layer)."""
        return self.needs_cryptography

    # ----------------------------------------------------------------- signing

    def sign(
        self,
        body: bytes,
        secret: str,
        *,
        timestamp: int,
        options: Mapping[str, Any],
        delivery_id: str | None = None,
        query: Sequence[tuple[str, str]] = (),
    ) -> dict[str, str]:
        """The headers that sign ``body`` as the provider would (see ``SigningInput``)."""
        delivery = SigningInput(body, timestamp, delivery_id, tuple(query))
        return self._sign(delivery, secret, options)

    def envelope(
        self,
        body: bytes,
        secret: str,
        *,
        timestamp: int,
        options: Mapping[str, Any],
        delivery_id: str | None = None,
    ) -> bytes:
        """The body a provider posts to carry ``body``: ``body`` itself, except where the
        signature travels inside it (AWS SNS's signed JSON message). A test sender posts
        this and signs it with ``sign``."""
        return body

    def queued_body(self, request: Request, options: Mapping[str, Any]) -> bytes:
        """The body put on the queue: the bytes received, except where a secret travels in them.

        A token a provider writes into its body (Microsoft Graph's ``clientState``)
        must not reach the queue, where handlers, logs and dead letters would see it.
        """
        return request.body

    # ----------------------------------------------------------------- what the signature covers

    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        """Whether the delivery id is read from what the signature covers.

        When it is not (a header outside the signed material), a captured
        request can be re-sent with any id, so the processor must not trust
        the id alone as the idempotency key (see ``replay_digest``).
        """
        return True

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        """Whether the event type is read from what the signature covers (or there is none)."""
        return True

    def signs_timestamp(self, options: Mapping[str, Any]) -> bool:
        """Whether, with these options, a timestamp is signed (so a retry may be signed anew)."""
        return self.timestamped

    def replay_digest(self, request: Request, options: Mapping[str, Any]) -> str:
        """SHA-256 (hex) of the material the signature covers.

        A replay of a verified request has the same digest whatever unsigned
        headers it carries; two different signed requests never share one.
        """
        return body_sha256(request.body)


class UnsignedHeadersScheme(Scheme):
    """Delivery id and event type in headers outside the signature (GitHub, Shopify)."""

    def delivery_id_signed(self, options: Mapping[str, Any]) -> bool:
        return False

    def event_type_signed(self, options: Mapping[str, Any]) -> bool:
        return False
