"""A fault-injected soak of the local pipeline, checked against a ledger of effects.

``python -m webhook_kit soak`` and ``tests/soak`` run it. It starts a
:class:`~webhook_kit.local.LocalPipeline` (real verifier and processor code on
moto), swaps the user's handlers for a ledger handler, and has concurrent
senders deliver signed webhooks to every configured source while faults are
injected at each layer:

* **redeliveries**: a share of the deliveries repeat an earlier webhook (same
  delivery id, same body, signed again with a later timestamp), some while the
  first copy is still in flight;
* **SendMessage failures**: the verifier's SQS send fails (the verifier answers
  503) and the sender retries with backoff, as providers do. Most injected
  failures are refusals; some happen after SQS stored the message (the reply
  was lost), so a retry puts a second copy on the queue;
* **transient handler failures**: the handler raises on a delivery's first
  run, SQS redelivers it;
* **Lambda deaths mid-batch**: a processor invocation dies after some handler
  runs completed (inside the next handler, before its effect, leaving that
  delivery's ``INPROGRESS`` idempotency record behind; or after the last
  record, before answering). Nothing of the batch is deleted, so every record
  comes back: the completed ones as duplicates, the one that died once its
  in-progress window (the stand-in context's remaining time, short here) is over;
* **permanent failures** (``PermanentError``): straight to the DLQ with the reason;
* **exhausted retries**: a few deliveries fail until "fixed", SQS moves them to
  the DLQ after ``max_receive_count``; the soak fixes them and redrives those
  (and any other retried-too-often message), never the permanent failures;
* **forged webhooks**: wrong signature, answered 401, never accepted.

At the end it waits for the queues to drain, inspects the DLQs, redrives, drains
again and checks the ledger: every accepted webhook's effect happened exactly
once (the permanent failures never, and they sit in the DLQ with their
reason), no effect for a webhook that was never accepted. :class:`SoakReport`
holds the counts and :meth:`SoakReport.problems` what went wrong, including
"this fault never happened" so a run that proved nothing does not pass.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from stacks.config import WebhookKitConfig
from webhook_kit.devsecrets import dev_secret
from webhook_kit.local import (
    TABLE_NAME,
    FakeLambdaContext,
    LocalPipeline,
    LocalSource,
    PipelineEvent,
    ProcessorCall,
    local_client,
)
from webhook_kit.send import SignedWebhook, build

Key = tuple[str, str]  # (source, delivery id): what the processor's idempotency is keyed on

# Providers back off from seconds to hours; the soak keeps the shape, not the scale.
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0
MAX_SEND_ATTEMPTS = 12
# Of the injected SendMessage failures, the share that happens after SQS stored the message.
LOST_REPLY_SHARE = 0.25
HTTP_TIMEOUT_SECONDS = 60.0


class SimulatedDeath(BaseException):
    """The Lambda process dies here (timeout, out of memory).

    A ``BaseException`` on purpose: neither Powertools' batch processor nor its
    idempotency layer handles it, so the in-progress record stays behind and no
    record is reported, as when the process really dies.
    """


class InvocationDied(RuntimeError):
    """What the soak's processor hook turns a :class:`SimulatedDeath` into: the invocation failed."""


@dataclass(frozen=True)
class SoakOptions:
    deliveries: int = 2000
    senders: int = 32
    redelivery_share: float = 0.30
    send_failure_rate: float = 0.05
    transient_share: float = 0.10
    # Of the processor invocations with two or more records, the share that dies part-way.
    crash_rate: float = 0.10
    permanent: int = 5
    exhausting: int = 3
    forged_share: float = 0.01
    # The stand-in Lambda context's remaining time in the processors: how long the
    # INPROGRESS record of a delivery whose invocation died blocks its retries. Above
    # a 2 s visibility timeout, so some retries meet it before it expires.
    lambda_seconds: float = 2.5
    drain_timeout: float = 240.0
    seed: int | None = None

    def __post_init__(self) -> None:
        shares = {
            "redelivery_share": self.redelivery_share,
            "send_failure_rate": self.send_failure_rate,
            "transient_share": self.transient_share,
            "crash_rate": self.crash_rate,
            "forged_share": self.forged_share,
        }
        for name, value in shares.items():
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be at least 0 and below 1, not {value}")
        if self.senders < 1:
            raise ValueError("senders must be at least 1")
        if self.lambda_seconds <= 0:
            raise ValueError("lambda_seconds must be above 0")
        if self.permanent < 0 or self.exhausting < 0:
            raise ValueError("permanent and exhausting must not be negative")
        plan = _shares(self)
        if plan.originals < 1 or plan.originals < self.permanent + self.exhausting:
            raise ValueError(
                f"{self.deliveries} deliveries leave {plan.originals} distinct webhooks: too few for "
                f"{self.permanent} permanent and {self.exhausting} exhausting failures"
            )


