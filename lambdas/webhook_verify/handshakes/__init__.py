"""Handshakes: the requests a provider sends to check an endpoint, answered and never queued.

A provider proves (or asks us to prove) that the endpoint is the one it was
given: Slack's ``url_verification``, Meta's GET ``hub.challenge``, Zoom's
``endpoint.url_validation`` and so on. Each is a ``Handshake`` registered by
name in ``HANDSHAKES``; a source answers the one its provider's catalogue
entry names (``handshake_kind``), else its scheme's ``default_handshake``.

A handshake is answered only as far as it can be authenticated:

* ``before_verification`` sees every request first, signed or not. It answers
  only what the provider cannot sign (a GET challenge, Graph's
  ``validationToken``), and so may only echo a bounded, inert value
  (``Answer.echo``) or compare a configured token in constant time.
* ``after_verification`` sees a request whose signature verified. A challenge
  whose answer is computed with the secret (Zoom's HMAC of ``plainToken``)
  belongs here, or any sender could use the endpoint as a signing oracle.

An echoed value is ``text/plain`` with ``nosniff`` and at most
``MAX_ECHO_BYTES`` of printable ASCII: a challenge endpoint must not become a
reflection gadget.
"""

from __future__ import annotations

import json
import re
from abc import ABC
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from webhook_verify.registry import Entry, LazyRegistry
from webhook_verify.schemes.request import Request

# No provider's challenge is near this long (Slack's is 48 characters, Graph's
# validationToken a few hundred); longer values are refused, not truncated.
MAX_ECHO_BYTES = 1024
_ECHOABLE = re.compile(rf"[\x21-\x7e]{{1,{MAX_ECHO_BYTES}}}")
_ECHOABLE_WITH_SPACES = re.compile(rf"[\x20-\x7e]{{1,{MAX_ECHO_BYTES}}}")
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
# A provider's expected acknowledgement is a word or two (Paddle Classic's "[accepted]");
# a longer configured body is refused rather than sent with every accepted webhook.
MAX_ACKNOWLEDGEMENT_BYTES = 256


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a handshake (or a provider's expected acknowledgement)."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    # A URL the verifier must GET before answering (AWS SNS's SubscribeURL): the
    # handshake has checked its host; a failed call is a 503, so the provider retries.
    confirm_url: str | None = None
    # A request that is this handshake but may not be answered (``refuse``): the verifier
    # answers and counts it as it does any rejected request.
    refused: bool = False
    # A new signing secret the verifier must store before answering (Asana's X-Hook-Secret,
    # Notion's verification_token, captured once when the operator armed the source): it
    # replaces the source's secrets and disarms the capture; a failed write is a 503.
    store_secret: str | None = field(default=None, repr=False)

    @classmethod
    def json(cls, document: Any, status: int = 200) -> Answer:
        return cls(status, json.dumps(document, separators=(",", ":")).encode(), "application/json", NOSNIFF)

    @classmethod
    def acknowledgement(cls, spec: Any) -> Answer:
        """A provider's expected answer to an accepted webhook, from ``{"status", "body", "content_type"}``
        (a catalogue entry's ``answer``, a source's ``acknowledgement``).

        Raises ``ValueError`` saying what the answer must be: a 2xx status, a text body of at most
        ``MAX_ACKNOWLEDGEMENT_BYTES`` characters, a text content type, and no other field.
        """
        if not isinstance(spec, Mapping):
            spec = {"status": None}  # refused below, with the same message
        status = spec.get("status", 200)
        body = spec.get("body", "")
        content_type = spec.get("content_type", "text/plain; charset=utf-8")
        if (
            set(spec) - {"status", "body", "content_type"}
            or isinstance(status, bool)
            or not isinstance(status, int)
            or not 200 <= status <= 299
            or not isinstance(body, str)
            or len(body) > MAX_ACKNOWLEDGEMENT_BYTES
            or not isinstance(content_type, str)
        ):
            raise ValueError(
                f"must be {{status: 2xx, body: text of at most {MAX_ACKNOWLEDGEMENT_BYTES} characters, "
                "content_type: text}"
            )
        return cls(status, body.encode("utf-8"), content_type, NOSNIFF)

    @classmethod
    def echo(cls, value: Any, *, spaces: bool = False) -> Answer | None:
        """``value`` as text/plain, or None when it is not 1-MAX_ECHO_BYTES printable ASCII characters
        (with ``spaces``, spaces too: Microsoft Graph's validationToken is a sentence)."""
        pattern = _ECHOABLE_WITH_SPACES if spaces else _ECHOABLE
        if not isinstance(value, str) or not pattern.fullmatch(value):
            return None
        return cls(200, value.encode("ascii"), "text/plain; charset=utf-8", NOSNIFF)

    @classmethod
    def empty(cls, status: int = 200) -> Answer:
        return cls(status, b"", "text/plain; charset=utf-8", NOSNIFF)

    @classmethod
    def refuse(cls, status: int = 401) -> Answer:
        """Refuse a request that is this handshake: 401 for a wrong or missing token (as a failed
        signature is answered), 400 for a challenge that cannot be echoed."""
        if status not in (400, 401):
            raise ValueError("a handshake refuses with 401 (token) or 400 (challenge)")
        return cls(status, refused=True)


