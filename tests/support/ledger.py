"""A ledger of a test handler's calls that the test process and every Lambda worker share.

The local pipeline runs each function in worker processes of its own, so a
handler registered in the test process would never run, and one that appends
to a list in a worker would record where the test cannot look. The ledger's
state lives in a ``multiprocessing`` manager process (``ledger_server``); the
``Ledger`` object is a view over a proxy of it, picklable, so it travels into
each worker inside the set-up ``serve(ledger, pattern)``, which registers
``ledger.handle`` on ``shared.router.router`` there.

The handler records each call and fails, sleeps or blocks on request:
``fail(delivery_id, times=2)`` (retryable, twice), ``times=None`` (always),
``permanent=True`` (``PermanentError``); ``slow(delivery_id, seconds)``;
``hold(delivery_id)`` until ``release(delivery_id)``.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.managers import BaseManager
from typing import Any, TypeVar

from shared.event import PermanentError, WebhookEvent

_POLL_SECONDS = 0.02


@dataclass
class _Plan:
    failures_left: int | None = 0  # None: fail every time
    permanent: bool = False
    sleep_seconds: float = 0.0


class LedgerState:
    """The ledger itself, in the manager process: every worker's calls reach this one object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[tuple[dict[str, Any], str]] = []  # (event fields, "ok" | "failed")
        self._plans: dict[str, _Plan] = {}
        self._held: set[str] = set()
        self._running: dict[str, int] = {}

    def plan(self, delivery_id: str, **changes: Any) -> None:
        with self._lock:
            self._plans[delivery_id] = dataclasses.replace(self._plans.get(delivery_id, _Plan()), **changes)

    def heal(self, delivery_id: str) -> None:
        with self._lock:
            self._plans.pop(delivery_id, None)

    def hold(self, delivery_id: str, held: bool) -> None:
        with self._lock:
            (self._held.add if held else self._held.discard)(delivery_id)

    def held(self, delivery_id: str) -> bool:
        with self._lock:
            return delivery_id in self._held

    def begin(self, event: dict[str, Any]) -> tuple[str, float]:
        """Record a call; say how it ends ("ok", "retry", "permanent") and how long it sleeps first."""
        delivery_id = event["delivery_id"]
        with self._lock:
            plan = self._plans.get(delivery_id)
            failing = plan is not None and (plan.permanent or plan.failures_left is None or plan.failures_left > 0)
            if plan is not None and plan.failures_left:
                plan.failures_left -= 1
            self._calls.append((event, "failed" if failing else "ok"))
            self._running[delivery_id] = self._running.get(delivery_id, 0) + 1
        verdict = "ok" if not failing else "permanent" if plan and plan.permanent else "retry"
        return verdict, plan.sleep_seconds if plan else 0.0

    def end(self, delivery_id: str) -> None:
        with self._lock:
            self._running[delivery_id] -= 1

    def running(self, delivery_id: str) -> int:
        with self._lock:
            return self._running.get(delivery_id, 0)

    def calls(self, delivery_id: str) -> list[tuple[dict[str, Any], str]]:
        with self._lock:
            return [call for call in self._calls if call[0]["delivery_id"] == delivery_id]


class _Manager(BaseManager):
    pass


_Manager.register("LedgerState", LedgerState)


class Ledger:
    """Every call of the tests' handler, and the failures the tests asked for (a view over the shared state)."""

    def __init__(self, state: Any) -> None:
        self._state = state

    def fail(self, delivery_id: str, *, times: int | None = 1, permanent: bool = False) -> None:
        self._state.plan(delivery_id, failures_left=times, permanent=permanent)

    def heal(self, delivery_id: str) -> None:
        self._state.heal(delivery_id)

    def slow(self, delivery_id: str, seconds: float) -> None:
        self._state.plan(delivery_id, sleep_seconds=seconds)

    def hold(self, delivery_id: str) -> None:
        self._state.hold(delivery_id, True)

    def release(self, delivery_id: str) -> None:
        self._state.hold(delivery_id, False)

    def running(self, delivery_id: str) -> int:
        """How many runs of the handler for this delivery are under way right now."""
        return int(self._state.running(delivery_id))

    def handle(self, event: WebhookEvent) -> None:
        verdict, sleep_seconds = self._state.begin(_fields(event))
        try:
            time.sleep(sleep_seconds)
            while self._state.held(event.delivery_id):
                time.sleep(_POLL_SECONDS)
        finally:
            self._state.end(event.delivery_id)
        if verdict == "permanent":
            raise PermanentError(f"test asked {event.delivery_id} to fail permanently")
        if verdict == "retry":
            raise RuntimeError(f"test asked {event.delivery_id} to fail")

    def calls(self, delivery_id: str) -> list[tuple[WebhookEvent, str]]:
        return [(WebhookEvent(**fields), result) for fields, result in self._state.calls(delivery_id)]

    def successes(self, delivery_id: str) -> list[WebhookEvent]:
        return [event for event, result in self.calls(delivery_id) if result == "ok"]


def _fields(event: WebhookEvent) -> dict[str, Any]:
    # The constructor's fields only: the parsed-JSON cache is rebuilt on the other side.
    fields = {field.name: getattr(event, field.name) for field in dataclasses.fields(event) if field.init}
    return {**fields, "headers": dict(event.headers)}


def _exit_with_parent() -> None:
    # A manager's server outlives a parent that was killed; this one follows it.
    parent = multiprocessing.parent_process()
    assert parent is not None

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


M = TypeVar("M", bound=BaseManager)


def start_manager(manager: type[M]) -> M:
    """A started manager of that class, in a spawned process that exits when this one does."""
    started = manager(ctx=multiprocessing.get_context("spawn"))
    started.start(initializer=_exit_with_parent)
    return started


@contextmanager
def ledger_server() -> Iterator[Ledger]:
    """A ledger whose state lives in a manager process for as long as the block runs."""
    manager = start_manager(_Manager)
    try:
        yield Ledger(manager.LedgerState())  # type: ignore[attr-defined]
    finally:
        manager.shutdown()


def serve(ledger: Ledger, pattern: str) -> None:
    """A worker set-up: the ledger's handler for every event type of the sources matching ``pattern``."""
    from shared.router import router

    router.on(pattern, "*")(ledger.handle)


def serving(ledger: Ledger, pattern: str) -> functools.partial[None]:
    """``serve`` bound to its arguments: what a pipeline's ``processor_setup`` takes."""
    return functools.partial(serve, ledger, pattern)
