"""AWS SNS: an RSA signature inside the JSON message, checked with the certificate at its ``SigningCertURL``.

SNS signs the fields of the message, not its bytes (docs.aws.amazon.com/sns/
latest/dg/sns-verify-signature-of-message.html): for a ``Notification``
``Message``, ``MessageId``, ``Subject`` (when present), ``Timestamp``,
``TopicArn`` and ``Type``; for a ``SubscriptionConfirmation`` or
``UnsubscribeConfirmation`` ``Message``, ``MessageId``, ``SubscribeURL``,
``Timestamp``, ``Token``, ``TopicArn`` and ``Type``; each as ``name\\nvalue\\n``
in that order. ``SignatureVersion`` 1 is SHA1withRSA, 2 SHA256withRSA.

A source's secrets are the ARNs of the topics it accepts. A valid signature
only proves that *some* SNS topic sent the message, and anyone can subscribe
an endpoint to a topic of their own, so AWS says to reject unexpected
``TopicArn`` values: here a message from any other topic verifies nothing.
The topic's ARN also fixes the region, and with it the only host the
certificate may come from: ``https://sns.<region>.amazonaws.com/<name>.pem``
(``.amazonaws.com.cn`` in China). The certificate's subject must be
``sns.amazonaws.com`` (or that regional host).

The ``Timestamp`` is signed but not held to the source's window: SNS retries a
delivery with the same signature for up to an hour (its HTTP delivery policy),
so a replay is recognised by the signed ``MessageId`` instead.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from .base import Check, SigningInput
from .certificates import CertificateScheme, decoded_signature, rsa_sign, rsa_signs, signing_key
from .helpers import any_equal, clean_id
from .request import Request

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
SIGNED_FIELDS = {
    NOTIFICATION: _NOTIFICATION_FIELDS,
    SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_FIELDS,
    UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_FIELDS,
}
DIGESTS = {"1": "sha1", "2": "sha256"}
# arn:<partition>:sns:<region>:<account>:<topic name> (1-256 letters, digits, - and _; .fifo).
TOPIC_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-cn|aws-us-gov):sns:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]):[0-9]{12}:"
    r"[A-Za-z0-9_-]{1,256}(?:\.fifo)?"
)
_DOMAINS = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}
# The certificate's file on the regional host: SimpleNotificationService-<hex>.pem.
_CERTIFICATE_PATH = re.compile(r"/[A-Za-z0-9_.-]{1,200}\.pem")
CERTIFICATE_SUBJECT = "sns.amazonaws.com"
# Fields of a message that SNS sends as text; no other type is accepted for them.
_TEXT_FIELDS = frozenset({*_CONFIRMATION_FIELDS, *_NOTIFICATION_FIELDS, "SignatureVersion", "Signature"})
_TEXT_FIELDS |= {"SigningCertURL", "UnsubscribeURL"}
MAX_TOKEN_LENGTH = 1024
_EXAMPLE_ACCOUNT = "123456789012"
_EXAMPLE_REGION = "us-east-1"


def sns_host(topic_arn: str) -> str | None:
    """The SNS host of ``topic_arn``'s region, ``sns.<region>.amazonaws.com[.cn]``, or None."""
    match = TOPIC_ARN.fullmatch(topic_arn)
    if match is None:
        return None
    return f"sns.{match['region']}.{_DOMAINS[match['partition']]}"


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        # Parsers disagree on which of two "Message" fields counts: the signed one must be the only one.
        raise ValueError("duplicate field")
    return dict(pairs)


# The last body parsed and its message: verify, the delivery id and the event type each
# read it, and a large body should be parsed once (the bytes object's identity is the key).
_last_parsed: tuple[bytes, dict[str, str] | None] | None = None


