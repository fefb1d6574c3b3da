"""The soak's handler: the fault plan per delivery and every effect it made, counted exactly.

The handler runs in the local pipeline's processor workers (one process per
warm Lambda), so the plan, the effects and the fault counters live in a
manager process (``soak_manager``) that they and the soak share.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.managers import BaseManager
from typing import Any

from tests.soak.harness.plan import EXHAUSTING, NONE, PERMANENT, TRANSIENT, Key
from tests.support.ledger import start_manager

# The time a handler and its COMPLETED record need: a handler that would start later is cut off.
TIMEOUT_MARGIN_SECONDS = 0.5


class DeadlinePassed(RuntimeError):
    """The invocation's time is up: the handler does not start (the record is retried)."""


class SimulatedDeath(BaseException):
    """The Lambda process dies here (timeout, out of memory).

    A ``BaseException`` on purpose: neither Powertools' batch processor nor its
    idempotency layer handles it, so the in-progress record stays behind and no
    record is reported, as when the process really dies.
    """


class Tally:
    """Thread-safe counters (shared through the soak's manager where workers count too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


@dataclass
class Invocation:
    die_after: int | None  # handler runs to complete before the Lambda dies; None: it does not
    deadline: float = float("inf")  # time.monotonic() when the Lambda's time is up
    handled: int = 0
    died_in: Key | None = None
    died_in_records: tuple[str, ...] = ()  # the idempotency record ids of that delivery


class Book:
    """The fault plan per delivery and every effect made: one object in the soak's manager process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[Key, str] = {}
        self._runs: Counter[Key] = Counter()
        self._effects: Counter[Key] = Counter()
        self._fixed = False  # the exhausting deliveries succeed once the soak "deploys the fix"

    def plan(self, faults: Mapping[Key, str]) -> None:
        with self._lock:
            self._faults = dict(faults)

    def fix(self) -> None:
        with self._lock:
            self._fixed = True

    def run(self, key: Key) -> str:
        """Count a handler run; its fault ("permanent", "exhausting", "transient") or "effect" (then counted)."""
        with self._lock:
            runs = self._runs[key]
            self._runs[key] += 1
            fault = self._faults.get(key, NONE)
            if fault == PERMANENT:
                return "permanent"
            if fault == EXHAUSTING and not self._fixed:
                return "exhausting"
            if fault == TRANSIENT and runs == 0:
                return "transient"
            self._effects[key] += 1
            return "effect"

    def effects(self) -> dict[Key, int]:
        with self._lock:
            return dict(self._effects)


class SoakManager(BaseManager):
    """The soak's shared state, in a process of its own: every Lambda worker and the soak see one copy."""


SoakManager.register("Tally", Tally)
SoakManager.register("Book", Book)


def soak_manager() -> SoakManager:
    return start_manager(SoakManager)


class Ledger:
    """The soak's handler, in each processor worker: the book's verdict per run, and deaths on cue.

    Picklable (it holds proxies of the book and the tally), so it travels into the workers.
    """

    def __init__(self, book: Any, tally: Any) -> None:
        self.book = book
        self.tally = tally

    @property
    def effects(self) -> dict[Key, int]:
        return dict(self.book.effects())

    def fix(self) -> None:
        self.book.fix()

    @contextlib.contextmanager
    def invocation(self, die_after: int | None, deadline: float = float("inf")) -> Iterator[Invocation]:
        state = Invocation(die_after, deadline)
        _invocation.current = state
        try:
            yield state
        finally:
            _invocation.current = None

    def handle(self, event: Any) -> None:
        from shared.event import PermanentError

        key = (event.source, event.delivery_id)
        state: Invocation | None = getattr(_invocation, "current", None)
        if state is not None and time.monotonic() > state.deadline - TIMEOUT_MARGIN_SECONDS:
            # Every INPROGRESS record of the batch expires at the stand-in context's deadline, when
            # Lambda would kill the function; past it another worker may take the delivery over, so
            # the handler does not start (a retryable failure: the record comes back). Checked before a
            # planned death: a Lambda past its deadline is already dead, and its record already
            # expired, so another worker could take it over before the death's check reads it.
            self.tally.add("cut_off_at_deadline")
            raise DeadlinePassed(f"soak: the Lambda's time is up before the handler of {key}")
        if state is not None and state.die_after is not None and state.handled >= state.die_after:
            # Dies inside this handler, before its effect: Powertools' INPROGRESS record stays behind.
            from processor.keys import idempotency_record_id

            state.died_in = key
            state.died_in_records = tuple(idempotency_record_id(event.source, v) for v in event.idempotency_keys)
            raise SimulatedDeath(f"the Lambda died in the handler of {key}")
        verdict = self.book.run(key)
        if verdict == "permanent":
            self.tally.add("permanent_raised")
            raise PermanentError(f"soak: {event.delivery_id} can never succeed")
        if verdict == "exhausting":
            self.tally.add("exhausting_raised")
            raise RuntimeError(f"soak: {event.delivery_id} fails until its fix is deployed")
        if verdict == "transient":
            self.tally.add("transient_raised")
            raise RuntimeError(f"soak: {event.delivery_id} fails on its first run")
        if state is not None:
            state.handled += 1


# The invocation in hand in this worker process (a worker serves one invocation at a time).
_invocation = threading.local()
