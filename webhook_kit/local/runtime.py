"""The Lambda stand-in: each function in worker processes of its own.

A worker is a ``spawn``-ed process (not ``fork``: the parent runs threads). It
sets its function's environment, imports the modules it is told to, imports
the handler, runs the picklable set-up callables it was given, builds the
cold-start state through the handler module's public ``runtime()`` and then
serves invocations one at a time, keeping that state between them, as a warm
Lambda container does. A worker that exits mid-invocation is a crashed Lambda:
the caller gets ``WorkerDied`` and the pool starts another on demand.

What crosses the process boundary: the event (pickled), the response, the
processor's per-record outcomes (``processor.handler.observe``), and the
set-up callables (module-level functions or ``functools.partial`` of them,
carrying ``multiprocessing.Manager`` proxies for any state the parent needs).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from webhook_kit.local.resources import ACCOUNT_ID, REGION, LocalPipelineError

# What a worker may be given to run once it has its environment (e.g. install fakes, register routes).
Setup = Callable[[], object]
# The function's handler: (event, context) -> response.
ProcessorCall = Callable[[dict[str, Any], Any], Mapping[str, Any]]
# Runs each invocation in the worker instead of the handler, and is given the handler to call.
InvocationHook = Callable[[dict[str, Any], "FakeLambdaContext", ProcessorCall], Mapping[str, Any]]
# In the parent: (messageId, what the processor decided for that record, why it was dead-lettered or "").
OutcomeSink = Callable[[str, str, str], None]
# A dead letter's reason on the console is cut here (the DLQ's failure_reason holds more).
_REASON_CHARS = 200

_CONTEXT = multiprocessing.get_context("spawn")
_READY_SECONDS = 60.0


class WorkerDied(RuntimeError):
    """The worker process exited during an invocation (a Lambda crash: timeout, out of memory)."""


class InvocationError(RuntimeError):
    """The handler raised: what Lambda reports as a function error."""


class FakeLambdaContext:
    """The parts of Lambda's context object that Powertools reads."""

    def __init__(self, function_name: str, timeout_seconds: float, memory_mb: int = 256) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class FunctionSpec:
    """One function as a worker runs it. Everything here is pickled into the worker."""

    name: str
    handler: str  # "module.attribute", e.g. shared.contract.PROCESSOR_HANDLER
    environment: Mapping[str, str]
    timeout_seconds: float
    imports: tuple[str, ...] = ()
    setup: tuple[Setup, ...] = ()
    hook: InvocationHook | None = None


# A worker that reached its own timeout exits with this code (see ``_serve``).
TIMED_OUT_EXIT_CODE = 124
# How long after its timeout the parent kills a worker that has not stopped itself (stuck outside Python).
_KILL_GRACE_SECONDS = 1.0


def _time_out(signum: int, frame: object) -> None:
    os._exit(TIMED_OUT_EXIT_CODE)