def message(body: bytes) -> dict[str, str] | None:
    """The SNS message in ``body`` with its text fields, or None when it is not one.

    A field named twice, a signed field that is not text, or an unknown
    ``Type`` makes it no message. A null ``Subject`` is an absent one.
    """
    global _last_parsed
    cached = _last_parsed
    if cached is not None and cached[0] is body:
        return cached[1]
    fields = _parse(body)
    _last_parsed = (body, fields)
    return fields


def _parse(body: bytes) -> dict[str, str] | None:
    try:
        document = json.loads(body, object_pairs_hook=_refuse_duplicates)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    if document.get("Subject", "") is None:
        del document["Subject"]
    fields = {key: value for key, value in document.items() if key in _TEXT_FIELDS}
    if any(not isinstance(value, str) for value in fields.values()):
        return None
    if fields.get("Type") not in SIGNED_FIELDS:
        return None
    required = [name for name in SIGNED_FIELDS[fields["Type"]] if name != "Subject"]
    if any(name not in fields for name in (*required, "SignatureVersion", "Signature", "SigningCertURL")):
        return None
    return fields


def string_to_sign(fields: Mapping[str, str]) -> bytes:
    """``name\\nvalue\\n`` for each signed field of the message's type that it holds, in AWS's order."""
    names = SIGNED_FIELDS[fields["Type"]]
    return "".join(f"{name}\n{fields[name]}\n" for name in names if name in fields).encode("utf-8")


def certificate_url_ok(url: str, host: str) -> bool:
    """Whether ``url`` is ``https://<host>/<name>.pem`` exactly (no port, user, query or fragment)."""
    if len(url) > 512 or not url.isascii():
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.netloc == host
        and not parts.query
        and not parts.fragment
        and bool(_CERTIFICATE_PATH.fullmatch(parts.path))
    )


def subscribe_url_ok(fields: Mapping[str, str]) -> bool:
    """Whether a confirmation's ``SubscribeURL`` calls ConfirmSubscription for its own topic on its
    region's SNS host, and nothing else (the verifier GETs it, so it must not point anywhere else)."""
    url, topic = fields.get("SubscribeURL", ""), fields.get("TopicArn", "")
    host = sns_host(topic)
    if host is None or len(url) > 2048 or not url.isascii() or any(c in url for c in " \\\t\r\n"):
        return False
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return False
    values = dict(query)
    return (
        parts.scheme == "https"
        and parts.netloc == host
        and parts.path == "/"
        and not parts.fragment
        and len(values) == len(query)
        and values.get("Action") == "ConfirmSubscription"
        and values.get("TopicArn") == topic
        and 0 < len(values.get("Token", "")) <= MAX_TOKEN_LENGTH
    )


def signed_message(fields: Mapping[str, str], *, private_key: str, certificate_url: str, version: str = "2") -> dict:
    """``fields`` with ``SignatureVersion``, ``SigningCertURL`` and ``Signature`` as SNS adds them
    (test senders: the key is a test key whose certificate the test serves at ``certificate_url``)."""
    signature = rsa_sign(private_key, string_to_sign(fields), DIGESTS[version])
    return {**fields, "SignatureVersion": version, "Signature": signature, "SigningCertURL": certificate_url}


