"""The soak's options (written once, here) and its plan: which webhooks, which faults, in which order."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from webhook_kit.devsecrets import dev_secret
from webhook_kit.local import LocalPipeline
from webhook_kit.send import SignedWebhook, build

Key = tuple[str, str]  # (source, delivery id): what the processor's idempotency is keyed on

NONE, TRANSIENT, PERMANENT, EXHAUSTING = "none", "transient", "permanent", "exhausting"


def _option(default: Any, help: str) -> Any:
    # The help text travels with the field: `python -m tests.soak.harness --help` is built from it.
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SoakOptions:
    deliveries: int = _option(2000, "Webhook deliveries to send (redeliveries and forged ones included).")
    senders: int = _option(16, "Concurrent senders (threads); two cores carry about 16.")
    redelivery_share: float = _option(
        0.30, "Share of deliveries that repeat an earlier webhook (same id and body, re-signed)."
    )
    send_failure_rate: float = _option(
        0.05, "Share of the verifier's SendMessage calls that fail (it answers 503; senders retry)."
    )
    transient_share: float = _option(0.10, "Share of webhooks whose handler raises on its first run (retried by SQS).")
    crash_rate: float = _option(0.10, "Share of processor invocations (2+ records) in which the Lambda dies part-way.")
    permanent: int = _option(5, "Webhooks whose handler raises PermanentError (they stay in the DLQ).")
    exhausting: int = _option(3, "Webhooks that fail until fixed: SQS dead-letters them, the soak redrives them.")
    forged_share: float = _option(0.01, "Share of deliveries with a wrong signature (401).")
    # How long the INPROGRESS record of a delivery whose invocation died blocks its retries.
    # Above the (scaled) visibility timeout, so some retries meet it before it expires; at most
    # the sources' timeout_seconds, where the local runtime stops an invocation as Lambda does.
    lambda_seconds: float = _option(
        3.0, "Remaining time of the processors' stand-in context: the in-progress window a death leaves."
    )
    visibility_scale: float = _option(0.01, "Multiply each queue's visibility timeout by this (at least 1 s).")
    drain_timeout: float = _option(240.0, "Seconds to wait for the queues to drain.")
    seed: int | None = _option(None, "Seed of the fault schedule (printed when not given).")

    def __post_init__(self) -> None:
        rates = {
            "redelivery_share": self.redelivery_share,
            "send_failure_rate": self.send_failure_rate,
            "transient_share": self.transient_share,
            "crash_rate": self.crash_rate,
            "forged_share": self.forged_share,
        }
        for name, value in rates.items():
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be at least 0 and below 1, not {value}")
        if self.senders < 1:
            raise ValueError("senders must be at least 1")
        if self.lambda_seconds <= 0:
            raise ValueError("lambda_seconds must be above 0")
        if self.permanent < 0 or self.exhausting < 0:
            raise ValueError("permanent and exhausting must not be negative")
        counts = shares(self)
        if counts.originals < 1 or counts.originals < self.permanent + self.exhausting:
            raise ValueError(
                f"{self.deliveries} deliveries leave {counts.originals} distinct webhooks: too few for "
                f"{self.permanent} permanent and {self.exhausting} exhausting failures"
            )


@dataclass(frozen=True)
class Shares:
    originals: int
    redeliveries: int
    forged: int


def shares(options: SoakOptions) -> Shares:
    redeliveries = round(options.deliveries * options.redelivery_share)
    forged = round(options.deliveries * options.forged_share)
    if options.forged_share > 0:
        forged = max(1, forged)
    return Shares(options.deliveries - redeliveries - forged, redeliveries, forged)


@dataclass
class PlannedWebhook:
    key: Key
    fault: str
    forged: bool
    first: SignedWebhook  # the body every copy repeats; headers are signed again per send


@dataclass(frozen=True)
class Job:
    webhook: PlannedWebhook
    redelivery: bool


def plan(pipeline: LocalPipeline, options: SoakOptions, rng: random.Random) -> tuple[list[PlannedWebhook], list[Job]]:
    counts = shares(options)
    sources = list(pipeline.sources)
    faults = [PERMANENT] * options.permanent + [EXHAUSTING] * options.exhausting
    transient = round(counts.originals * options.transient_share)
    faults += [TRANSIENT] * min(transient, counts.originals - len(faults))
    faults += [NONE] * (counts.originals - len(faults))
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
    for index in range(counts.forged):
        name = sources[index % len(sources)]
        spec = pipeline.config.source(name)
        wrong = dev_secret(f"{name}-not-the-secret", spec.scheme)
        first = build(spec, secret=wrong, url=pipeline.webhook_url(name))
        forged.append(PlannedWebhook((name, first.delivery_id), NONE, True, first))

    # Each redelivery comes after its original in the send order, by a random distance:
    # some arrive while the first copy is still queued, some long after it was processed.
    keyed: list[tuple[float, Job]] = []
    position = {id(webhook): rng.random() for webhook in webhooks}
    for webhook in webhooks:
        keyed.append((position[id(webhook)], Job(webhook, redelivery=False)))
    for _ in range(counts.redeliveries):
        original = rng.choice(webhooks)
        keyed.append((position[id(original)] + rng.uniform(0.001, 0.3), Job(original, redelivery=True)))
    for webhook in forged:
        keyed.append((rng.random(), Job(webhook, redelivery=False)))
    keyed.sort(key=lambda pair: pair[0])
    return webhooks + forged, [job for _, job in keyed]


def resign(webhook: SignedWebhook, pipeline: LocalPipeline, source: str, *, secret: str, now: int) -> SignedWebhook:
    """The same body and delivery id, signed again at ``now`` (what a provider's redelivery looks like)."""
    from webhook_kit.local.certificates import signing_options
    from webhook_verify.schemes import get_scheme

    spec = pipeline.config.source(source)
    headers = dict(webhook.headers)
    # PayPal signs with a private key: the kit's test key, as send signed the original.
    options = {**spec.verifier_options(), **signing_options(spec.scheme)}
    headers.update(
        get_scheme(spec.scheme).sign(
            webhook.body, secret, timestamp=now, options=options, delivery_id=webhook.delivery_id
        )
    )
    return SignedWebhook(url=webhook.url, body=webhook.body, headers=headers, delivery_id=webhook.delivery_id)