@dataclass(frozen=True)
class _Shares:
    originals: int
    redeliveries: int
    forged: int


def _shares(options: SoakOptions) -> _Shares:
    redeliveries = round(options.deliveries * options.redelivery_share)
    forged = round(options.deliveries * options.forged_share)
    if options.forged_share > 0:
        forged = max(1, forged)
    return _Shares(options.deliveries - redeliveries - forged, redeliveries, forged)


# --------------------------------------------------------------------------- the plan


NONE, TRANSIENT, PERMANENT, EXHAUSTING = "none", "transient", "permanent", "exhausting"


@dataclass
class PlannedWebhook:
    key: Key
    fault: str
    forged: bool
    first: SignedWebhook  # the body every copy repeats; headers are signed again per send


@dataclass(frozen=True)
class _Job:
    webhook: PlannedWebhook
    redelivery: bool


def _plan(pipeline: LocalPipeline, options: SoakOptions, rng: random.Random) -> tuple[list[PlannedWebhook], list[_Job]]:
    shares = _shares(options)
    sources = list(pipeline.sources)
    faults = [PERMANENT] * options.permanent + [EXHAUSTING] * options.exhausting
    transient = round(shares.originals * options.transient_share)
    faults += [TRANSIENT] * min(transient, shares.originals - len(faults))
    faults += [NONE] * (shares.originals - len(faults))
    rng.shuffle(faults)
    webhooks: list[PlannedWebhook] = []
    for index, fault in enumerate(faults):
        # Round-robin, so every source (and scheme) gets its share, and every fault spreads over them.
        name = sources[index % len(sources)]
        first = build(
            pipeline.config.source(name), secret=pipeline.sources[name].secret, url=pipeline.webhook_url(name)
        )
        webhooks.append(PlannedWebhook((name, first.delivery_id), fault, False, first))
    forged: list[PlannedWebhook] = []
    for index in range(shares.forged):
        name = sources[index % len(sources)]
        spec = pipeline.config.source(name)
        wrong = dev_secret(f"{name}-not-the-secret", spec.scheme)
        first = build(spec, secret=wrong, url=pipeline.webhook_url(name))
        forged.append(PlannedWebhook((name, first.delivery_id), NONE, True, first))

    # Each redelivery comes after its original in the send order, by a random distance:
    # some arrive while the first copy is still queued, some long after it was processed.
    keyed: list[tuple[float, _Job]] = []
    position = {id(webhook): rng.random() for webhook in webhooks}
    for webhook in webhooks:
        keyed.append((position[id(webhook)], _Job(webhook, redelivery=False)))
    for _ in range(shares.redeliveries):
        original = rng.choice(webhooks)
        keyed.append((position[id(original)] + rng.uniform(0.001, 0.3), _Job(original, redelivery=True)))
    for webhook in forged:
        keyed.append((rng.random(), _Job(webhook, redelivery=False)))
    keyed.sort(key=lambda pair: pair[0])
    return webhooks + forged, [job for _, job in keyed]


def resign(webhook: SignedWebhook, pipeline: LocalPipeline, source: str, *, secret: str, now: int) -> SignedWebhook:
    """The same body and delivery id, signed again at ``now`` (what a provider's redelivery looks like)."""
    from shared.schemes import get_scheme

    spec = pipeline.config.source(source)
    extra = {"msg_id": webhook.delivery_id} if spec.scheme in ("standard-webhooks", "svix") else {}
    headers = dict(webhook.headers)
    headers.update(
        get_scheme(spec.scheme).sign(webhook.body, secret, timestamp=now, options=spec.verifier_options(), **extra)
    )
    return SignedWebhook(url=webhook.url, body=webhook.body, headers=headers, delivery_id=webhook.delivery_id)


