"""The idempotency keys of a delivery: the one contract between the processor and the redrive tool.

Powertools stores a record under ``<key prefix>#<hash of the JMESPath result>``.
The prefix is fixed here rather than derived from the Lambda's name (the
Powertools default), so renaming or redeploying the function does not forget
which deliveries were processed. It names the source, so each processor's IAM
policy can be limited to its own records (``dynamodb:LeadingKeys``). The
redrive tool must delete exactly the records the processor wrote, so both
build the keys through this module, which delegates the hashing to Powertools
itself.

A delivery has one record per value of ``Provenance.keys_for`` (the delivery
id when it is signed; the digest of the signed material when it is not; both
when an unsigned id comes with a signed timestamp).
"""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from shared.message import QueuedWebhook

# Changing any of these orphans every stored record: each delivery would run again once.
KEY_PREFIX_BASE = "webhook-kit.processor"
KEY_FIELD = "idempotency_key"
EVENT_KEY_JMESPATH = KEY_FIELD
HASH_FUNCTION = "md5"  # Powertools' default, named so both sides agree explicitly


def key_prefix(source: str) -> str:
    """The Powertools key prefix of ``source``'s records (their partition keys start with it and '#')."""
    return f"{KEY_PREFIX_BASE}.{source}"


def delivery_key(source: str, value: str) -> str:
    return f"{source}#{value}"


def idempotency_payload(source: str, value: str) -> dict[str, str]:
    """The data the processor hands Powertools; EVENT_KEY_JMESPATH selects the key from it."""
    return {KEY_FIELD: delivery_key(source, value)}


def idempotency_values(message: QueuedWebhook) -> tuple[str, ...]:
    """The values the processor keys this delivery's records on, outermost first."""
    return message.provenance.keys_for(message.delivery_id)


class _KeyOnly(BasePersistenceLayer):
    """A persistence layer that stores nothing: used only for Powertools' key derivation."""

    def _get_record(self, idempotency_key: str) -> DataRecord:
        raise NotImplementedError

    def _put_record(self, data_record: DataRecord) -> None:
        raise NotImplementedError

    def _update_record(self, data_record: DataRecord) -> None:
        raise NotImplementedError

    def _delete_record(self, data_record: DataRecord) -> None:
        raise NotImplementedError


@functools.lru_cache(maxsize=256)
def _key_layer(source: str) -> _KeyOnly:
    layer = _KeyOnly()
    layer.configure(
        IdempotencyConfig(event_key_jmespath=EVENT_KEY_JMESPATH, hash_function=HASH_FUNCTION),
        key_prefix=key_prefix(source),
    )
    return layer


def idempotency_record_id(source: str, value: str) -> str:
    """The partition key (``id``) of the record Powertools writes for ``value`` of ``source``."""
    key: Any = _key_layer(source)._get_hashed_idempotency_key(idempotency_payload(source, value))
    if not isinstance(key, str):  # only when the payload is empty, which delivery_key never is
        raise ValueError("no idempotency key for an empty delivery")
    return key


def record_ids(message: QueuedWebhook) -> list[str]:
    """Every record the processor writes for ``message`` (what ``redrive --reprocess`` deletes)."""
    return [idempotency_record_id(message.source, value) for value in idempotency_values(message)]
