"""The verifier's only contact with AWS: fetch a secret, store a body, send a message, store a captured secret.

``Adapters`` is the seam: the handler talks to it, tests hand in an in-memory
fake. Every failure surfaces as ``DependencyError`` so the caller can answer
503 without knowing which SDK raised.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import BotoCoreError, ClientError

from shared.contract import SSM_GET_PARAMETERS_MAX_NAMES


class DependencyError(RuntimeError):
    """An AWS dependency did not do its part; the provider should retry later."""


class SecretFormatError(DependencyError):
    """The secret exists but does not hold ``{"secrets": [...]}`` (an operator error)."""


class SecretConflict(DependencyError):
    """A captured secret was already stored for this arming (another instance took the handshake first)."""


class Secrets(list[str]):
    """The active secrets, and the secret document's other text fields as ``tokens``.

    A token is a value a handshake compares against (Meta's ``verify_token``);
    like the secrets, it is never logged.
    """

    def __init__(self, values: Any = (), tokens: Mapping[str, str] | None = None) -> None:
        super().__init__(values)
        self.tokens: Mapping[str, str] = dict(tokens or {})


class StaleSecrets(Secrets):
    """The last good secrets, served because a refresh failed (within the grace period)."""


class Adapters(Protocol):
    def get_secrets(self, secret_id: str) -> list[str]: ...

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> None: ...

    def send_message(self, queue_url: str, message: dict[str, Any]) -> str: ...

    def put_secret(self, secret_id: str, secret_string: str, *, once: str) -> None:
        """Store ``secret_string`` as the secret's new current value, at most once per ``once``.

        ``once`` names the arming (the capture token): a second write for it with another
        value raises SecretConflict. Any other failure raises DependencyError.
        """
        ...


# Removed from the document when a secret is captured: the capture is one-time.
CAPTURE_TOKEN_FIELD = "capture_token"  # noqa: S105 - a field name, not a secret


def captured_document(secret: str, tokens: Mapping[str, str]) -> str:
    """The SecretString after a capture: the captured secret alone, the other text fields, no capture token.

    The captured secret replaces the list (what it replaces was a placeholder);
    fields that are not text are not kept (``Secrets.tokens`` holds only text).
    """
    kept = {name: value for name, value in tokens.items() if name != CAPTURE_TOKEN_FIELD}
    return json.dumps({"secrets": [secret], **kept}, separators=(",", ":"))


def capture_request_token(once: str) -> str:
    """Secrets Manager's ClientRequestToken (the version id, 32-64 characters) for one arming.

    Secrets Manager refuses a second version with the same token and another
    value, so two verifier instances that both still see the source armed
    (each caches the secret) cannot both store a secret.
    """
    return hashlib.sha256(b"webhook-kit capture\0" + once.encode("utf-8")).hexdigest()


def parse_secret(raw: Any) -> Secrets:
    """The active secrets in a SecretString, and its other text fields (docs/runtime-contract.md, "Secrets")."""
    if not isinstance(raw, str):
        raise SecretFormatError("secret has no SecretString")
    try:
        document = json.loads(raw)
    except json.JSONDecodeError:
        raise SecretFormatError("SecretString is not JSON") from None
    value = document.get("secrets") if isinstance(document, dict) else None
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        tokens = {key: text for key, text in document.items() if key != "secrets" and isinstance(text, str)}
        return Secrets(value, tokens)
    raise SecretFormatError('SecretString must be {"secrets": [...]} or {"secrets": "..."}')


class AwsAdapters:
    """Secrets Manager through Powertools (cached for ``max_age`` seconds), SQS and S3 through boto3.

    When a refresh fails, the last secrets read are served for up to
    ``secrets_grace_seconds`` after the last successful read (so at most
    max_age + grace after Secrets Manager last answered), as ``StaleSecrets``:
    a Secrets Manager hiccup then costs nothing, where it used to turn every
    webhook into a 503. After the grace period the failure surfaces as usual.
    """

    def __init__(
        self,
        *,
        secrets_max_age_seconds: int,
        secrets_grace_seconds: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age = secrets_max_age_seconds
        self._grace = secrets_grace_seconds
        self._clock = clock
        self._last_good: dict[str, tuple[Secrets, float]] = {}
        # Its own provider rather than get_secret's module-wide one: the cache
        # and client then live and die with this object (one per cold start).
        self._secrets: parameters.SecretsProvider | None = None
        # Secrets read afresh, not from the cache: one this instance wrote, and one armed for a
        # capture (another instance may capture it at any moment: then this one must not keep
        # answering the handshake, nor refuse webhooks signed with the captured secret).
        self._fresh: set[str] = set()
        self._secrets_manager: Any = None
        self._sqs: Any = None
        self._s3: Any = None

    def get_secrets(self, secret_id: str) -> list[str]:
        try:
            if self._secrets is None:
                import boto3

                # A client of boto3's default session: a provider's own session
                # would load botocore's endpoint data a second time (~40 ms cold).
                self._secrets = parameters.SecretsProvider(boto3_client=boto3.client("secretsmanager"))
            raw = self._secrets.get(secret_id, max_age=self._max_age, force_fetch=secret_id in self._fresh)
        except (parameters.GetParameterError, BotoCoreError, ClientError) as error:
            last = self._last_good.get(secret_id)
            if last is not None and self._clock() - last[1] <= self._grace:
                return StaleSecrets(last[0], last[0].tokens)
            raise DependencyError(f"secret fetch failed: {type(error).__name__}") from error
        secrets = parse_secret(raw)
        if CAPTURE_TOKEN_FIELD in secrets.tokens:
            self._fresh.add(secret_id)
        else:
            self._fresh.discard(secret_id)
        # Every successful read, cached or not: a cached value is at most max_age old.
        self._last_good[secret_id] = (secrets, self._clock())
        return secrets

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3")
        try:
            self._s3.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=content_type or "application/octet-stream"
            )
        except (BotoCoreError, ClientError) as error:
            raise DependencyError(f"PutObject failed: {type(error).__name__}") from error

    def put_secret(self, secret_id: str, secret_string: str, *, once: str) -> None:
        if self._secrets_manager is None:
            import boto3

            self._secrets_manager = boto3.client("secretsmanager")
        try:
            self._secrets_manager.put_secret_value(
                SecretId=secret_id, SecretString=secret_string, ClientRequestToken=capture_request_token(once)
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceExistsException":
                raise SecretConflict("this capture was already stored") from error
            raise DependencyError(f"PutSecretValue failed: {type(error).__name__}") from error
        except BotoCoreError as error:
            raise DependencyError(f"PutSecretValue failed: {type(error).__name__}") from error
        finally:
            # Whatever happened, the cached document may be out of date now.
            self._fresh.add(secret_id)

    def send_message(self, queue_url: str, message: dict[str, Any]) -> str:
        if self._sqs is None:
            import boto3

            self._sqs = boto3.client("sqs")
        try:
            response = self._sqs.send_message(QueueUrl=queue_url, **message)
        except (BotoCoreError, ClientError) as error:
            raise DependencyError(f"SendMessage failed: {type(error).__name__}") from error
        message_id = response.get("MessageId")
        if not message_id:
            raise DependencyError("SendMessage returned no MessageId")
        return str(message_id)


def read_ssm_parameters(names: Sequence[str]) -> dict[str, str]:
    """The values of SSM parameters, ``SSM_GET_PARAMETERS_MAX_NAMES`` a call; absent ones are left out."""
    import boto3

    client = boto3.client("ssm")
    values: dict[str, str] = {}
    for start in range(0, len(names), SSM_GET_PARAMETERS_MAX_NAMES):
        answer = client.get_parameters(Names=list(names[start : start + SSM_GET_PARAMETERS_MAX_NAMES]))
        values.update({parameter["Name"]: parameter["Value"] for parameter in answer["Parameters"]})
    return values
