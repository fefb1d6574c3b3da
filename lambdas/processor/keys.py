"""The idempotency key of a delivery: the one contract between the processor and the redrive tool.

Powertools stores a record under ``<key prefix>#<hash of the JMESPath result>``.
The prefix is fixed here rather than derived from the Lambda's name (the
Powertools default), so renaming or redeploying the function does not forget
which deliveries were processed. The redrive tool must delete exactly the
record the processor wrote, so both build the key through this module, which
delegates the hashing to Powertools itself.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

# Changing any of these orphans every stored record: each delivery would run again once.
KEY_PREFIX = "webhook-kit.processor"
KEY_FIELD = "idempotency_key"
EVENT_KEY_JMESPATH = KEY_FIELD
HASH_FUNCTION = "md5"  # Powertools' default, named so both sides agree explicitly


def delivery_key(source: str, delivery_id: str) -> str:
    return f"{source}#{delivery_id}"


def idempotency_payload(source: str, delivery_id: str) -> dict[str, str]:
    """The data the processor hands Powertools; EVENT_KEY_JMESPATH selects the key from it."""
    return {KEY_FIELD: delivery_key(source, delivery_id)}


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


def _configured_key_layer() -> _KeyOnly:
    layer = _KeyOnly()
    layer.configure(
        IdempotencyConfig(event_key_jmespath=EVENT_KEY_JMESPATH, hash_function=HASH_FUNCTION),
        key_prefix=KEY_PREFIX,
    )
    return layer


_LAYER = _configured_key_layer()


def idempotency_record_id(source: str, delivery_id: str) -> str:
    """The partition key (``id``) of the record Powertools writes for this delivery."""
    key: Any = _LAYER._get_hashed_idempotency_key(idempotency_payload(source, delivery_id))
    if not isinstance(key, str):  # only when the payload is empty, which delivery_key never is
        raise ValueError("no idempotency key for an empty delivery")
    return key
