"""Processor cost against moto: DynamoDB requests per record, and records per second by batch size.

The real ``processor.handler.handler`` (Powertools BatchProcessor + idempotency
on DynamoDB) runs in this process; DynamoDB is moto's ThreadedMotoServer on a
free local port. Lambda SQS events are built in memory (no SQS in the loop).

1. Requests per record. The processor's DynamoDB client is built by Powertools
   in a boto3 session of its own, so the count is taken at the endpoint
   instead: a small HTTP proxy in front of moto counts every request by its
   ``X-Amz-Target`` (``DynamoDB_20120810.PutItem``, ...). Nothing inside the
   processor is hooked. Printed beside the minimum Powertools' design needs:
   first delivery 2 writes (PutItem INPROGRESS, UpdateItem COMPLETED),
   duplicate 1 conditional PutItem that fails and returns the stored record.
2. Records per second for batch sizes 1, 10 and 100 (first deliveries), the
   processor talking to moto directly (no proxy). The absolute figures are
   moto-local (moto answers from a thread of this same process, sharing its
   GIL); the ratios across batch sizes are the point: what a bigger batch
   amortises.

Run from the repository root (``make bench`` runs it with the defaults):

    .venv/bin/python bench/processor/run.py
    .venv/bin/python bench/processor/run.py --records 1000 --repeats 5
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import socket
import statistics
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "lambdas")]

REGION = "us-east-1"
SOURCE = "bench"
TABLE = "bench-idempotency"
DLQ_URL = f"https://sqs.{REGION}.amazonaws.com/123456789012/webhooks-{SOURCE}-dlq"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:webhooks-{SOURCE}"
BATCH_SIZES = (1, 10, 100)
# What Powertools' idempotency design needs per record, by DynamoDB operation.
MINIMUM = {
    "first delivery": {"PutItem": 1, "UpdateItem": 1},
    "duplicate": {"PutItem": 1},
}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Powertools logs and EMF metrics are still written, to /dev/null instead of the terminal."""
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


class CountingProxy:
    """An HTTP proxy in front of moto that counts requests by operation (X-Amz-Target, else method)."""

    def __init__(self, upstream: str) -> None:
        self.counts: Counter[str] = Counter()
        lock = threading.Lock()
        target = urlsplit(upstream)
        counts = self.counts

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                operation = self.headers.get("X-Amz-Target") or f"{self.command} {self.path.split('?')[0]}"
                with lock:
                    counts[operation] += 1
                upstream_conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    response = upstream_conn.getresponse()
                    payload = response.read()
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    upstream_conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def dynamodb(self) -> dict[str, int]:
        prefix = "DynamoDB_20120810."
        return {name.removeprefix(prefix): n for name, n in self.counts.items() if name.startswith(prefix)}