# --------------------------------------------------------------------------- the faults


def _random(seed: float) -> random.Random:
    return random.Random(seed)  # noqa: S311 - a reproducible fault schedule, not a secret


class _Tally:
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


class _FlakySqsAdapters:
    """The verifier's adapters with SendMessage failing now and then (the verifier answers 503)."""

    def __init__(self, inner: Any, *, rate: float, rng: random.Random, tally: _Tally) -> None:
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


@dataclass
class _Invocation:
    die_after: int | None  # handler runs to complete before the Lambda dies; None: it does not
    handled: int = 0
    died_in: Key | None = None
    died_in_records: tuple[str, ...] = ()  # the idempotency record ids of that delivery


class Ledger:
    """The soak's handler: the fault plan per delivery, and every effect it made."""

    def __init__(self, faults: Mapping[Key, str], tally: _Tally) -> None:
        self._lock = threading.Lock()
        self._faults = dict(faults)
        self._runs: Counter[Key] = Counter()
        self.effects: Counter[Key] = Counter()
        self.fixed = False  # the exhausting deliveries succeed once the soak "deploys the fix"
        self.tally = tally
        self._invocation = threading.local()

    @contextlib.contextmanager
    def invocation(self, die_after: int | None) -> Iterator[_Invocation]:
        state = _Invocation(die_after)
        self._invocation.current = state
        try:
            yield state
        finally:
            self._invocation.current = None

    def handle(self, event: Any) -> None:
        from shared.event import PermanentError

        key = (event.source, event.delivery_id)
        state: _Invocation | None = getattr(self._invocation, "current", None)
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


class _ProcessorFaults:
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


# --------------------------------------------------------------------------- the report


