"""A bounded load test of the local pipeline's verifier path, as a ratio to a trivial server.

``bench/load/run.py`` (``make bench``) runs it. Concurrent
senders (threads, one ``requests.Session`` each) post signed webhooks for a
fixed time or count to two targets in turn, in the same process and with the
same requests:

* **trivial**: a ``ThreadingHTTPServer`` that reads the body and answers 202,
  with the same server class, HTTP/1.1 keep-alive and write pattern as the
  pipeline's front (headers, then body, in two sends, TCP_NODELAY on: an
  earlier front left Nagle's algorithm on, and every answer waited ~40 ms for
  the client's delayed ACK, which this test exposed);
* **pipeline**: the local pipeline's ``POST /webhooks/<source>``: the WAF and
  API Gateway stand-ins, the real verifier (signature, timestamp window,
  delivery id) and its SendMessage to moto's SQS, then 202.

It reports throughput and the p50/p99 latency of accepted (202) requests for
each, and the pipeline's figures as a ratio to the trivial server's with the
same front (what the verifier path adds behind it). Absolute
numbers depend on the machine (and the load generator shares its interpreter
with both servers); the ratio is the claim.

The processors do not run during a load test: the pollers receive and delete
the queued messages and the processor workers answer without running the
processor, so the figures are the verifier path's and not the processors'
work competing for the same cores (docs/local.md, "Concurrency").
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from stacks.config import WebhookKitConfig
from webhook_kit.local import FakeLambdaContext, LocalPipeline, ProcessorCall
from webhook_kit.send import SignedWebhook, build

WARMUP_REQUESTS = 20
HTTP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class LoadOptions:
    senders: int = 8
    duration: float = 2.0  # seconds per target and round; ignored when requests is set
    requests: int | None = None  # per target and round
    rounds: int = 3  # targets alternate in order between rounds, to even out drift on a busy machine
    sources: tuple[str, ...] = ()  # default: every configured source, round-robin

    def __post_init__(self) -> None:
        if self.senders < 1 or self.rounds < 1:
            raise ValueError("senders and rounds must be at least 1")
        if self.requests is None and self.duration <= 0:
            raise ValueError("duration must be above 0")
        if self.requests is not None and self.requests < 1:
            raise ValueError("requests must be at least 1")


@dataclass
class TargetResult:
    name: str
    requests: int = 0
    accepted: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, accepted requests only

    @property
    def throughput(self) -> float:
        """Accepted requests per second of wall time."""
        return self.accepted / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]


def _ratios(numerator: TargetResult, denominator: TargetResult) -> dict[str, float]:
    def ratio(a: float, b: float) -> float:
        return a / b if b else float("nan")

    return {
        "throughput": ratio(numerator.throughput, denominator.throughput),
        "p50": ratio(numerator.percentile(50), denominator.percentile(50)),
        "p99": ratio(numerator.percentile(99), denominator.percentile(99)),
    }


@dataclass
class LoadResult:
    options: LoadOptions
    trivial: TargetResult
    pipeline: TargetResult
    sources: list[str]
    cpu_count: int
    rounds: list[dict[str, float]] = field(default_factory=list)

    def ratios(self) -> dict[str, float]:
        """The pipeline's figures divided by the trivial server's with the same HTTP front."""
        return _ratios(self.pipeline, self.trivial)

    def problems(self) -> list[str]:
        found = []
        for target in (self.trivial, self.pipeline):
            if target.accepted != target.requests:
                found.append(
                    f"{target.name}: {target.requests - target.accepted} of {target.requests} requests not accepted "
                    f"(statuses {target.statuses}, connection errors {target.errors})"
                )
        return found


# --------------------------------------------------------------------------- the trivial server


class _TrivialHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the pipeline's front
    disable_nagle_algorithm = True  # as the pipeline's front

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        data = b'{"id":"trivial"}'
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class TrivialServer:
    """Answers every POST with 202: the floor the verifier path is compared with."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadingHTTPServer((host, port), _TrivialHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="load-trivial", daemon=True)
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def __enter__(self) -> TrivialServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


# --------------------------------------------------------------------------- the senders


def _acknowledge_without_processing(
    event: dict[str, Any], context: FakeLambdaContext, call: ProcessorCall
) -> Mapping[str, Any]:
    # The pollers still receive and delete every message; the processor does not run.
    return {"batchItemFailures": []}


def _signed_pool(pipeline: LocalPipeline, sources: list[str], size: int) -> list[SignedWebhook]:
    """Signed webhooks for the pipeline's sources (paths /webhooks/<source>); sent to both targets."""
    pool = []
    for index in range(size):
        name = sources[index % len(sources)]
        pool.append(build(pipeline.config.source(name), secret=pipeline.sources[name].secret, url=f"/webhooks/{name}"))
    return pool