class LambdaContext:
    function_name = f"webhook-kit-processor-{SOURCE}"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:webhook-kit-processor-{SOURCE}"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def sqs_record(delivery_id: str) -> dict[str, Any]:
    """One record of a Lambda SQS event carrying a queued webhook, as the verifier would have sent it."""
    from shared.message import QueuedWebhook, to_send_message_kwargs

    body = json.dumps({"id": delivery_id, "type": "invoice.paid", "data": {"object": {"amount": 2000}}}).encode()
    kwargs = to_send_message_kwargs(
        QueuedWebhook(
            source=SOURCE,
            delivery_id=delivery_id,
            event_type="invoice.paid",
            received_at="2025-01-01T00:00:00.000Z",
            content_type="application/json",
            headers={"user-agent": "bench/1.0"},
            body=body,
        )
    )
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "bench-receipt-" + delivery_id,
        "body": kwargs["MessageBody"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1735689600000"},
        "messageAttributes": {
            name: {
                "stringValue": value["StringValue"],
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
            for name, value in kwargs["MessageAttributes"].items()
        },
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def invoke(records: list[dict[str, Any]]) -> None:
    from processor import handler as processor_handler

    response = processor_handler.handler({"Records": records}, LambdaContext())
    if response["batchItemFailures"]:
        raise SystemExit(f"bench setup is wrong: {len(response['batchItemFailures'])} records failed")


def point_processor_at(endpoint: str) -> None:
    """The processor builds its clients from the environment at its first invocation."""
    from processor import handler as processor_handler

    os.environ["AWS_ENDPOINT_URL"] = endpoint
    processor_handler.reset()


def request_counts(proxy: CountingProxy, batch: int) -> dict[str, dict[str, float]]:
    point_processor_at(proxy.url)
    with stdout_to_devnull():
        invoke([sqs_record(f"warm-{uuid.uuid4()}")])  # builds the runtime; not counted
        ids = [f"count-{uuid.uuid4()}" for _ in range(batch)]
        measured = {}
        for scenario in ("first delivery", "duplicate"):
            before = proxy.dynamodb()
            invoke([sqs_record(delivery_id) for delivery_id in ids])
            after = proxy.dynamodb()
            measured[scenario] = {op: (after[op] - before.get(op, 0)) / batch for op in after}
    return {scenario: {op: n for op, n in ops.items() if n} for scenario, ops in measured.items()}


def print_counts(measured: dict[str, dict[str, float]], batch: int) -> None:
    print(f"DynamoDB requests per record (counted at the endpoint; batches of {batch}, warm runtime)")
    print(f"{'delivery':<16} {'measured':<40} {'per record':>10} {'Powertools minimum':<30}")
    for scenario, ops in measured.items():
        need = MINIMUM[scenario]
        shown = ", ".join(f"{op} {n:g}" for op, n in sorted(ops.items())) or "none"
        total = sum(ops.values())
        minimum = ", ".join(f"{op} {n}" for op, n in need.items())
        verdict = "at the minimum" if ops == need else "ABOVE the minimum" if total > sum(need.values()) else "differs"
        print(f"{scenario:<16} {shown:<40} {total:>10g} {minimum + f' ({sum(need.values())})':<30} {verdict}")


def bare_writes(dynamodb: Any, records: int) -> None:
    """The floor for comparison: per record, the two writes Powertools makes, from a plain boto3 client."""
    for _ in range(records):
        key = {"id": {"S": f"bare-{uuid.uuid4()}"}}
        dynamodb.put_item(
            TableName=TABLE,
            Item={**key, "status": {"S": "INPROGRESS"}, "expiration": {"N": "1900000000"}},
            ConditionExpression="attribute_not_exists(id)",
        )
        dynamodb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET #s = :s, #d = :d",
            ExpressionAttributeNames={"#s": "status", "#d": "data"},
            ExpressionAttributeValues={":s": {"S": "COMPLETED"}, ":d": {"S": '{"outcome":"processed"}'}},
        )


def throughput(moto_url: str, records: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Per batch size, and for the bare writes: (records per second of wall time, client CPU µs per record).

    The CPU figure is ``time.thread_time`` of this thread only: the processor's
    own work (Powertools, boto3 serialization, HTTP, parsing), not moto's,
    which runs in the server's threads.
    """
    import boto3

    point_processor_at(moto_url)
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_url)
    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    with stdout_to_devnull():
        invoke([sqs_record(f"warm-{uuid.uuid4()}")])
        bare_writes(dynamodb, 1)
        for _ in range(repeats):
            for size in (*BATCH_SIZES, 0):  # interleaved, so drift hits every case alike; 0: bare writes
                label = f"batch {size}" if size else "bare writes"
                batches = (
                    [
                        [sqs_record(f"rate-{size}-{uuid.uuid4()}") for _ in range(size)]
                        for _ in range(max(1, records // size))
                    ]
                    if size
                    else []
                )
                count = sum(len(batch) for batch in batches) if size else records
                start, start_cpu = time.perf_counter(), time.thread_time()
                if size:
                    for batch in batches:
                        invoke(batch)
                else:
                    bare_writes(dynamodb, records)
                elapsed, elapsed_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
                rates.setdefault(label, []).append(count / elapsed)
                cpu.setdefault(label, []).append(elapsed_cpu / count * 1e6)
    return {label: (statistics.median(rates[label]), statistics.median(cpu[label])) for label in rates}


def print_throughput(results: dict[str, tuple[float, float]], records: int, repeats: int) -> None:
    print(f"First deliveries by batch size (~{records} records per case, median of {repeats} repeats)")
    print("records/s is moto-local (wall time, moto in this process); the ratios are the point")
    print(
        f"{'case':<12} {'records/s':>10} {'vs batch 1':>11} {'client CPU µs/record':>21} {'vs batch 1':>11}"
        f" {'vs bare writes':>15}"
    )
    rate_1, cpu_1 = results["batch 1"]
    _, cpu_bare = results["bare writes"]
    for label, (rate, cpu) in results.items():
        print(
            f"{label:<12} {rate:>10.0f} {rate / rate_1:>10.2f}x {cpu:>21.0f} {cpu / cpu_1:>10.2f}x"
            f" {cpu / cpu_bare:>14.2f}x"
        )
    print("(bare writes: per record a conditional PutItem and an UpdateItem from a plain boto3 client, no Powertools)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200, help="records per batch size and repeat")
    parser.add_argument("--repeats", type=int, default=5, help="throughput repeats (median reported)")
    parser.add_argument("--count-batch", type=int, default=10, help="batch size of the request-count runs")
    args = parser.parse_args()

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "WEBHOOK_SOURCE": SOURCE,
            "IDEMPOTENCY_TABLE": TABLE,
            "IDEMPOTENCY_EXPIRY_SECONDS": "3600",
            "DEAD_LETTER_QUEUE_URL": DLQ_URL,
            "UNHANDLED_EVENTS": "acknowledge",
            "POWERTOOLS_SERVICE_NAME": f"webhook-kit-processor-{SOURCE}",
            "POWERTOOLS_METRICS_NAMESPACE": "WebhookKit",
        }
    )
    os.environ.pop("AWS_PROFILE", None)

    # moto's request log and Powertools' empty-flush warning (a batch of 100 fills
    # the EMF blob, which then flushes itself mid-invocation) are noise here.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    import boto3
    from moto.server import ThreadedMotoServer

    from shared.router import router

    @router.on(SOURCE, "*")
    def accept(event: Any) -> None:
        """The user's handler: does nothing, so the figures are the plumbing's."""

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    moto_url = f"http://127.0.0.1:{port}"
    proxy = CountingProxy(moto_url)
    proxy.start()
    try:
        dynamodb = boto3.client("dynamodb", endpoint_url=moto_url)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        print(f"Python {sys.version.split()[0]} on {os.cpu_count()} CPUs; DynamoDB: moto {moto_version()}")
        print_counts(request_counts(proxy, args.count_batch), args.count_batch)
        print()
        print_throughput(throughput(moto_url, args.records, args.repeats), args.records, args.repeats)
    finally:
        proxy.stop()
        server.stop()


def moto_version() -> str:
    import moto

    return str(moto.__version__)


if __name__ == "__main__":
    main()
