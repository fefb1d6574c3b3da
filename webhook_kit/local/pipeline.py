"""``LocalPipeline``: moto, the front, the functions' workers and the pollers, composed."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shared import contract
from stacks.config import WebhookKitConfig
from webhook_kit.local.allowlists import LocalIpSet, PresetAllowLists, provision_ip_sets
from webhook_kit.local.certificates import install_local_web
from webhook_kit.local.environments import processor_environment, verifier_environment
from webhook_kit.local.events import PipelineEvent, Reporter
from webhook_kit.local.front import Front
from webhook_kit.local.poller import LONG_POLL_SECONDS, Poller
from webhook_kit.local.reload import CodeWatcher, module_paths
from webhook_kit.local.resources import (
    BUCKET_NAME,
    TABLE_NAME,
    LocalAws,
    LocalPipelineError,
    LocalSource,
    provision,
    require_free_port,
)
from webhook_kit.local.runtime import FunctionSpec, InvocationHook, Setup, WorkerPool, close_pools

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_AWS_PORT = 4566
# Local retries should be watchable: 6 x a 30 s timeout is 3 minutes per retry in AWS.
DEFAULT_VISIBILITY_SCALE = 0.05
# Verifier workers that may run at once (Lambda would scale further; a few show the concurrency).
DEFAULT_VERIFIER_WORKERS = 4
EVENT_HISTORY = 100_000
# How long ``stop`` waits for the batches in hand (side by side), then for the receiving threads
# once moto is gone (botocore retries a refused connection; they are daemons, a slow one is left behind).
BATCH_STOP_SECONDS = 30.0
RECEIVER_STOP_SECONDS = 2.0
VERIFIER_FUNCTION = "webhook-kit-verifier"
# The Lambda code a reload watches, besides the modules passed as ``imports``.
LAMBDA_MODULES = ("shared", "verifier", "processor", "handlers")

# Wraps the verifier's AWS adapters (verifier.adapters.Adapters) in each verifier worker; picklable.
VerifierAdaptersWrapper = Callable[[Any], Any]


def processor_function(source: str) -> str:
    return f"webhook-kit-processor-{source}"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def wrap_verifier_adapters(wrap: VerifierAdaptersWrapper) -> None:
    """A worker set-up: the verifier's cold-start state with its adapters wrapped (public ``install``)."""
    from verifier import handler

    cold = handler.runtime()
    handler.install(config=cold.config, adapters=wrap(cold.adapters), clock=cold.clock, web=cold.web)


