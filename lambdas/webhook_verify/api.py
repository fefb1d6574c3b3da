"""``verify``: one webhook request checked against one provider, from any platform's request parts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from webhook_verify.api_version import ApiVersionFrom
from webhook_verify.check import Verification, check
from webhook_verify.handshakes import Answer, get_handshake
from webhook_verify.schemes import Headers, Request, get_scheme

# A source's replay window unless told otherwise (the kit's default, and Stripe's libraries').
DEFAULT_TOLERANCE_SECONDS = 300


def verify(
    *,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    secrets: Sequence[str] | str,
    provider: str | None = None,
    scheme: str | None = None,
    options: Mapping[str, Any] | None = None,
    method: str = "POST",
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    tokens: Mapping[str, str] | None = None,
    fetch: Callable[[str], bytes] | None = None,
    api_version_from: str | None = None,
) -> Verification:
    """Check one request: its provider's handshake, then its signature over the exact bytes of ``body``.

    ``provider``: a name of the catalogue (``webhook_verify.providers``), which sets
    the scheme, its options, the handshake and the expected acknowledgement; or
    ``scheme`` and ``options`` for a sender not in it. ``url``: the public URL
    the request was sent to, with its query string. ``headers``: a mapping or
    (name, value) pairs, repeats kept. ``secrets``: the active signing secrets
    (two while one is rotated). ``now``: the clock, in seconds (default: the
    system's). ``tokens``: other values a handshake checks (Meta's
    ``verify_token``). ``fetch``: GETs a public key or certificate URL that a
    public-key scheme names (a ``webhook_verify.KeyFetcher``, made once per
    process for its cache); without it those schemes (AWS SNS, PayPal) refuse.
    ``api_version_from``: where a delivery states its API version
    (``body:<path>`` or ``header:<name>``), when the provider's entry does not
    say or says otherwise; the result's ``api_version`` holds it.

    Raises ``ValueError`` (naming the argument) for arguments that cannot work:
    an unknown provider or scheme, both or neither, options the scheme refuses.
    Never raises for anything the sender controls.
    """
    if (provider is None) == (scheme is None):
        raise ValueError("give provider (a catalogue name) or scheme (with its options), not both and not neither")
    acknowledgement = handshake_name = None
    version_from = None
    merged: dict[str, Any] = {}
    if provider is not None:
        from webhook_verify.providers import get_provider

        try:
            entry = get_provider(provider)
        except KeyError as error:
            raise ValueError(f"provider: {error.args[0]}") from None
        scheme, merged, handshake_name = entry.scheme, dict(entry.options), entry.answered_handshake
        if entry.answer is not None:
            acknowledgement = Answer.acknowledgement(entry.answer)
        version_from = entry.api_version_from
    if api_version_from is not None:
        try:
            version_from = ApiVersionFrom.parse(api_version_from)
        except ValueError as error:
            raise ValueError(f"api_version_from: {error}") from None
    assert scheme is not None
    try:
        chosen = get_scheme(scheme)
    except KeyError as error:
        raise ValueError(f"scheme: {error.args[0]}") from None
    merged.update(options or {})
    chosen.validate_options(merged)  # SchemeConfigError is a ValueError naming the option
    if handshake_name is None:
        handshake_name = chosen.default_handshake
    if not isinstance(body, bytes | bytearray):
        raise ValueError("body must be the request's raw bytes, exactly as received")
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    parts = urlsplit(url)
    request = Request(
        headers=Headers((str(name), str(value)) for name, value in pairs),
        body=bytes(body),
        url=parts._replace(query="", fragment="").geturl(),
        query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
        method=method.upper(),
    )
    return check(
        request,
        scheme=chosen,
        options=merged,
        secrets=[secrets] if isinstance(secrets, str) else list(secrets),
        now=time.time() if now is None else now,
        tolerance_seconds=tolerance_seconds,
        handshake=get_handshake(handshake_name) if handshake_name else None,
        tokens=tokens,
        acknowledgement=acknowledgement,
        fetch=fetch,
        api_version_from=version_from,
    )
