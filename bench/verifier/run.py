"""Verifier overhead as ratios to a minimal handler measured side by side in the same run.

1. CPU per request (``time.process_time`` over many calls, median of repeats)
   of the real ``verifier.handler.handler`` (Powertools logger, metrics and
   tracer decorators, config, Powertools-cached secret, ``AwsAdapters``)
   against a MINIMAL handler that only base64-decodes, HMACs, compares with
   ``hmac.compare_digest`` and sends. Both send through real boto3 clients
   whose HTTP send is answered in-process (local_aws.install_http_stub), so
   request serialization, SigV4 signing and response parsing are counted; the
   secret is served from memory the same way. Target: handler <= 1.5x minimal.
2. Cold start, in fresh interpreters (median of runs): ``import
   verifier.handler`` + ``runtime()`` + the first invocation (which creates the
   Secrets Manager provider and the SQS client) against ``import boto3;
   boto3.client("sqs")``. Target: <= 1.2x.

Run from the repository root (``make bench`` runs it with the defaults):

    .venv/bin/python bench/verifier/run.py
    .venv/bin/python bench/verifier/run.py --repeats 21 --scale 5 --cold-runs 25   # a longer run
    .venv/bin/python bench/verifier/run.py --profile 1048576                        # where the time goes
    .venv/bin/python bench/verifier/run.py --breakdown 1024                         # CPU by layer
    .venv/bin/python bench/verifier/run.py --import-profile                         # where the import goes
    .venv/bin/python bench/verifier/run.py --schemes 4096                           # verify cost per scheme

Tracing: outside Lambda Powertools' Tracer disables itself, so X-Ray (active in
the deployed stack) is not part of these figures.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import hmac
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "lambdas"), str(HERE)]

import local_aws  # noqa: E402

KIB = 1024
SIZES = [("1 KB", KIB), ("64 KB", 64 * KIB), ("1 MB", KIB * KIB)]
# Straight to SQS: the claim check would start above this (SQS itself now takes up to 1 MiB).
RAISED_LIMIT = 2 * KIB * KIB
DEFAULT_THRESHOLD = 200 * KIB  # config.DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES
DEFAULT_MAX_BODY = 4 * KIB * KIB  # config.DEFAULT_MAX_BODY_BYTES
REQUEST_TARGET = 1.5
COLD_TARGET = 1.2
AWS_VARIABLES_TO_DROP = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_NAME")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null: the handler's JSON logs and EMF metrics still get written."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def use_environment(env: dict[str, str]) -> None:
    for name in (*AWS_VARIABLES_TO_DROP, "CLAIM_CHECK_BUCKET"):
        os.environ.pop(name, None)
    os.environ.update(env)


def minimal_handler(sqs: Any, s3: Any = None) -> Handler:
    """Decode, HMAC, compare, send; with ``s3``, store the body first and send a pointer (a bare claim check)."""
    key = local_aws.SECRET.encode()

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        body = base64.b64decode(event["body"])
        fields = dict(item.split("=", 1) for item in event["headers"]["Stripe-Signature"].split(","))
        expected = hmac.new(key, fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields["v1"]):
            return {"statusCode": 401, "body": ""}
        if s3 is None:
            sqs.send_message(QueueUrl=local_aws.QUEUE_URL, MessageBody=body.decode())
        else:
            object_key = hashlib.sha256(fields["t"].encode() + fields["v1"].encode()).hexdigest()
            s3.put_object(Bucket=local_aws.BUCKET, Key=object_key, Body=body)
            pointer = {"bucket": local_aws.BUCKET, "key": object_key}
            sqs.send_message(QueueUrl=local_aws.QUEUE_URL, MessageBody=json.dumps(pointer))
        return {"statusCode": 202, "body": ""}

    return handle


def cpu_us_per_call(handler: Handler, event: dict[str, Any], context: Any, calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        handler(event, context)
    return (time.process_time() - start) / calls * 1e6


def iterations(size: int, scale: float) -> int:
    return max(10, min(400, int(scale * 400 * KIB / size)))


def check(handler: Handler, event: dict[str, Any], context: Any, counts: Any, expect: dict[str, int]) -> None:
    """One call must answer 202 and make exactly the expected AWS requests."""
    before = dict(counts)
    with stdout_to_devnull():
        response = handler(event, context)
    made = {name: counts[name] - before.get(name, 0) for name in counts if counts[name] != before.get(name, 0)}
    if response["statusCode"] != 202 or made != expect:
        raise SystemExit(f"bench setup is wrong: status {response['statusCode']}, AWS requests {made}, want {expect}")


def request_rows(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    import boto3

    use_environment(local_aws.environment(max_body_bytes=RAISED_LIMIT, claim_check_threshold_bytes=RAISED_LIMIT))
    counts = local_aws.install_http_stub(rotation=args.rotation)
    from verifier import handler as verifier_handler

    context = local_aws.LambdaContext()
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    cases = [(label, size, False) for label, size in SIZES]
    if not args.no_claim_check:
        cases.append(("1 MB claim-check", KIB * KIB, True))
    rows = []
    for label, size, claim_check in cases:
        if claim_check:
            env = local_aws.environment(
                max_body_bytes=DEFAULT_MAX_BODY, claim_check_threshold_bytes=DEFAULT_THRESHOLD, bucket=local_aws.BUCKET
            )
            minimal = minimal_handler(sqs, s3)
            expect = {"s3:PutObject": 1, "sqs:SendMessage": 1}
        else:
            env = local_aws.environment(max_body_bytes=RAISED_LIMIT, claim_check_threshold_bytes=RAISED_LIMIT)
            minimal = minimal_handler(sqs)
            expect = {"sqs:SendMessage": 1}
        use_environment(env)
        verifier_handler.reset()  # a new cold-start state for this configuration
        event = local_aws.api_gateway_event(local_aws.stripe_body(size))
        # Warm both (the first handler call fetches the secret, then Powertools caches it).
        check(verifier_handler.handler, event, context, counts, {**expect, "secretsmanager:GetSecretValue": 1})
        check(verifier_handler.handler, event, context, counts, expect)
        check(minimal, event, context, counts, expect)
        calls = iterations(size, args.scale)
        handler_us, minimal_us = [], []
        with stdout_to_devnull():
            for _ in range(args.repeats):  # interleaved, so drift hits both alike
                handler_us.append(cpu_us_per_call(verifier_handler.handler, event, context, calls))
                minimal_us.append(cpu_us_per_call(minimal, event, context, calls))
        rows.append((label, statistics.median(handler_us), statistics.median(minimal_us)))
    return rows


def print_request_table(rows: list[tuple[str, float, float]], args: argparse.Namespace) -> None:
    print(f"CPU per request (process_time, median of {args.repeats} repeats; stripe scheme, ", end="")
    print("rotation: 2 secrets tried)" if args.rotation else "1 active secret)")
    print(f"{'body':<18} {'handler µs':>11} {'minimal µs':>11} {'ratio':>7}  target <= {REQUEST_TARGET}x")
    for label, handler_us, minimal_us in rows:
        ratio = handler_us / minimal_us
        verdict = "met" if ratio <= REQUEST_TARGET else "MISSED"
        print(f"{label:<18} {handler_us:>11.0f} {minimal_us:>11.0f} {ratio:>6.2f}x  {verdict}")
    if not args.no_claim_check:
        print(
            "(1 MB claim-check: default 200 KiB threshold, body to S3 then a pointer to SQS, S3 stubbed like SQS;"
            " its minimal handler does the same two calls)"
        )


def child_environment() -> dict[str, str]:
    env = {
        **os.environ,
        **local_aws.environment(max_body_bytes=RAISED_LIMIT, claim_check_threshold_bytes=RAISED_LIMIT),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "lambdas"), str(HERE)]),
    }
    for name in (*AWS_VARIABLES_TO_DROP, "CLAIM_CHECK_BUCKET", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def cold_rows(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    env = child_environment()
    samples: dict[str, list[dict[str, dict[str, float]]]] = {"verifier": [], "boto3": []}
    with tempfile.TemporaryDirectory(prefix="webhook-kit-bench-pyc-") as pycache:
        # Byte code of every module goes to a private cache (not into the source
        # tree), even where PYTHONDONTWRITEBYTECODE is set; the first, untimed
        # round fills it, so no timed run compiles anything.
        env["PYTHONPYCACHEPREFIX"] = pycache
        for round_ in range(args.cold_runs + 1):
            for mode in ("verifier", "boto3") if round_ % 2 else ("boto3", "verifier"):
                out = subprocess.run(  # noqa: S603 - our own interpreter and script
                    [sys.executable, str(HERE / "cold_child.py"), mode],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                ).stdout
                line = next(line for line in out.splitlines() if line.startswith("COLD "))
                if round_:
                    samples[mode].append(json.loads(line[5:]))
    medians: dict[str, dict[str, float]] = {}
    for mode, runs in samples.items():
        for phase in ("import", "setup", "first_call"):
            for clock in ("wall", "cpu"):
                medians.setdefault(mode, {})[f"{phase}.{clock}"] = statistics.median(r[phase][clock] for r in runs)
        for clock in ("wall", "cpu"):
            medians[mode][f"ready.{clock}"] = statistics.median(
                sum(r[p][clock] for p in ("import", "setup")) for r in runs
            )
            medians[mode][f"total.{clock}"] = statistics.median(
                sum(r[p][clock] for p in ("import", "setup", "first_call")) for r in runs
            )
    return medians


def print_cold_table(m: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    v, b = m["verifier"], m["boto3"]
    print(f"Cold start in a fresh interpreter (median of {args.cold_runs} runs each, ms)")
    print(f"{'':<46} {'wall':>8} {'cpu':>8}")
    rows = [
        ("verifier: import verifier.handler", v, "import"),
        ("verifier: runtime() (config, adapters)", v, "setup"),
        ("verifier: first invocation (clients, 1 KB)", v, "first_call"),
        ("verifier: total", v, "total"),
        ("baseline: import boto3", b, "import"),
        ('baseline: boto3.client("sqs")', b, "setup"),
        ("baseline: first SendMessage (1 KB)", b, "first_call"),
    ]
    for label, source, phase in rows:
        print(f"{label:<46} {source[phase + '.wall'] * 1e3:>8.1f} {source[phase + '.cpu'] * 1e3:>8.1f}")
    for label, numerator, denominator, target in (
        ('verifier total / (import boto3 + client("sqs"))', "total", "ready", COLD_TARGET),
        ("verifier total / (baseline + first SendMessage)", "total", "total", None),
    ):
        wall = v[numerator + ".wall"] / b[denominator + ".wall"]
        cpu = v[numerator + ".cpu"] / b[denominator + ".cpu"]
        verdict = f"  target <= {target}x: {'met' if max(wall, cpu) <= target else 'MISSED'}" if target else ""
        print(f"{label:<46} {wall:>7.2f}x {cpu:>7.2f}x{verdict}")


def profile(size: int, args: argparse.Namespace) -> None:
    """cProfile of the real handler at ``size`` bytes: the functions with the most own time."""
    local_aws.install_http_stub(rotation=args.rotation)
    use_environment(local_aws.environment(max_body_bytes=RAISED_LIMIT, claim_check_threshold_bytes=RAISED_LIMIT))
    from verifier import handler as verifier_handler

    event = local_aws.api_gateway_event(local_aws.stripe_body(size))
    context = local_aws.LambdaContext()
    calls = iterations(size, args.scale)
    profiler = cProfile.Profile()
    with stdout_to_devnull():
        verifier_handler.handler(event, context)
        profiler.enable()
        for _ in range(calls):
            verifier_handler.handler(event, context)
        profiler.disable()
    print(f"cProfile, verifier handler, {size}-byte body, {calls} calls: top functions by own time")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(18)


def import_profile() -> None:
    """``python -X importtime -c "import verifier.handler"`` (byte code cached): what the import spends."""
    env = child_environment()
    command = [sys.executable, "-X", "importtime", "-c", "import verifier.handler"]
    with tempfile.TemporaryDirectory(prefix="webhook-kit-bench-pyc-") as pycache:
        env["PYTHONPYCACHEPREFIX"] = pycache
        subprocess.run(command, env=env, capture_output=True, check=True, cwd=ROOT)  # noqa: S603 - fills the cache
        lines = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=ROOT).stderr  # noqa: S603
    rows = []
    for line in lines.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(own), int(cumulative), name.rstrip(), len(name) - len(name.lstrip())))
    top_level = min(depth for *_, depth in rows)
    total = next(cumulative for _, cumulative, name, _ in rows if name.strip() == "verifier.handler")
    print(f"import verifier.handler: {total / 1e3:.1f} ms; its direct imports by cumulative time (ms):")
    for _, cumulative, name, depth in sorted(rows, key=lambda row: -row[1]):
        if depth == top_level + 2 and cumulative >= 5_000:
            print(f"  {name.strip():<50} {cumulative / 1e3:>7.1f}")
    print("largest own (self) times anywhere (ms):")
    for own, _, name, _ in sorted(rows, key=lambda row: -row[0])[:6]:
        print(f"  {name.strip():<50} {own / 1e3:>7.1f}")


def breakdown(size: int, args: argparse.Namespace) -> None:
    """CPU per request of the handler's layers, side by side: what the extra over the minimal handler is made of."""
    import boto3

    use_environment(local_aws.environment(max_body_bytes=RAISED_LIMIT, claim_check_threshold_bytes=RAISED_LIMIT))
    local_aws.install_http_stub(rotation=args.rotation)
    from verifier import handler as verifier_handler
    from verifier.core import process

    event = local_aws.api_gateway_event(local_aws.stripe_body(size))
    context = local_aws.LambdaContext()
    sqs = boto3.client("sqs")
    with stdout_to_devnull():
        verifier_handler.handler(event, context)
    state = verifier_handler.runtime()
    sent: dict[str, Any] = {}

    class NoSend:
        """The real secrets adapter; SendMessage only recorded."""

        def get_secrets(self, secret_id: str) -> list[str]:
            return state.adapters.get_secrets(secret_id)

        def put_object(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
            raise AssertionError("no claim check in the breakdown")

        def send_message(self, queue_url: str, message: dict[str, Any]) -> str:
            sent.update(message)
            return local_aws.MESSAGE_ID

    no_send = NoSend()
    process(event, config=state.config, adapters=no_send, now=state.clock())
    text = local_aws.stripe_body(size).decode()
    layers: list[tuple[str, Handler]] = [
        ("handler (Powertools decorators + _record + core)", verifier_handler.handler),
        (
            "core.process with the real adapters",
            lambda e, c: process(e, config=state.config, adapters=state.adapters, now=state.clock()),
        ),
        (
            "core.process, SendMessage not made",
            lambda e, c: process(e, config=state.config, adapters=no_send, now=state.clock()),
        ),
        (
            "SendMessage with the handler's body + 7 attributes",
            lambda e, c: sqs.send_message(QueueUrl=local_aws.QUEUE_URL, **sent),
        ),
        (
            "SendMessage with the body only",
            lambda e, c: sqs.send_message(QueueUrl=local_aws.QUEUE_URL, MessageBody=text),
        ),
        ("minimal handler", minimal_handler(sqs)),
    ]
    calls = iterations(size, args.scale)
    samples: dict[str, list[float]] = {label: [] for label, _ in layers}
    with stdout_to_devnull():
        for _ in range(args.repeats):
            for label, layer in layers:
                samples[label].append(cpu_us_per_call(layer, event, context, calls))
    print(f"CPU per request by layer, {size}-byte body (median of {args.repeats} repeats of {calls} calls)")
    for label, _ in layers:
        print(f"  {label:<52} {statistics.median(samples[label]):>8.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per body size (median reported)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the calls per repeat")
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh interpreters per side (median reported)")
    parser.add_argument("--rotation", action="store_true", help="two active secrets: the handler tries both")
    parser.add_argument("--no-claim-check", action="store_true", help="skip the 1 MB claim-check row")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start comparison")
    parser.add_argument("--no-requests", action="store_true", help="skip the per-request comparison")
    parser.add_argument("--profile", type=int, metavar="BYTES", help="only profile the handler at this body size")
    parser.add_argument("--schemes", type=int, metavar="BYTES", help="only the verify cost of every scheme")
    parser.add_argument("--import-profile", action="store_true", help="only where import verifier.handler goes")
    parser.add_argument("--breakdown", type=int, metavar="BYTES", help="only the CPU of each layer at this size")
    args = parser.parse_args()

    if args.schemes:
        import bench_schemes

        bench_schemes.main(args.schemes)
        return
    if args.profile:
        profile(args.profile, args)
        return
    if args.import_profile:
        import_profile()
        return
    if args.breakdown:
        breakdown(args.breakdown, args)
        return
    print(f"Python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    if not args.no_requests:
        print_request_table(request_rows(args), args)
    if not args.no_cold:
        print()
        print_cold_table(cold_rows(args), args)


if __name__ == "__main__":
    main()