@dataclass(frozen=True)
class AwsSns(CertificateScheme):
    name: str = "aws-sns"
    # The Timestamp is signed, but SNS retries with the same signature for up to an hour.
    timestamped: bool = False
    # SNS signs chosen fields, not the bytes: whitespace or an unsigned field (UnsubscribeURL,
    # MessageAttributes) can change and the message still verifies.
    signs_body: ClassVar[bool] = False
    default_handshake: ClassVar[str | None] = "aws-sns-subscription"
    key_hosts: ClassVar[re.Pattern[str]] = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-[0-9]\.amazonaws\.com(?:\.cn)?")

    def _checked_headers(self, options: Mapping[str, Any]) -> Iterable[str]:
        return ()  # everything signed is in the body

    def _verify_one(self, request: Request, keys: Sequence[bytes], check: Check) -> bool:
        fields = message(request.body)
        if fields is None:
            return False
        topic = fields["TopicArn"]
        host = sns_host(topic)
        digest = DIGESTS.get(fields["SignatureVersion"])
        signature = decoded_signature(fields["Signature"])
        if not keys or host is None or digest is None or signature is None:
            return False
        if not any_equal(topic, [key.decode("utf-8", "replace") for key in keys]):
            return False
        url = fields["SigningCertURL"]
        if not certificate_url_ok(url, host):
            return False
        key = self.fetch_key(url, check, subjects=lambda subject: subject in (CERTIFICATE_SUBJECT, host))
        return key is not None and rsa_signs(key, signature, string_to_sign(fields), digest)

    # ------------------------------------------------------------------ secrets: topic ARNs

    def key(self, secret: str) -> bytes | None:
        return secret.encode() if TOPIC_ARN.fullmatch(secret) else None

    def secret_for_key(self, key: bytes) -> str:
        text = key.decode("ascii", "replace")
        name = text if re.fullmatch(r"[A-Za-z0-9_-]{1,200}", text) else key.hex()[:200]
        return f"arn:aws:sns:{_EXAMPLE_REGION}:{_EXAMPLE_ACCOUNT}:{name}"

    def example_secret(self, seed: bytes) -> str:
        return f"arn:aws:sns:{_EXAMPLE_REGION}:{_EXAMPLE_ACCOUNT}:webhook-kit-{seed.hex()[:16]}"

    # ------------------------------------------------------------------ signing (test senders)

    def envelope(
        self,
        body: bytes,
        secret: str,
        *,
        timestamp: int,
        options: Mapping[str, Any],
        delivery_id: str | None = None,
    ) -> bytes:
        """An SNS ``Notification`` from topic ``secret`` whose ``Message`` is ``body`` (as text), signed
        with ``options["signing_key"]``; its certificate is ``options["signing_certificate"]`` on the
        topic's regional host. Deterministic: the same input gives the same bytes."""
        host = sns_host(secret)
        if host is None:
            raise ValueError("an aws-sns secret is the ARN of the topic: arn:aws:sns:<region>:<account>:<name>")
        message_id = delivery_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{secret}|{timestamp}|{body.hex()}"))
        fields = {
            "Type": NOTIFICATION,
            "MessageId": message_id,
            "TopicArn": secret,
            "Message": body.decode("utf-8", "replace"),
            "Timestamp": datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
        }
        certificate = str(options.get("signing_certificate", "SimpleNotificationService-webhook-kit-test.pem"))
        signed = signed_message(
            fields,
            private_key=signing_key(options, self.name),
            certificate_url=f"https://{host}/{certificate}",
            version=str(options.get("signature_version", "2")),
        )
        signed["UnsubscribeURL"] = f"https://{host}/?Action=Unsubscribe&SubscriptionArn={secret}:{uuid.UUID(int=0)}"
        return json.dumps(signed, indent=2).encode()

    def _sign(self, delivery: SigningInput, secret: str, options: Mapping[str, Any]) -> dict[str, str]:
        # The signature is in the message (``envelope``). The x-amz-sns-* headers SNS sends
        # with it are neither signed nor read, so a signer writes none.
        if message(delivery.body) is None:
            raise ValueError("aws-sns signs a message, not a body: wrap the body with envelope() first")
        return {}

    # ------------------------------------------------------------------ what the signature covers

    def delivery_id(self, request: Request, options: Mapping[str, Any]) -> str | None:
        fields = message(request.body)
        return clean_id(fields["MessageId"]) if fields else None

    def event_type(self, request: Request, options: Mapping[str, Any]) -> str | None:
        fields = message(request.body)
        return clean_id(fields["Type"]) if fields else None

    def signature_headers(self, options: Mapping[str, Any]) -> frozenset[str]:
        return frozenset()  # the signature is in the body