def _drive(base_url: str, pool: list[SignedWebhook], options: LoadOptions, name: str) -> TargetResult:
    result = TargetResult(name)
    lock = threading.Lock()
    counter = iter(range(10**12))
    local = threading.local()
    sessions: list[requests.Session] = []

    def session() -> requests.Session:
        current: requests.Session | None = getattr(local, "session", None)
        if current is None:
            current = requests.Session()
            current.trust_env = False
            local.session = current
            with lock:
                sessions.append(current)
        return current

    def post(webhook: SignedWebhook) -> tuple[int | None, float]:
        started = time.perf_counter()
        try:
            response = session().post(
                base_url + webhook.url, data=webhook.body, headers=webhook.headers, timeout=HTTP_TIMEOUT_SECONDS
            )
        except requests.RequestException:
            return None, time.perf_counter() - started
        return response.status_code, time.perf_counter() - started

    for index in range(WARMUP_REQUESTS):
        post(pool[index % len(pool)])

    deadline = 0.0

    def sender(_: int) -> None:
        while True:
            with lock:
                index = next(counter)
            if options.requests is not None and index >= options.requests:
                return
            if options.requests is None and time.perf_counter() >= deadline:
                return
            status, seconds = post(pool[index % len(pool)])
            with lock:
                result.requests += 1
                if status is None:
                    result.errors += 1
                else:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == 202:
                    result.accepted += 1
                    result.latencies.append(seconds)

    started = time.perf_counter()
    deadline = started + options.duration
    try:
        with ThreadPoolExecutor(max_workers=options.senders, thread_name_prefix=f"load-{name}") as pool_executor:
            list(pool_executor.map(sender, range(options.senders)))
    finally:
        result.seconds = time.perf_counter() - started
        for current in sessions:
            current.close()
    return result


def _merge(total: TargetResult, part: TargetResult) -> None:
    total.requests += part.requests
    total.accepted += part.accepted
    total.seconds += part.seconds
    total.errors += part.errors
    total.latencies.extend(part.latencies)
    for status, count in part.statuses.items():
        total.statuses[status] = total.statuses.get(status, 0) + count


def run_load(
    config: WebhookKitConfig,
    options: LoadOptions,
    *,
    host: str = "127.0.0.1",
    phase: Callable[[str], None] | None = None,
) -> LoadResult:
    """Drive the trivial server and the local pipeline with the same requests; return both results."""
    import os

    say = phase or (lambda _message: None)
    names = list(options.sources) or [source.name for source in config.sources]
    unknown = [name for name in names if name not in {source.name for source in config.sources}]
    if unknown:
        raise ValueError(f"unknown source(s): {', '.join(unknown)}")
    trivial = TargetResult("trivial 202")
    pipeline_total = TargetResult("pipeline (verifier path)")
    result = LoadResult(options, trivial, pipeline_total, names, os.cpu_count() or 0)
    pipeline = LocalPipeline(config, host=host, port=0, aws_port=0, processor_hook=_acknowledge_without_processing)
    with pipeline, TrivialServer(host) as floor:
        targets = {
            "trivial": (floor.url, trivial),
            "pipeline": (pipeline.url, pipeline_total),
        }
        bound = f"{options.requests} requests" if options.requests is not None else f"{options.duration:g} s"
        say(
            f"{options.rounds} rounds of {bound} per target, {options.senders} senders, "
            f"sources {', '.join(names)} ({result.cpu_count} CPUs)"
        )
        for round_index in range(options.rounds):
            # Signed per round: a long run must stay inside the sources' timestamp tolerance.
            pool = _signed_pool(pipeline, names, 256)
            order = ["trivial", "pipeline"]
            if round_index % 2:
                order.reverse()
            figures: dict[str, float] = {}
            for key in order:
                base_url, total = targets[key]
                part = _drive(base_url, pool, options, key)
                _merge(total, part)
                figures[key] = part.throughput
            result.rounds.append(figures)
            say(
                f"round {round_index + 1}: trivial {figures['trivial']:.0f} req/s, "
                f"pipeline {figures['pipeline']:.0f} req/s"
            )
    return result


def results_table(result: LoadResult) -> Any:
    from rich.table import Table

    table = Table(
        title=f"webhook-kit load: {result.options.senders} senders, {result.cpu_count} CPUs", title_justify="left"
    )
    for column, justify in (
        ("target", "left"),
        ("requests", "right"),
        ("accepted", "right"),
        ("req/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for target in (result.trivial, result.pipeline):
        table.add_row(
            target.name,
            str(target.requests),
            str(target.accepted),
            f"{target.throughput:.0f}",
            f"{target.percentile(50) * 1000:.2f}",
            f"{target.percentile(99) * 1000:.2f}",
        )
    for label, ratios, style in (("pipeline / trivial", result.ratios(), "bold"),):
        table.add_row(
            label,
            "",
            "",
            f"{ratios['throughput']:.2f}x",
            f"{ratios['p50']:.1f}x",
            f"{ratios['p99']:.1f}x",
            style=style,
        )
    return table


def as_json(result: LoadResult) -> str:
    def target(figures: TargetResult) -> dict[str, Any]:
        return {
            "requests": figures.requests,
            "accepted": figures.accepted,
            "seconds": round(figures.seconds, 3),
            "statuses": {str(status): count for status, count in sorted(figures.statuses.items())},
            "errors": figures.errors,
            "req_per_s": round(figures.throughput, 1),
            "p50_ms": round(figures.percentile(50) * 1000, 3),
            "p99_ms": round(figures.percentile(99) * 1000, 3),
        }

    return json.dumps(
        {
            "senders": result.options.senders,
            "rounds": result.rounds,
            "sources": result.sources,
            "cpu_count": result.cpu_count,
            "trivial": target(result.trivial),
            "pipeline": target(result.pipeline),
            "ratios": {name: round(value, 3) for name, value in result.ratios().items()},
        },
        indent=2,
    )