@dataclass
class SoakReport:
    options: SoakOptions
    sources: int
    schemes: int
    seed: int = 0
    deliveries: int = 0
    originals: int = 0
    redeliveries: int = 0
    forged: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    retried_503: int = 0
    connection_errors: int = 0
    gave_up: list[Key] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    accepted: int = 0
    effects: int = 0
    missing: list[Key] = field(default_factory=list)
    doubled: list[Key] = field(default_factory=list)
    unexpected: list[Key] = field(default_factory=list)
    permanent_accepted: int = 0
    permanent_in_dlq: int = 0
    permanent_without_reason: list[Key] = field(default_factory=list)
    dead_lettered_by_sqs: int = 0
    redriven: int = 0
    dlq_leftovers: list[Key] = field(default_factory=list)
    wrong_ids: int = 0
    undrained: list[str] = field(default_factory=list)
    send_seconds: float = 0.0
    drain_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def duplicates_suppressed(self) -> int:
        return self.stages.get("duplicate", 0)

    def problems(self) -> list[str]:
        """What went wrong: broken invariants first, then faults that never happened (a run that proved nothing)."""
        found: list[str] = []

        def sample(keys: list[Key]) -> str:
            return ", ".join(f"{source}/{delivery_id}" for source, delivery_id in keys[:5])

        if self.undrained:
            found.append(f"queues not drained within {self.options.drain_timeout:.0f} s: {', '.join(self.undrained)}")
        if self.missing:
            found.append(f"{len(self.missing)} accepted webhooks without effect: {sample(self.missing)}")
        if self.doubled:
            found.append(f"{len(self.doubled)} webhooks with more than one effect: {sample(self.doubled)}")
        if self.unexpected:
            found.append(
                f"{len(self.unexpected)} effects of webhooks never accepted or failed permanently: "
                f"{sample(self.unexpected)}"
            )
        if self.gave_up:
            found.append(f"{len(self.gave_up)} webhooks never accepted after retries: {sample(self.gave_up)}")
        if self.permanent_in_dlq != self.permanent_accepted:
            found.append(
                f"{self.permanent_accepted} permanent failures accepted, "
                f"{self.permanent_in_dlq} in the DLQ with a reason"
            )
        if self.permanent_without_reason:
            found.append(f"permanent failures without failure_reason: {sample(self.permanent_without_reason)}")
        if self.dlq_leftovers:
            found.append(f"{len(self.dlq_leftovers)} other messages left in the DLQs: {sample(self.dlq_leftovers)}")
        if self.wrong_ids:
            found.append(f"{self.wrong_ids} answers of 202 named another delivery id")
        unexpected_statuses = {status: n for status, n in self.statuses.items() if status not in (202, 401, 503)}
        if unexpected_statuses:
            found.append(f"unexpected HTTP statuses: {unexpected_statuses}")
        if self.statuses.get(401, 0) != self.forged:
            found.append(f"{self.statuses.get(401, 0)} answers of 401 for {self.forged} forged webhooks")
        if self.stages.get("unhandled", 0) or self.stages.get("error", 0):
            found.append(f"pipeline reported unhandled/error: {self.stages}")
        expected_faults = {
            "redeliveries": (self.options.redelivery_share, self.redeliveries),
            "injected SendMessage failures": (self.options.send_failure_rate, self.injected_503),
            "503s retried by the senders": (self.options.send_failure_rate, self.retried_503),
            "transient handler failures": (self.options.transient_share, self.faults.get("transient_raised", 0)),
            "Lambda deaths mid-batch": (self.options.crash_rate, self.crashes),
            "records completed in a batch that then died": (
                self.options.crash_rate,
                self.faults.get("completed_before_death", 0),
            ),
            "permanent failures": (self.options.permanent, self.faults.get("permanent_raised", 0)),
            "deliveries dead-lettered by SQS and redriven": (self.options.exhausting, self.redriven),
            "forged webhooks": (self.options.forged_share, self.forged),
            "duplicates suppressed": (self.options.redelivery_share, self.duplicates_suppressed),
        }
        for name, (asked, happened) in expected_faults.items():
            if asked and not happened:
                found.append(f"no {name} happened: the run did not exercise them (more deliveries?)")
        died = self.faults.get("died_mid_handler", 0)
        if died and self.faults.get("in_progress_left", 0) != died:
            found.append(
                f"{died} deaths inside a handler but {self.faults.get('in_progress_left', 0)} INPROGRESS records left"
            )
        return found

    @property
    def injected_503(self) -> int:
        return self.faults.get("send_refused", 0) + self.faults.get("send_reply_lost", 0)

    @property
    def crashes(self) -> int:
        return self.faults.get("died_mid_handler", 0) + self.faults.get("died_before_answer", 0)

    @property
    def ok(self) -> bool:
        return not self.problems()

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain JSON values (``--json``; what tests/soak reads)."""

        def keys(values: list[Key]) -> list[str]:
            return [f"{source}/{delivery_id}" for source, delivery_id in values]

        return {
            "options": asdict(self.options),
            "seed": self.seed,
            "sources": self.sources,
            "schemes": self.schemes,
            "deliveries": self.deliveries,
            "originals": self.originals,
            "redeliveries": self.redeliveries,
            "forged": self.forged,
            "requests": self.requests,
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "injected_503": self.injected_503,
            "retried_503": self.retried_503,
            "connection_errors": self.connection_errors,
            "gave_up": keys(self.gave_up),
            "accepted": self.accepted,
            "faults": dict(sorted(self.faults.items())),
            "crashes": self.crashes,
            "stages": dict(sorted(self.stages.items())),
            "in_progress_retries": self.stages.get("in_progress", 0),
            "effects": self.effects,
            "duplicates_suppressed": self.duplicates_suppressed,
            "missing": keys(self.missing),
            "doubled": keys(self.doubled),
            "unexpected": keys(self.unexpected),
            "permanent_accepted": self.permanent_accepted,
            "permanent_in_dlq": self.permanent_in_dlq,
            "permanent_without_reason": keys(self.permanent_without_reason),
            "dead_lettered_by_sqs": self.dead_lettered_by_sqs,
            "redriven": self.redriven,
            "dlq_leftovers": keys(self.dlq_leftovers),
            "wrong_ids": self.wrong_ids,
            "undrained": self.undrained,
            "send_seconds": round(self.send_seconds, 2),
            "drain_seconds": round(self.drain_seconds, 2),
            "total_seconds": round(self.total_seconds, 2),
        }


def summary_table(report: SoakReport) -> Any:
    from rich.table import Table

    faults = report.faults
    table = Table(title=f"webhook-kit soak (seed {report.seed})", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("", style="bright_black")
    rows: list[tuple[str, Any, str]] = [
        ("sources / schemes", f"{report.sources} / {report.schemes}", ""),
        ("deliveries sent", report.deliveries, f"{report.options.senders} concurrent senders"),
        ("  redeliveries", report.redeliveries, "same delivery id and body, signed again"),
        ("  forged (401)", report.forged, "never accepted"),
        ("HTTP requests", report.requests, ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses.items()))),
        (
            "503s injected",
            report.injected_503,
            f"{faults.get('send_refused', 0)} refused, {faults.get('send_reply_lost', 0)} after SQS stored it",
        ),
        ("503s retried by senders", report.retried_503, "with backoff"),
        ("webhooks accepted (202)", report.accepted, "distinct delivery ids"),
        ("transient failures", faults.get("transient_raised", 0), "first run raised, retried"),
        (
            "Lambda deaths mid-batch",
            report.crashes,
            f"{faults.get('died_mid_handler', 0)} in a handler (INPROGRESS left: {faults.get('in_progress_left', 0)}),"
            f" {faults.get('died_before_answer', 0)} before answering;"
            f" {faults.get('completed_before_death', 0)} records had completed",
        ),
        ("in-progress retries", report.stages.get("in_progress", 0), "came back before the dead run's window ended"),
        ("permanent failures", report.permanent_accepted, f"{report.permanent_in_dlq} in the DLQ with failure_reason"),
        (
            "retried too often",
            report.dead_lettered_by_sqs,
            f"moved to the DLQ by SQS; {report.redriven} redriven",
        ),
        ("effects", report.effects, "handler runs that returned"),
        ("duplicates suppressed", report.duplicates_suppressed, "skipped by idempotency"),
        ("missing", len(report.missing), "accepted, no effect"),
        ("doubled", len(report.doubled), "more than one effect"),
        ("unexpected", len(report.unexpected), "effect of a never-accepted or permanent webhook"),
        (
            "duration",
            f"{report.total_seconds:.1f} s",
            f"sending {report.send_seconds:.1f} s, draining and redriving {report.drain_seconds:.1f} s",
        ),
    ]
    for what, count, note in rows:
        table.add_row(what, str(count), note)
    return table


# --------------------------------------------------------------------------- the run


class _Senders:
    def __init__(self, pipeline: LocalPipeline, report: SoakReport, rng: random.Random) -> None:
        self._pipeline = pipeline
        self._report = report
        self._lock = threading.Lock()
        self._local = threading.local()
        self._rng = rng
        self.accepted: set[Key] = set()
        self._sessions: list[requests.Session] = []

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxy between the senders and 127.0.0.1
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    def send(self, job: _Job) -> None:
        webhook = job.webhook
        source, delivery_id = webhook.key
        secret = (
            dev_secret(f"{source}-not-the-secret", self._pipeline.sources[source].scheme)
            if webhook.forged
            else self._pipeline.sources[source].secret
        )
        with self._lock:
            jitter = self._rng.random()
        for attempt in range(MAX_SEND_ATTEMPTS):
            signed = resign(webhook.first, self._pipeline, source, secret=secret, now=int(time.time()))
            try:
                response = self._session().post(
                    signed.url, data=signed.body, headers=signed.headers, timeout=HTTP_TIMEOUT_SECONDS
                )
            except requests.ConnectionError:
                status, answered = None, None
            else:
                status = response.status_code
                answered = _answered_id(response) if status == 202 else None
            with self._lock:
                self._report.requests += 1
                if status is None:
                    self._report.connection_errors += 1
                else:
                    self._report.statuses[status] += 1
                if status == 202:
                    self.accepted.add(webhook.key)
                    if answered != delivery_id:
                        self._report.wrong_ids += 1
                retry = status is None or status == 503
                if retry and attempt + 1 == MAX_SEND_ATTEMPTS:
                    self._report.gave_up.append(webhook.key)
                elif status == 503:
                    self._report.retried_503 += 1
            if not retry:
                return
            time.sleep(min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) * (0.5 + jitter))


def _answered_id(response: requests.Response) -> str | None:
    try:
        document = response.json()
    except ValueError:
        return None
    return str(document.get("id")) if isinstance(document, dict) else None


class _Stages:
    """The pipeline's reporter: counts what the processors did."""

    def __init__(self) -> None:
        self.tally = _Tally()

    def __call__(self, event: PipelineEvent) -> None:
        self.tally.add(event.stage)
        if event.stage in ("retried", "dead-lettered") and "IdempotencyAlreadyInProgressError" in event.detail:
            self.tally.add("in_progress")