def _serve(spec: FunctionSpec, connection: Connection) -> None:
    """A worker's whole life (module level: spawn pickles it by name)."""
    # Ctrl-C reaches the whole process group; the parent stops workers after their batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(spec.environment)
    try:
        for name in spec.imports:
            importlib.import_module(name)
        module_name, _, attribute = spec.handler.rpartition(".")
        module = importlib.import_module(module_name)
        handler = getattr(module, attribute)
        for setup in spec.setup:
            setup()
        module.runtime()  # the cold start: settings, clients
    except Exception as error:
        connection.send(("failed", f"{type(error).__name__}: {error}"))
        return
    connection.send(("ready", os.getpid()))
    observe = getattr(module, "observe", None)
    while True:
        try:
            event = connection.recv()
        except (EOFError, OSError):
            _exit()  # the parent is gone
        if event is None:
            _exit()

        def note(record: Mapping[str, Any], outcome: Any, permanent: Exception | None) -> None:
            # The batch response names only the failures; the console says what became of each record.
            text = _describe(outcome) if isinstance(outcome, Exception) else str(outcome)
            reason = _describe(permanent) if permanent is not None else ""
            connection.send(("outcome", (record["messageId"], text, reason)))

        context = FakeLambdaContext(spec.name, spec.timeout_seconds)
        # The worker stops itself at its context's deadline, as Lambda stops an environment: the parent's
        # kill (Worker.invoke) needs the CPU to wake up, and on a saturated machine it could come after
        # Powertools' INPROGRESS record (which expires at this deadline) was taken over by another copy.
        signal.signal(signal.SIGALRM, _time_out)
        signal.setitimer(signal.ITIMER_REAL, spec.timeout_seconds)
        try:
            with observe(note, failures=True) if observe is not None else contextlib.nullcontext():
                response = handler(event, context) if spec.hook is None else spec.hook(event, context, handler)
            signal.setitimer(signal.ITIMER_REAL, 0)
            connection.send(("response", dict(response)))
        except Exception as error:
            signal.setitimer(signal.ITIMER_REAL, 0)
            connection.send(("raised", repr(error)))


def _exit() -> NoReturn:
    """End the worker as Lambda ends an environment: at once, without tearing the interpreter down.

    A spawned process otherwise exits through ``sys.exit``, which finalizes every module and object:
    about a quarter of a second of CPU for a verifier or processor, so stopping a pipeline's 30-odd
    workers took 7-11 s on two cores. Logs are flushed first; nothing else in a worker needs to end.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:_REASON_CHARS]


class Worker:
    """One warm container of a function: a process and the pipe to it."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._asked_to_stop = False
        here, there = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(spec, there), name=f"lambda-{spec.name}", daemon=True)
        self.process.start()
        there.close()
        self._connection = here
        if not here.poll(_READY_SECONDS):
            self.stop(0)
            raise LocalPipelineError(f"the {spec.name} function did not start within {_READY_SECONDS:.0f} s")
        try:
            kind, value = here.recv()
        except (EOFError, OSError):
            self.process.join(5)
            kind, value = "failed", f"its process exited with code {self.process.exitcode}"
        if kind != "ready":
            self.stop(0)
            raise LocalPipelineError(f"the {spec.name} function cannot start: {value}")

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def invoke(self, event: Mapping[str, Any], outcomes: OutcomeSink | None = None) -> dict[str, Any]:
        # Lambda ends an invocation at its timeout by stopping the environment, whatever the code is doing.
        # Idempotency relies on it: Powertools' INPROGRESS record expires at the context's deadline, and a
        # handler still running after it could complete alongside another copy that took the record over.
        # The worker stops itself at its deadline (``_serve``); this kill is the backstop for one that cannot.
        deadline = time.monotonic() + self.spec.timeout_seconds + _KILL_GRACE_SECONDS
        try:
            self._connection.send(event)
            while True:
                if not self._connection.poll(max(0.0, deadline - time.monotonic())):
                    self.process.kill()
                    self.process.join(5)
                    raise WorkerDied(f"the {self.spec.name} function timed out after {self.spec.timeout_seconds:g} s")
                kind, value = self._connection.recv()
                if kind == "outcome":
                    if outcomes is not None:
                        outcomes(*value)
                elif kind == "response":
                    return dict(value)
                else:
                    raise InvocationError(str(value))
        except (EOFError, OSError, BrokenPipeError):
            self.process.join(5)
            if self.process.exitcode == TIMED_OUT_EXIT_CODE:
                raise WorkerDied(
                    f"the {self.spec.name} function timed out after {self.spec.timeout_seconds:g} s"
                ) from None
            raise WorkerDied(
                f"the {self.spec.name} process died mid-invocation (exit code {self.process.exitcode})"
            ) from None

    def ask_to_stop(self) -> None:
        """Tell the process to exit once it is idle (its current invocation, if any, ends first)."""
        if not self._asked_to_stop:
            self._asked_to_stop = True
            with contextlib.suppress(OSError):
                self._connection.send(None)

    def stop(self, timeout: float) -> None:
        """Ask the process to exit, wait up to ``timeout`` seconds, then terminate it."""
        self.ask_to_stop()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._connection.close()


