"""The faults injected around the real code: SendMessage failing in the verifier, Lambdas dying mid-batch.

Both plug into :class:`~webhook_kit.local.LocalPipeline`'s seams (``verifier_adapters``
and ``processor_hook``) and run in its worker processes, so both are picklable and
count into the soak's shared tally.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

from shared.contract import IDEMPOTENCY_KEY_ATTRIBUTE
from tests.soak.harness.ledger import Ledger, SimulatedDeath
from webhook_kit.local import FakeLambdaContext, ProcessorCall

# A worker that dies on cue exits with this (the console and the report show a crashed Lambda).
DEATH_EXIT_CODE = 70
# Of the injected SendMessage failures, the share that happens after SQS stored the message.
LOST_REPLY_SHARE = 0.25


def seeded_random(seed: float) -> random.Random:
    return random.Random(seed)


class FlakySqsAdapters:
    """The verifier's adapters with SendMessage failing now and then (the verifier answers 503)."""

    def __init__(self, inner: Any, *, rate: float, seed: float, tally: Any) -> None:
        self._inner = inner
        self._rate = rate
        # Seeded per process: the partial that builds this is pickled into every verifier worker,
        # and one shared seed gave them all the same stream of faults.
        self._rng = seeded_random(hash((seed, os.getpid())))
        self._rng_lock = threading.Lock()
        self._tally = tally

    def get_secrets(self, secret_id: str) -> list[str]:
        return list(self._inner.get_secrets(secret_id))

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self._inner.put_object(bucket, key, body, content_type)

    def put_secret(self, secret_id: str, secret_string: str, *, once: str) -> None:
        self._inner.put_secret(secret_id, secret_string, once=once)

    def send_message(self, queue_url: str, message: dict[str, Any]) -> str:
        from verifier.adapters import DependencyError

        with self._rng_lock:
            fail = self._rng.random() < self._rate
            after = fail and self._rng.random() < LOST_REPLY_SHARE
        if fail and not after:
            self._tally.add("send_refused")
            raise DependencyError("SendMessage failed: injected by the soak")
        message_id = str(self._inner.send_message(queue_url, message))
        if after:
            self._tally.add("send_reply_lost")
            raise DependencyError("SendMessage reply lost: injected by the soak (the message is queued)")
        return message_id


class ProcessorFaults:
    """The pipeline's processor hook, run in each processor worker: a short context and deaths mid-batch.

    A death is real: the worker process exits (``os._exit``), part-way through the
    batch or before answering, so the local event source mapping sees a crashed
    Lambda, deletes nothing of the batch, and a new worker takes over. Picklable:
    the ledger holds proxies, and the random stream is seeded per worker.
    """

    def __init__(
        self, ledger: Ledger, *, crash_rate: float, lambda_seconds: float, seed: float, table_name: str
    ) -> None:
        self._ledger = ledger
        self._crash_rate = crash_rate
        self._lambda_seconds = lambda_seconds
        self._seed = seed
        self._table_name = table_name
        self._rng: random.Random | None = None

    def __call__(self, event: dict[str, Any], context: FakeLambdaContext, call: ProcessorCall) -> Mapping[str, Any]:
        if self._rng is None:
            self._rng = seeded_random(hash((self._seed, os.getpid())))
        records = len(event["Records"])
        die_after = None
        if records >= 2 and self._rng.random() < self._crash_rate:
            # Inside the handler after this many returned; or before answering, if fewer handlers
            # run (duplicates of completed deliveries skip the handler).
            die_after = self._rng.randint(1, records - 1)
        tally = self._ledger.tally
        # Made before the batch runs: after a death the check must read the records at once, before
        # anything could take them over (a client's creation alone is slow on a loaded machine).
        dynamodb = self._dynamodb() if die_after is not None else None
        short = FakeLambdaContext(context.function_name, self._lambda_seconds)
        with self._ledger.invocation(die_after, time.monotonic() + self._lambda_seconds) as state:
            try:
                response = call(event, short)
            except SimulatedDeath:
                assert state.died_in is not None
                # Checked before anything is counted: under load the runtime may stop this invocation at
                # its timeout during the check, and a death counted without its check would look like
                # one that left no INPROGRESS record.
                left = self._in_progress_left(dynamodb, state.died_in_records)
                tally.add("died_mid_handler")
                tally.add("completed_before_death", state.handled)
                if left:
                    tally.add("in_progress_left")
                os._exit(DEATH_EXIT_CODE)
            if die_after is not None and state.handled >= 1:
                # Every handler ran; it dies before answering (a timeout at the very end).
                tally.add("died_before_answer")
                tally.add("completed_before_death", state.handled)
                os._exit(DEATH_EXIT_CODE)
        return response

    @staticmethod
    def _dynamodb() -> Any:
        import boto3  # the worker's environment points it at the pipeline's moto

        return boto3.client("dynamodb")

    def _in_progress_left(self, dynamodb: Any, record_ids: tuple[str, ...]) -> bool:
        """Whether every record of the delivery the Lambda died in is INPROGRESS and expires within the short window."""
        window_ms = (self._lambda_seconds + 1) * 1000
        for record_id in record_ids:
            item = dynamodb.get_item(
                TableName=self._table_name, Key={IDEMPOTENCY_KEY_ATTRIBUTE: {"S": record_id}}, ConsistentRead=True
            ).get("Item", {})
            expires_ms = int(item.get("in_progress_expiration", {}).get("N", "0"))
            if item.get("status", {}).get("S") != "INPROGRESS" or not 0 < expires_ms <= time.time() * 1000 + window_ms:
                return False
        return bool(record_ids)


def handle_everything(ledger: Ledger) -> None:
    """A processor worker set-up: the soak's ledger handles every webhook; the user's handlers never run."""
    from processor import handler as processor_handler
    from shared.router import Router

    router = Router()
    router.on("*", "*")(ledger.handle)
    processor_handler.install(router=router)