def _depths(sqs: Any, pipeline: LocalPipeline) -> dict[str, int]:
    depths: dict[str, int] = {}
    for name, source in pipeline.sources.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=source.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths[name] = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
    return depths


def _drain(sqs: Any, pipeline: LocalPipeline, deadline: float) -> list[str]:
    """Wait until every source queue is empty (twice in a row); return the ones that are not."""
    empty_in_a_row = 0
    depths: dict[str, int] = {}
    while time.monotonic() < deadline:
        depths = _depths(sqs, pipeline)
        empty_in_a_row = empty_in_a_row + 1 if not any(depths.values()) else 0
        if empty_in_a_row >= 2:
            return []
        time.sleep(0.5)
    return [f"{name} ({depth})" for name, depth in depths.items() if depth]


@dataclass(frozen=True)
class DeadLetter:
    key: Key
    failure_type: str | None
    failure_reason: str | None


def dead_letters(sqs: Any, dlq_url: str) -> list[DeadLetter]:
    """Every message in a DLQ (left there: they are made visible again before returning)."""
    from shared.message import ATTR_DELIVERY_ID, ATTR_FAILURE_REASON, ATTR_FAILURE_TYPE, ATTR_SOURCE

    found: list[DeadLetter] = []
    handles: list[str] = []
    seen: set[str] = set()
    try:
        while True:
            batch = sqs.receive_message(
                QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
            ).get("Messages", [])
            fresh = [message for message in batch if message["MessageId"] not in seen]
            if not fresh:
                return found
            for message in fresh:
                seen.add(message["MessageId"])
                handles.append(message["ReceiptHandle"])
                attributes = message.get("MessageAttributes") or {}

                def text(name: str, attributes: Mapping[str, Any] = attributes) -> str | None:
                    value = attributes.get(name, {}).get("StringValue")
                    return str(value) if value is not None else None

                found.append(
                    DeadLetter(
                        (text(ATTR_SOURCE) or "?", text(ATTR_DELIVERY_ID) or "?"),
                        text(ATTR_FAILURE_TYPE),
                        text(ATTR_FAILURE_REASON),
                    )
                )
    finally:
        for start in range(0, len(handles), 10):
            chunk = handles[start : start + 10]
            with contextlib.suppress(Exception):
                sqs.change_message_visibility_batch(
                    QueueUrl=dlq_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                        for i, handle in enumerate(chunk)
                    ],
                )


