"""The faults injected around the real code: SendMessage failing in the verifier, Lambdas dying mid-batch.

Both plug into :class:`~webhook_kit.local.LocalPipeline`'s seams
(``verifier_adapters`` and ``processor_hook``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from typing import Any

from tests.soak.harness.ledger import Ledger, SimulatedDeath, Tally
from webhook_kit.local import TABLE_NAME, FakeLambdaContext, LocalSource, ProcessorCall, local_client

# Of the injected SendMessage failures, the share that happens after SQS stored the message.
LOST_REPLY_SHARE = 0.25


def seeded_random(seed: float) -> random.Random:
    return random.Random(seed)


class InvocationDied(RuntimeError):
    """What the soak's processor hook turns a :class:`SimulatedDeath` into: the invocation failed."""


class FlakySqsAdapters:
    """The verifier's adapters with SendMessage failing now and then (the verifier answers 503)."""

    def __init__(self, inner: Any, *, rate: float, rng: random.Random, tally: Tally) -> None:
        self._inner = inner
        self._rate = rate
        self._rng = rng
        self._rng_lock = threading.Lock()
        self._tally = tally

    def get_secrets(self, secret_id: str) -> list[str]:
        return list(self._inner.get_secrets(secret_id))

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self._inner.put_object(bucket, key, body, content_type)

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
    """The pipeline's processor hook: the soak's handler, warm runtimes, a short context, deaths mid-batch.

    Runs inside each processor invocation with the source's environment set;
    invocations take turns (one lock for every function), so it runs alone.
    """

    def __init__(
        self, ledger: Ledger, *, crash_rate: float, lambda_seconds: float, rng: random.Random, aws_endpoint: str
    ) -> None:
        from shared.router import Router

        self._ledger = ledger
        self._crash_rate = crash_rate
        self._lambda_seconds = lambda_seconds
        self._rng = rng
        self._aws_endpoint = aws_endpoint
        self._dynamodb: Any = None
        self._warm: dict[str, Any] = {}
        self.router = Router()
        self.router.on("*", "*")(ledger.handle)
        self.tally = ledger.tally

    def __call__(
        self, source: LocalSource, event: dict[str, Any], context: FakeLambdaContext, call: ProcessorCall
    ) -> Mapping[str, Any]:
        from processor import handler as processor_handler

        records = len(event["Records"])
        die_after = None
        if records >= 2 and self._rng.random() < self._crash_rate:
            # Inside the handler after this many returned; or before answering, if fewer handlers
            # run (duplicates of completed deliveries skip the handler).
            die_after = self._rng.randint(1, records - 1)
        # `local` rebuilds the processor's clients for every batch (~170 ms, most of a small
        # batch's cost). A Lambda container stays warm between invocations, so the soak keeps
        # one runtime per source, and drops it when that "container" dies.
        # The user's handlers never run in a soak: only this pipeline's invocations see the ledger.
        warm = self._warm.get(source.name)
        if warm is None:
            self._warm[source.name] = processor_handler.install(router=self.router)
        else:
            processor_handler.install(
                settings=warm.settings,
                adapters=warm.adapters,
                router=self.router,
                persistence=warm.idempotency.persistence,
            )
        short = FakeLambdaContext(context.function_name, self._lambda_seconds)
        try:
            with self._ledger.invocation(die_after) as state:
                try:
                    response = call(event, short)
                except SimulatedDeath:
                    self._warm.pop(source.name, None)
                    self.tally.add("died_mid_handler")
                    self.tally.add("completed_before_death", state.handled)
                    assert state.died_in is not None
                    if self._in_progress_left(state.died_in_records):
                        self.tally.add("in_progress_left")
                    raise InvocationDied(
                        f"the Lambda died after {state.handled} of {records} records (simulated)"
                    ) from None
                if die_after is not None and state.handled >= 1:
                    # Every handler ran; it dies before answering (a timeout at the very end).
                    self._warm.pop(source.name, None)
                    self.tally.add("died_before_answer")
                    self.tally.add("completed_before_death", state.handled)
                    raise InvocationDied(f"the Lambda died after all {records} records, before answering (simulated)")
        finally:
            processor_handler.reset()
        return response

    def _in_progress_left(self, record_ids: tuple[str, ...]) -> bool:
        """Whether every record of the delivery the Lambda died in is INPROGRESS and expires within the short window."""
        if self._dynamodb is None:
            self._dynamodb = local_client("dynamodb", self._aws_endpoint)
        window_ms = (self._lambda_seconds + 1) * 1000
        for record_id in record_ids:
            item = self._dynamodb.get_item(TableName=TABLE_NAME, Key={"id": {"S": record_id}}, ConsistentRead=True).get(
                "Item", {}
            )
            expires_ms = int(item.get("in_progress_expiration", {}).get("N", "0"))
            if item.get("status", {}).get("S") != "INPROGRESS" or not 0 < expires_ms <= time.time() * 1000 + window_ms:
                return False
        return bool(record_ids)
