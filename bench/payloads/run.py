"""What a handler's payload model costs, as ratios measured side by side in one run.

Cold start: in fresh interpreters, each variant N times, interleaved (forwards,
then backwards) with byte code cached beforehand, ``import processor.handler``
with two ``handlers`` modules registering the same four routes:

1. ``plain``: handlers without a model (each reads ``event.json()`` itself);
2. ``models``: the shipped ``lambdas/handlers.py``, three routes with models
   from ``lambdas/payloads`` (pydantic and Powertools' parser imported, each
   route's model built at import).

Per message, in this process: one route's ``invoke`` on the shipped Stripe
sample (``samples/stripe.json``), best of R rounds of K calls each, every call
on a fresh event (so nothing parsed is reused):

1. no model: the handler parses ``event.json()`` and reads four fields;
2. ``model=PaymentIntentSucceeded``: validated, then the same four fields;
3. ``schema=payloads.schemas.STRIPE_PAYMENT_INTENT_SUCCEEDED`` (compiled once): validated, same fields.

    .venv/bin/python bench/payloads/run.py
    .venv/bin/python bench/payloads/run.py --cold-runs 21 --json payloads.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LAMBDAS = ROOT / "lambdas"
sys.path.insert(0, str(LAMBDAS))
sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "bench" / "scale" / "run.py")
assert _spec is not None and _spec.loader is not None
scale_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale_bench)

from payloads.schemas import STRIPE_PAYMENT_INTENT_SUCCEEDED  # noqa: E402 - lambdas/ is on the path from here on
from payloads.stripe import PaymentIntentSucceeded  # noqa: E402
from shared.event import WebhookEvent  # noqa: E402
from shared.router import Router  # noqa: E402
from webhook_kit.send import render  # noqa: E402

# The same routes as lambdas/handlers.py, without models.
PLAIN_HANDLERS = """
from shared.router import router


@router.on("stripe", "payment_intent.succeeded")
def payment_succeeded(event):
    intent = event.json()["data"]["object"]
    return intent["id"], intent["amount"]


@router.on("stripe", "invoice.paid", api_version="2024-*")
def invoice_paid(event):
    return event.json()["data"]["object"]["id"]


@router.on("github", "push")
def github_push(event):
    return event.json()["repository"]["full_name"]


@router.on("github", "ping")
def github_ping(event):
    return event.json().get("zen")
"""

_CHILD = """
import sys, time
start = (time.perf_counter(), time.process_time())
import processor.handler
end = (time.perf_counter(), time.process_time())
import json
print("COLD " + json.dumps({"wall": end[0] - start[0], "cpu": end[1] - start[1]}))
"""

INTENT_SCHEMA = STRIPE_PAYMENT_INTENT_SUCCEEDED


def cold(runs: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[dict[str, float]]] = {"plain": [], "models": []}
    with (
        tempfile.TemporaryDirectory(prefix="webhook-kit-bench-payloads-") as pycache,
        tempfile.TemporaryDirectory(prefix="webhook-kit-bench-plain-") as plain_dir,
    ):
        (Path(plain_dir) / "handlers.py").write_text(PLAIN_HANDLERS)
        own = {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
        # The plain directory comes first, so its handlers.py shadows the shipped one.
        envs = {
            "plain": scale_bench.child_environment(pycache, [Path(plain_dir), LAMBDAS], own),
            "models": scale_bench.child_environment(pycache, [LAMBDAS], own),
        }
        order = list(envs)
        for round_ in range(runs + 1):  # round 0 fills the byte-code cache, untimed
            for name in order if round_ % 2 else reversed(order):
                inside, wall, cpu = scale_bench.run_child([sys.executable, "-c", _CHILD], envs[name], "COLD")
                if round_:
                    samples[name].append(
                        {"wall": inside["wall"], "cpu": inside["cpu"], "process_wall": wall, "process_cpu": cpu}
                    )
    return {
        name: {key: statistics.median(run[key] for run in runs_) for key in runs_[0]} for name, runs_ in samples.items()
    }


def per_message(rounds: int, calls: int) -> dict[str, float]:
    body = render((ROOT / "samples" / "stripe.json").read_bytes(), delivery_id="evt_bench", now=int(time.time()))
    router = Router()

    @router.on("plain", "payment_intent.succeeded")
    def plain(event: WebhookEvent) -> object:
        intent = event.json()["data"]["object"]
        return intent["id"], intent["amount"], intent["currency"], intent["status"]

    @router.on("model", "payment_intent.succeeded", model=PaymentIntentSucceeded)
    def modelled(event: WebhookEvent, payment: PaymentIntentSucceeded) -> object:
        intent = payment.data.object
        return intent.id, intent.amount, intent.currency, intent.status

    @router.on("schema", "payment_intent.succeeded", schema=INTENT_SCHEMA)
    def schema(event: WebhookEvent, document: dict[str, Any]) -> object:
        intent = document["data"]["object"]
        return intent["id"], intent["amount"], intent["currency"], intent["status"]

    def timed(source: str) -> float:
        route = router.route(source, "payment_intent.succeeded")
        assert route is not None
        events = [
            WebhookEvent(source, "evt_bench", "payment_intent.succeeded", "", body) for _ in range(calls)
        ]  # built outside the timing
        call: Callable[[WebhookEvent], object] = route.invoke
        started = time.perf_counter()
        for event in events:
            call(event)
        return (time.perf_counter() - started) / calls

    best = {name: min(timed(name) for _ in range(rounds)) for name in ("plain", "model", "schema")}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-runs", type=int, default=15, help="fresh interpreters per variant (median reported)")
    parser.add_argument("--rounds", type=int, default=7, help="per-message rounds (best reported)")
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures and ratios to this file")
    args = parser.parse_args()

    medians = cold(args.cold_runs)
    message = per_message(args.rounds, args.calls)
    print(f"Python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    print(f"cold start, import processor.handler, median of {args.cold_runs} fresh interpreters, ms:")
    for name, m in medians.items():
        print(f"  {name:<8} statement cpu {m['cpu'] * 1e3:7.1f}   whole process cpu {m['process_cpu'] * 1e3:7.1f}")
    print(f"per message, best of {args.rounds} rounds of {args.calls}, microseconds:")
    for name, seconds in message.items():
        print(f"  {name:<8} {seconds * 1e6:8.1f}")
    ratios = {
        "cold start, models / plain (statement cpu)": medians["models"]["cpu"] / medians["plain"]["cpu"],
        "cold start, models / plain (process cpu)": medians["models"]["process_cpu"] / medians["plain"]["process_cpu"],
        "per message, model / plain": message["model"] / message["plain"],
        "per message, schema / plain": message["schema"] / message["plain"],
    }
    for label, value in ratios.items():
        print(f"{label:<46} {value:6.2f}x")
    if args.json is not None:
        args.json.write_text(json.dumps({"cold": medians, "per_message": message, "ratios": ratios}, indent=2) + "\n")


if __name__ == "__main__":
    main()