@dataclass(frozen=True)
class Context:
    """What a handshake may use: the source's active secrets, their keys, options and named tokens.

    ``tokens`` are the other text fields of the source's secret document (for
    instance Meta's ``verify_token``), never logged.
    """

    secrets: Sequence[str]
    keys: Sequence[bytes]
    options: Mapping[str, Any]
    tokens: Mapping[str, str] = field(default_factory=dict)
    now: float = 0.0


class Handshake(ABC):
    """One provider's endpoint check; both hooks answer None for a request that is not one."""

    name: ClassVar[str]
    # HTTP methods besides POST the API exposes for a source that answers this handshake.
    methods: ClassVar[frozenset[str]] = frozenset()
    # Text fields the source's secret document must hold (``Context.tokens``).
    tokens: ClassVar[tuple[str, ...]] = ()
    # True when an answer may carry ``store_secret``: the stack then lets the verifier write
    # this source's secret (secretsmanager:PutSecretValue on it alone).
    captures_secret: ClassVar[bool] = False

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        return None

    def after_verification(self, request: Request, context: Context) -> Answer | None:
        return None


def _handshake(module: str, attribute: str) -> Entry:
    return (f"{__name__}.{module}", attribute, {})


# Each module is imported when a source first needs one of its handshakes (webhook_verify.registry).
HANDSHAKES: LazyRegistry[Handshake] = LazyRegistry(
    {
        "slack-url-verification": _handshake("slack", "SlackUrlVerification"),
        "meta-hub-challenge": _handshake("challenges", "MetaHubChallenge"),
        "dropbox-challenge": _handshake("challenges", "DropboxChallenge"),
        "okta-verification": _handshake("challenges", "OktaVerification"),
        "trello-head": _handshake("challenges", "TrelloHead"),
        "discord-ping": _handshake("discord", "DiscordPing"),
        "graph-validation-token": _handshake("graph", "GraphValidationToken"),
        "zoom-url-validation": _handshake("post_challenges", "ZoomUrlValidation"),
        "twitch-callback-verification": _handshake("post_challenges", "TwitchCallbackVerification"),
        "xero-intent-to-receive": _handshake("post_challenges", "XeroIntentToReceive"),
        "asana-hook-secret-capture": _handshake("post_challenges", "AsanaHookSecretCapture"),
        "notion-verification-token-capture": _handshake("post_challenges", "NotionVerificationTokenCapture"),
        "aws-sns-subscription": _handshake("sns", "SnsSubscription"),
    }
)


def get_handshake(name: str) -> Handshake:
    """The handshake registered under ``name``; KeyError names the known ones."""
    try:
        return HANDSHAKES[name]
    except KeyError:
        raise KeyError(f"unknown handshake {name!r}; known: {', '.join(sorted(HANDSHAKES))}") from None


__all__ = ["HANDSHAKES", "MAX_ECHO_BYTES", "Answer", "Context", "Handshake", "get_handshake"]