def run_soak(
    config: WebhookKitConfig,
    options: SoakOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    aws_port: int = 0,
    visibility_scale: float = 0.05,
    phase: Callable[[str], None] | None = None,
) -> SoakReport:
    """Run the soak on a pipeline of its own (free ports by default) and return what happened."""
    from webhook_kit.redrive import EmptyDeadLetterQueueError, redrive

    say = phase or (lambda _message: None)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    rng = _random(seed)
    shares = _shares(options)
    report = SoakReport(
        options=options,
        sources=len(config.sources),
        schemes=len({source.scheme for source in config.sources}),
        seed=seed,
    )
    stages = _Stages()
    tally = _Tally()
    holder: dict[str, _ProcessorFaults] = {}

    def hook(
        source: LocalSource, event: dict[str, Any], context: FakeLambdaContext, call: ProcessorCall
    ) -> Mapping[str, Any]:
        return holder["faults"](source, event, context, call)

    pipeline = LocalPipeline(
        config,
        host=host,
        port=port,
        aws_port=aws_port,
        visibility_scale=visibility_scale,
        reporter=stages,
        verifier_adapters=lambda inner: _FlakySqsAdapters(
            inner, rate=options.send_failure_rate, rng=_random(rng.random()), tally=tally
        ),
        processor_hook=hook,
    )
    started = time.monotonic()
    with pipeline:
        webhooks, jobs = _plan(pipeline, options, rng)
        ledger = Ledger({webhook.key: webhook.fault for webhook in webhooks if not webhook.forged}, tally)
        holder["faults"] = _ProcessorFaults(
            ledger,
            crash_rate=options.crash_rate,
            lambda_seconds=options.lambda_seconds,
            rng=_random(rng.random()),
            aws_endpoint=pipeline.aws_endpoint,
        )
        report.originals, report.redeliveries, report.forged = shares.originals, shares.redeliveries, shares.forged
        report.deliveries = len(jobs)
        say(
            f"seed {seed}: sending {len(jobs)} deliveries to {report.sources} sources "
            f"with {options.senders} senders ({pipeline.url})"
        )
        senders = _Senders(pipeline, report, _random(rng.random()))
        try:
            with ThreadPoolExecutor(max_workers=options.senders, thread_name_prefix="soak-sender") as pool:
                for _ in pool.map(senders.send, jobs):
                    pass
        finally:
            senders.close()
        report.send_seconds = time.monotonic() - started
        deadline = time.monotonic() + options.drain_timeout
        sqs = local_client("sqs", pipeline.aws_endpoint)
        say(f"sent in {report.send_seconds:.1f} s; waiting for the queues to drain")
        report.undrained = _drain(sqs, pipeline, deadline)

        planned = {webhook.key: webhook for webhook in webhooks}
        permanent = {key for key, webhook in planned.items() if webhook.fault == PERMANENT}
        # Before any redrive: the permanent failures are in the DLQ with their reason.
        to_redrive: dict[str, set[str]] = {}
        for name, source in pipeline.sources.items():
            for letter in dead_letters(sqs, source.dead_letter_queue_url):
                if letter.failure_type is None:
                    to_redrive.setdefault(name, set()).add(letter.key[1])
                    report.dead_lettered_by_sqs += 1
        if to_redrive and not report.undrained:
            ledger.fixed = True  # "deploy the fix", then redrive what ran out of retries
            count = sum(len(ids) for ids in to_redrive.values())
            say(f"redriving {count} deliveries that ran out of retries (the permanent failures stay)")
            for name, ids in to_redrive.items():
                source = pipeline.sources[name]
                with contextlib.suppress(EmptyDeadLetterQueueError):
                    result = redrive(
                        source=name,
                        dlq_url=source.dead_letter_queue_url,
                        queue_url=source.queue_url,
                        sqs_client=sqs,
                        delivery_ids=ids,
                        wait_seconds=0,
                    )
                    report.redriven += result.moved
            report.undrained = _drain(sqs, pipeline, deadline)

        # The ledger check.
        accepted = senders.accepted
        report.accepted = len(accepted)
        effects = dict(ledger.effects)
        report.effects = sum(effects.values())
        report.permanent_accepted = len(permanent & accepted)
        should_have_run = accepted - permanent
        report.missing = sorted(key for key in should_have_run if effects.get(key, 0) == 0)
        report.doubled = sorted(key for key, count in effects.items() if count > 1)
        report.unexpected = sorted(key for key in effects if key not in should_have_run)
        with_reason: set[Key] = set()
        for source in pipeline.sources.values():
            for letter in dead_letters(sqs, source.dead_letter_queue_url):
                if letter.key in permanent and letter.failure_type == "PermanentError" and letter.failure_reason:
                    with_reason.add(letter.key)
                elif letter.key in permanent:
                    report.permanent_without_reason.append(letter.key)
                else:
                    report.dlq_leftovers.append(letter.key)
        report.permanent_in_dlq = len(with_reason & accepted)
        report.faults = tally.snapshot()
        report.stages = stages.tally.snapshot()
    report.drain_seconds = time.monotonic() - started - report.send_seconds
    report.total_seconds = time.monotonic() - started
    return report


__all__ = [
    "Ledger",
    "SimulatedDeath",
    "SoakOptions",
    "SoakReport",
    "dead_letters",
    "resign",
    "run_soak",
    "summary_table",
]
