"""The soak's handler: the fault plan per delivery and every effect it made, counted exactly."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.soak.harness.plan import EXHAUSTING, NONE, PERMANENT, TRANSIENT, Key


class SimulatedDeath(BaseException):
    """The Lambda process dies here (timeout, out of memory).

    A ``BaseException`` on purpose: neither Powertools' batch processor nor its
    idempotency layer handles it, so the in-progress record stays behind and no
    record is reported, as when the process really dies.
    """


class Tally:
    """Thread-safe counters."""

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
    handled: int = 0
    died_in: Key | None = None
    died_in_records: tuple[str, ...] = ()  # the idempotency record ids of that delivery


class Ledger:
    """The soak's handler: the fault plan per delivery, and every effect it made."""

    def __init__(self, faults: Mapping[Key, str], tally: Tally) -> None:
        self._lock = threading.Lock()
        self._faults = dict(faults)
        self._runs: Counter[Key] = Counter()
        self.effects: Counter[Key] = Counter()
        self.fixed = False  # the exhausting deliveries succeed once the soak "deploys the fix"
        self.tally = tally
        self._invocation = threading.local()

    @contextlib.contextmanager
    def invocation(self, die_after: int | None) -> Iterator[Invocation]:
        state = Invocation(die_after)
        self._invocation.current = state
        try:
            yield state
        finally:
            self._invocation.current = None

    def handle(self, event: Any) -> None:
        from shared.event import PermanentError

        key = (event.source, event.delivery_id)
        state: Invocation | None = getattr(self._invocation, "current", None)
        if state is not None and state.die_after is not None and state.handled >= state.die_after:
            # Dies inside this handler, before its effect: Powertools' INPROGRESS record stays behind.
            from processor.keys import idempotency_record_id

            state.died_in = key
            state.died_in_records = tuple(idempotency_record_id(event.source, v) for v in event.idempotency_keys)
            raise SimulatedDeath(f"the Lambda died in the handler of {key}")
        with self._lock:
            runs = self._runs[key]
            self._runs[key] += 1
            fault = self._faults.get(key, NONE)
            if fault == PERMANENT:
                self.tally.add("permanent_raised")
                raise PermanentError(f"soak: {event.delivery_id} can never succeed")
            if fault == EXHAUSTING and not self.fixed:
                self.tally.add("exhausting_raised")
                raise RuntimeError(f"soak: {event.delivery_id} fails until its fix is deployed")
            if fault == TRANSIENT and runs == 0:
                self.tally.add("transient_raised")
                raise RuntimeError(f"soak: {event.delivery_id} fails on its first run")
            self.effects[key] += 1
        if state is not None:
            state.handled += 1