class WorkerPool:
    """Up to ``size`` workers of one function, started only when every existing one is busy."""

    def __init__(self, spec: FunctionSpec, size: int) -> None:
        self.spec = spec
        self.size = size
        self._idle: list[Worker] = []
        self._workers: list[Worker] = []
        self._starting = 0
        self._closed = False
        self._changed = threading.Condition()
        # Workers started before the last ``recycle`` run old code: each stops once it is released.
        self._generation = 0
        self._generations: dict[Worker, int] = {}

    @property
    def workers(self) -> tuple[Worker, ...]:
        with self._changed:
            return tuple(self._workers)

    def _can_take(self) -> bool:
        return bool(self._idle) or len(self._workers) + self._starting < self.size

    def wait_for_room(self, timeout: float) -> bool:
        """Whether a worker is idle or may be started (within ``timeout``), without taking one."""
        with self._changed:
            return self._changed.wait_for(lambda: self._closed or self._can_take(), timeout) and not self._closed

    def acquire(self) -> tuple[Worker, bool]:
        """An idle worker, or a new one when all are busy (waits at ``size``); and whether it is new."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._can_take())
            if self._closed:
                raise LocalPipelineError("the local pipeline is stopping")
            if self._idle:
                return self._idle.pop(), False
            self._starting += 1
            generation = self._generation
        try:
            worker = Worker(self.spec)
        finally:
            with self._changed:
                self._starting -= 1
                self._changed.notify_all()
        with self._changed:
            self._workers.append(worker)
            self._generations[worker] = generation
        return worker, True

    def release(self, worker: Worker) -> None:
        with self._changed:
            current = self._generations.get(worker) == self._generation
            retire = worker.alive and not self._closed and not current
            if worker.alive and not self._closed and current:
                self._idle.append(worker)
            elif worker in self._workers:
                # A crashed container, or one running old code: the next invocation gets a new one.
                self._workers.remove(worker)
                self._generations.pop(worker, None)
            self._changed.notify_all()
        if retire:
            worker.stop(5)

    def recycle(self) -> None:
        """Retire every worker (idle ones now, busy ones after their invocation): new ones import the code anew."""
        with self._changed:
            self._generation += 1
            idle, self._idle = self._idle, []
            for worker in idle:
                self._workers.remove(worker)
                self._generations.pop(worker, None)
            self._changed.notify_all()
        for worker in idle:
            worker.stop(5)

    def invoke(self, event: Mapping[str, Any], outcomes: OutcomeSink | None = None) -> dict[str, Any]:
        worker, _ = self.acquire()
        try:
            return worker.invoke(event, outcomes)
        finally:
            self.release(worker)

    def start_one(self) -> None:
        """Warm one worker up front (its start-up errors surface now)."""
        self.release(self.acquire()[0])

    def close(self, timeout: float) -> None:
        """Stop every worker: idle ones at once, busy ones once their invocation ends (or ``timeout``)."""
        close_pools([self], timeout)

    def _take_all(self) -> list[Worker]:
        """Refuse new invocations and hand over every worker, idle or busy, to be stopped."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            self._generations.clear()
        return workers


def close_pools(pools: Iterable[WorkerPool], timeout: float) -> None:
    """Close ``pools`` together: every worker is asked to exit, then each is waited for.

    Busy workers finish their invocations side by side, within ``timeout`` seconds of the call in
    all (one pool after another, each busy worker had ``timeout`` of its own); then they are
    terminated.
    """
    workers = [worker for pool in pools for worker in pool._take_all()]
    for worker in workers:
        worker.ask_to_stop()
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.stop(max(0.0, deadline - time.monotonic()))