class LocalPipeline:
    """Build the configuration's resources on a local moto server and serve webhooks into them.

    Each function runs in worker processes of its own (``webhook_kit.local.runtime``), so what a
    caller wants inside a function crosses a process boundary and must be picklable:

    * ``imports``: modules every worker imports once its environment is set (e.g. handlers that
      register themselves on ``shared.router.router``);
    * ``verifier_setup`` / ``processor_setup``: callables each verifier / processor worker runs
      once, after importing its handler (module-level functions or ``functools.partial`` of them);
    * ``verifier_adapters``: wraps the verifier's AWS adapters (fault injection: SendMessage fails);
    * ``processor_hook``: runs each processor invocation in the worker, given the handler to call
      (fault injection: a death part-way through a batch, a shorter context).

    State the parent must see (a ledger of handler calls) lives in a ``multiprocessing.Manager``
    proxy passed in a set-up's arguments (docs/local.md). ``reporter`` runs in this process.
    ``lambda_log_level`` overrides the functions' Powertools log level (default: this process's
    ``POWERTOOLS_LOG_LEVEL`` if set, else the deployed one).
    ``reload``: watch the Lambda code (and ``imports``) and recycle the workers of the functions
    whose code changed, keeping moto's state (``webhook_kit.local.reload``).
    ``wait_seconds``: each poller's ReceiveMessage wait; the default long poll keeps an idle
    pipeline of many sources from burning CPU (``webhook_kit.local.poller``).
    ``allow_loopback``: a source's allow-list presets also let this machine through (127.0.0.1,
    ::1): no provider's list holds it, and ``send``, the soak and the load bench post from here.
    False applies the presets' IP sets exactly as the WAF does (``webhook_kit.local.allowlists``).
    ``python -m webhook_kit local`` sets none of them but the reporter, ``reload`` and ``allow_loopback``.
    """

    def __init__(
        self,
        config: WebhookKitConfig,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        aws_port: int = DEFAULT_AWS_PORT,
        visibility_scale: float = DEFAULT_VISIBILITY_SCALE,
        wait_seconds: int = LONG_POLL_SECONDS,
        reporter: Reporter | None = None,
        imports: Sequence[str] = (),
        verifier_setup: Sequence[Setup] = (),
        processor_setup: Sequence[Setup] = (),
        verifier_adapters: VerifierAdaptersWrapper | None = None,
        processor_hook: InvocationHook | None = None,
        verifier_workers: int = DEFAULT_VERIFIER_WORKERS,
        table_name: str = TABLE_NAME,
        bucket_name: str = BUCKET_NAME,
        lambda_log_level: str | None = None,
        reload: bool = False,
        allow_loopback: bool = True,
    ) -> None:
        if visibility_scale <= 0:
            raise LocalPipelineError("the visibility scale must be above 0")
        self.config = config
        self.host = host
        self.port = port
        self.aws_port = aws_port
        self.visibility_scale = visibility_scale
        self.wait_seconds = wait_seconds
        self.table_name = table_name
        self.bucket_name = bucket_name
        self.sources: dict[str, LocalSource] = {}
        # The allow-list presets' WAF IP sets on moto, by preset.
        self.ip_sets: dict[str, tuple[LocalIpSet, ...]] = {}
        self.aws_endpoint = ""
        # Recent history only: a long local session must not grow without bound.
        self.events: deque[PipelineEvent] = deque(maxlen=EVENT_HISTORY)
        self.verifier: WorkerPool | None = None
        self.processors: dict[str, WorkerPool] = {}
        self._reporters: list[Reporter] = [reporter] if reporter else []
        self._imports = tuple(imports)
        extra = (functools.partial(wrap_verifier_adapters, verifier_adapters),) if verifier_adapters else ()
        self._verifier_setup = (*verifier_setup, *extra)
        self._processor_setup = tuple(processor_setup)
        self._processor_hook = processor_hook
        self._verifier_workers = verifier_workers
        # As before the workers: a level the caller set in this process's environment still applies.
        self._log_level = lambda_log_level or os.environ.get(contract.ENV_LOG_LEVEL)
        self._events_changed = threading.Condition()
        self._stop = threading.Event()
        self._aws: LocalAws | None = None
        self._front: Front | None = None
        self._pollers: list[Poller] = []
        self._reload = reload
        self._watcher: CodeWatcher | None = None
        self.allow_loopback = allow_loopback

    # ---- lifecycle

    @property
    def reloads(self) -> bool:
        """Whether changed Lambda code restarts the workers."""
        return self._reload

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def webhook_url(self, source: str) -> str:
        return f"{self.url}/{contract.WEBHOOK_PATH_PREFIX}/{source}"

    def start(self) -> LocalPipeline:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # Both ports are checked before anything starts.
        require_free_port(self.host, self.aws_port, "--aws-port")
        require_free_port(self.host, self.port, "--port")
        self._aws = LocalAws(self.host, self.aws_port)
        self.aws_port = self._aws.port
        self.aws_endpoint = self._aws.endpoint
        self.sources = provision(
            self.config,
            self.aws_endpoint,
            visibility_scale=self.visibility_scale,
            table_name=self.table_name,
            bucket_name=self.bucket_name,
        )
        self.ip_sets = provision_ip_sets(self.config, self.aws_endpoint)
        self.verifier = WorkerPool(self._verifier_spec(), self._verifier_workers)
        self.processors = {
            name: WorkerPool(self._processor_spec(source), source.max_concurrency)
            for name, source in self.sources.items()
        }
        # One verifier up front: the first webhook is answered without a process start, and a
        # function that cannot start stops the pipeline now, with the reason.
        self.verifier.start_one()
        self._front = Front(
            self.config,
            self.sources,
            host=self.host,
            port=self.port,
            invoke_verifier=self.verifier.invoke,
            report=self._report,
            allow_lists=PresetAllowLists(
                self.aws_endpoint, self.ip_sets, report=self._report, allow_loopback=self.allow_loopback
            ),
        )
        self.port = self._front.port
        for name, source in self.sources.items():
            poller = Poller(
                source,
                self.processors[name],
                endpoint=self.aws_endpoint,
                wait_seconds=self.wait_seconds,
                stop=self._stop,
                report=self._report,
            )
            poller.start()
            self._pollers.append(poller)
        if self._reload:
            self._watcher = CodeWatcher(module_paths((*LAMBDA_MODULES, *self._imports)), self._reload_code, self._stop)
            self._watcher.start()

    def _reload_code(self, paths: list[Path]) -> None:
        """Retire the workers of the functions whose code changed; the queues and tables stay as they are."""
        (verifier_root,) = module_paths(["verifier"])
        processor_roots = module_paths(["processor", "handlers"])
        in_verifier = [path.is_relative_to(verifier_root) for path in paths]
        in_processor = [any(path.is_relative_to(root) for root in processor_roots) for path in paths]
        functions = []
        if self.verifier is not None and not all(in_processor):
            self.verifier.recycle()
            functions.append("verifier")
        if not all(in_verifier):
            for pool in self.processors.values():
                pool.recycle()
            functions.append("processor")
        shown = ", ".join(_shown(path) for path in paths[:3]) + (" …" if len(paths) > 3 else "")
        self._report(
            PipelineEvent(
                "code",
                "reloaded",
                detail=f"{shown} changed: {' and '.join(functions)} workers restart after their current invocation",
            )
        )

    def _verifier_spec(self) -> FunctionSpec:
        return FunctionSpec(
            name=VERIFIER_FUNCTION,
            handler=contract.VERIFIER_HANDLER,
            environment=verifier_environment(
                self.config,
                self.sources,
                endpoint=self.aws_endpoint,
                bucket_name=self.bucket_name,
                log_level=self._log_level,
            ),
            timeout_seconds=self.config.verifier_timeout_seconds,
            imports=self._imports,
            # First, so a caller's set-up may install another stand-in (webhook_kit.local.certificates).
            setup=(install_local_web, *self._verifier_setup),
        )

    def _processor_spec(self, source: LocalSource) -> FunctionSpec:
        return FunctionSpec(
            name=processor_function(source.name),
            handler=contract.PROCESSOR_HANDLER,
            environment=processor_environment(
                self.config,
                source,
                endpoint=self.aws_endpoint,
                table_name=self.table_name,
                bucket_name=self.bucket_name,
                log_level=self._log_level,
            ),
            timeout_seconds=source.timeout_seconds,
            imports=self._imports,
            setup=self._processor_setup,
            hook=self._processor_hook,
        )

    def stop(self) -> None:
        """Stop serving, let the pollers finish their batch, stop every worker and moto. Idempotent."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        if self._front is not None:
            self._front.stop()
            self._front = None
        batches_end = time.monotonic() + BATCH_STOP_SECONDS
        for poller in self._pollers:
            poller.finish(timeout=max(0.0, batches_end - time.monotonic()))
        close_pools([*([self.verifier] if self.verifier else []), *self.processors.values()], timeout=5)
        if self._aws is not None:
            with contextlib.suppress(Exception):
                self._aws.stop()
            self._aws = None
        # The long polls held open end with moto.
        receivers_end = time.monotonic() + RECEIVER_STOP_SECONDS
        for poller in self._pollers:
            poller.join(timeout=max(0.0, receivers_end - time.monotonic()))
        self._pollers = []

    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- events

    def _report(self, event: PipelineEvent) -> None:
        with self._events_changed:
            self.events.append(event)
            self._events_changed.notify_all()
        for reporter in self._reporters:
            with contextlib.suppress(Exception):  # a console problem must not break delivery
                reporter(event)

    def wait_for(self, predicate: Callable[[deque[PipelineEvent]], bool], timeout: float) -> bool:
        """Block until ``predicate(events)`` holds or ``timeout`` seconds pass; return whether it held."""
        deadline = time.monotonic() + timeout
        with self._events_changed:
            while not predicate(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._events_changed.wait(remaining)
            return True
