"""The whole pattern on one machine, running the real Lambda code.

What plays which part:

* **AWS** (SQS, DynamoDB, S3, Secrets Manager): moto's in-process server. Its
  state lives in memory and is gone when the pipeline stops.
* **WAF + API Gateway**: a small threaded HTTP server. It enforces what the
  web ACL enforces per request (a source's IP allow-list, the body-size cap)
  and hands the verifier the REST proxy event API Gateway would send (body
  base64-encoded, as with the stack's binary media type ``*/*``). The WAF's
  rate limit and AWS IP-reputation list are not simulated.
* **The Lambda SQS event source mapping**: one poller thread per source. It
  receives a batch, calls the processor with the SQS event Lambda builds,
  deletes the records not reported in ``batchItemFailures`` and leaves the
  others to reappear after the visibility timeout; the queue's redrive policy
  (moto implements it) moves them to the DLQ after ``max_receive_count``.

The verifier and processor read their settings from the environment once per
cold start and keep them in module state, and one process here plays every
function. So each invocation runs under a process-wide lock with that
function's environment set, and the cold-start state is rebuilt for it (the
handlers' own ``install``/``reset`` seams). Invocations are
therefore serialised: concurrency (several processors at once) is not
simulated.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from stacks.aws_limits import DAY_SECONDS
from stacks.config import WebhookKitConfig
from webhook_kit.devsecrets import dev_secret

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
TABLE_NAME = "webhook-kit-idempotency"
BUCKET_NAME = "webhook-kit-claim-check"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_AWS_PORT = 4566
# Local retries should be watchable: 6 x a 30 s timeout is 3 minutes per retry in AWS.
DEFAULT_VISIBILITY_SCALE = 0.05
WEBHOOK_PATH_PREFIX = "webhooks"
# API Gateway REST refuses payloads above 10 MB before anything else sees them.
API_GATEWAY_MAX_PAYLOAD = 10 * 1024 * 1024
EVENT_HISTORY = 100_000

_LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def queue_name(source: str) -> str:
    return f"webhook-kit-{source}"


def dead_letter_queue_name(source: str) -> str:
    return f"webhook-kit-{source}-dlq"


def secret_name(source: str) -> str:
    return f"webhook-kit/{source}"


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """What points boto3 (and so the unchanged Lambda code) at the local endpoint."""
    return {"AWS_ENDPOINT_URL": endpoint_url, **_LOCAL_CREDENTIALS}


def local_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client of the local endpoint that does not depend on the process environment."""
    import boto3

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=_LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=_LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=_LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


class LocalPipelineError(RuntimeError):
    """The local pipeline cannot start (a port in use, an unusable configuration)."""


# --------------------------------------------------------------------------- what happened


@dataclass(frozen=True)
class PipelineEvent:
    """One step of one webhook's path, for the console (and for tests to wait on).

    ``stage`` is ``accepted``, ``handshake``, ``rejected`` or ``unavailable`` (HTTP),
    then ``processed``, ``duplicate``, ``unhandled``, ``retried``, ``dead-lettered``
    or ``error`` (processor).
    """

    source: str
    stage: str
    delivery_id: str | None = None
    status: int | None = None
    detail: str = ""
    event_type: str = ""
    attempt: int | None = None
    at: float = field(default_factory=time.time)


Reporter = Callable[[PipelineEvent], None]
# Fault-injection seams (the soak, webhook_kit/soak.py); both default to None, which changes nothing.
# Wraps the verifier's AWS adapters (verifier.adapters.Adapters) when its cold-start state is built.
VerifierAdaptersWrapper = Callable[[Any], Any]
# Called instead of processor.handler.handler(event, context), inside the invocation (lock held,
# the source's environment set); it is given that call and decides what the invocation does.
ProcessorCall = Callable[[dict[str, Any], Any], Mapping[str, Any]]
ProcessorHook = Callable[["LocalSource", dict[str, Any], "FakeLambdaContext", ProcessorCall], Mapping[str, Any]]


@dataclass
class LocalSource:
    name: str
    scheme: str
    secret: str
    secret_arn: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    visibility_timeout: int
    max_receive_count: int
    batch_size: int
    timeout_seconds: int
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def allows(self, address: str) -> bool:
        if not self.allowed_networks:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        # An IPv4 client seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.allowed_networks)


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


# --------------------------------------------------------------------------- Lambda invocations

# One process plays every function, and each reads process-wide environment and
# module state: invocations take turns.
_LAMBDA_LOCK = threading.RLock()


@contextlib.contextmanager
def _function_environment(values: Mapping[str, str]) -> Iterator[None]:
    with _LAMBDA_LOCK:
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage message in the shape of a record of Lambda's SQS event."""
    attributes = dict(message.get("Attributes") or {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", ACCOUNT_ID),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


# --------------------------------------------------------------------------- API Gateway


def api_gateway_event(
    *,
    method: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source: str,
    source_ip: str,
    stage: str,
) -> dict[str, Any]:
    """The REST API (v1) Lambda proxy event API Gateway sends for ``POST /webhooks/{source}``.

    The body is base64 with ``isBase64Encoded`` true, as the stack's binary media
    type ``*/*`` makes API Gateway send every body.
    """
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value  # API Gateway keeps the last value in `headers`
        multi.setdefault(name, []).append(value)
    pairs = parse_qsl(query, keep_blank_values=True)
    query_single: dict[str, str] = {}
    query_multi: dict[str, list[str]] = {}
    for name, value in pairs:
        query_single[name] = value
        query_multi.setdefault(name, []).append(value)
    user_agent = next((value for name, value in headers if name.lower() == "user-agent"), "")
    host = next((value for name, value in headers if name.lower() == "host"), "localhost")
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    return {
        "resource": f"/{WEBHOOK_PATH_PREFIX}/{{source}}",
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": {"source": source},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": f"/{WEBHOOK_PATH_PREFIX}/{{source}}",
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "local",
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
            "domainName": host,
            "apiId": "local",
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


class _WebhookServer(ThreadingHTTPServer):
    daemon_threads = True
    pipeline: LocalPipeline


class _RequestHandler(BaseHTTPRequestHandler):
    server: _WebhookServer
    protocol_version = "HTTP/1.1"
    server_version = "webhook-kit-local"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body
    # waits for the client's delayed ACK (~40 ms per answer, bench/load).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        # The pipeline reports every request itself.
        pass

    def do_POST(self) -> None:
        self.server.pipeline._handle_http(self)

    def _not_found(self) -> None:
        self.server.pipeline._handle_http(self)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_found

    def answer(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        self.answer_raw(status, json.dumps(body, separators=(",", ":")), headers)

    def answer_raw(self, status: int, body: str, headers: Mapping[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        sent = {name.lower() for name in headers or {}}
        for name, value in (headers or {}).items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        if "content-type" not in sent:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


# --------------------------------------------------------------------------- the pipeline


class LocalPipeline:
    """Build the configuration's resources on a local moto server and serve webhooks into them.

    ``verifier_adapters`` and ``processor_hook`` are for fault injection (the soak): the first wraps
    the verifier's AWS adapters (to make SendMessage fail), the second runs each processor invocation
    (to make it die part-way through a batch, or give it a shorter context). Neither is set by
    ``python -m webhook_kit local``.
    """

    def __init__(
        self,
        config: WebhookKitConfig,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        aws_port: int = DEFAULT_AWS_PORT,
        visibility_scale: float = DEFAULT_VISIBILITY_SCALE,
        wait_seconds: int = 1,
        reporter: Reporter | None = None,
        verifier_adapters: VerifierAdaptersWrapper | None = None,
        processor_hook: ProcessorHook | None = None,
    ) -> None:
        if visibility_scale <= 0:
            raise LocalPipelineError("the visibility scale must be above 0")
        self.config = config
        self.host = host
        self.port = port
        self.aws_port = aws_port
        self.visibility_scale = visibility_scale
        self.wait_seconds = wait_seconds
        self.sources: dict[str, LocalSource] = {}
        self.aws_endpoint = ""
        # Recent history only: a long local session must not grow without bound.
        self.events: deque[PipelineEvent] = deque(maxlen=EVENT_HISTORY)
        self._reporters: list[Reporter] = [reporter] if reporter else []
        self._events_changed = threading.Condition()
        self._stop = threading.Event()
        self._moto: Any = None
        self._http: _WebhookServer | None = None
        self._threads: list[threading.Thread] = []
        self._verifier_runtime: Any = None
        self._verifier_env: dict[str, str] = {}
        self._processor_env: dict[str, dict[str, str]] = {}
        self._wrap_verifier_adapters = verifier_adapters
        self._processor_hook = processor_hook

    # ---- lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def webhook_url(self, source: str) -> str:
        return f"{self.url}/{WEBHOOK_PATH_PREFIX}/{source}"

    def start(self) -> LocalPipeline:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # Both ports are checked before anything starts: moto's server thread
        # would otherwise hang on a port that is taken.
        _require_free_port(self.host, self.aws_port, "--aws-port")
        _require_free_port(self.host, self.port, "--port")
        from moto.server import ThreadedMotoServer

        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.aws_port, verbose=False)
        self._moto.start()
        self.aws_port = int(self._moto.get_host_and_port()[1])
        self.aws_endpoint = f"http://{_url_host(self.host)}:{self.aws_port}"
        self._create_resources()
        self._build_environments()
        try:
            self._http = _WebhookServer((self.host, self.port), _RequestHandler)
        except OSError as error:
            raise LocalPipelineError(f"cannot listen on {self.host}:{self.port} ({error}); try --port") from None
        self._http.pipeline = self
        self.port = int(self._http.server_address[1])
        self._spawn("webhook-kit-http", self._http.serve_forever)
        for source in self.sources.values():
            self._spawn(f"webhook-kit-poller-{source.name}", self._poll, source)

    def _spawn(self, name: str, target: Callable[..., Any], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop serving, let the pollers finish their batch, stop moto. Idempotent."""
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        for thread in self._threads:
            thread.join(timeout=self.wait_seconds + 30)
        self._threads = []
        if self._moto is not None:
            with contextlib.suppress(Exception):
                self._moto.stop()
            self._moto = None

    def __enter__(self) -> LocalPipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- resources

    def _create_resources(self) -> None:
        sqs = local_client("sqs", self.aws_endpoint)
        dynamodb = local_client("dynamodb", self.aws_endpoint)
        s3 = local_client("s3", self.aws_endpoint)
        secrets = local_client("secretsmanager", self.aws_endpoint)
        dynamodb.create_table(
            TableName=TABLE_NAME,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=TABLE_NAME, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )
        s3.create_bucket(Bucket=BUCKET_NAME)
        for source in self.config.sources:
            dlq_url = sqs.create_queue(
                QueueName=dead_letter_queue_name(source.name),
                Attributes={"MessageRetentionPeriod": str(self.config.dead_letter_retention_days * DAY_SECONDS)},
            )["QueueUrl"]
            dlq_arn = _queue_arn(sqs, dlq_url)
            visibility = max(1, round(source.visibility_timeout * self.visibility_scale))
            queue_url = sqs.create_queue(
                QueueName=queue_name(source.name),
                Attributes={
                    "VisibilityTimeout": str(visibility),
                    "MessageRetentionPeriod": str(self.config.queue_retention_days * DAY_SECONDS),
                    "RedrivePolicy": json.dumps(
                        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(source.max_receive_count)}
                    ),
                },
            )["QueueUrl"]
            secret = dev_secret(source.name, source.scheme)
            secret_arn = secrets.create_secret(
                Name=secret_name(source.name),
                SecretString=json.dumps({"secrets": [secret]}),
                Description=f"webhook-kit local development secret of {source.name}",
            )["ARN"]
            self.sources[source.name] = LocalSource(
                name=source.name,
                scheme=source.scheme,
                secret=secret,
                secret_arn=secret_arn,
                queue_url=queue_url,
                queue_arn=_queue_arn(sqs, queue_url),
                dead_letter_queue_url=dlq_url,
                visibility_timeout=visibility,
                max_receive_count=source.max_receive_count,
                # One ReceiveMessage returns at most 10; Lambda gathers more over the
                # batching window, which is not simulated.
                batch_size=min(source.batch_size, 10),
                timeout_seconds=source.timeout_seconds,
                allowed_networks=tuple(ipaddress.ip_network(cidr) for cidr in source.allowed_cidrs),
            )

    def _build_environments(self) -> None:
        """The environment the stack gives each function (docs/runtime-contract.md), pointing at moto."""
        config = self.config
        aws = aws_environment(self.aws_endpoint)
        quiet = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
        self._verifier_env = {
            **aws,
            **quiet,
            "POWERTOOLS_SERVICE_NAME": "webhook-verifier",
            "WEBHOOK_SOURCES": json.dumps(
                {
                    source.name: {
                        "scheme": source.scheme,
                        "queue_url": self.sources[source.name].queue_url,
                        "secret_arn": self.sources[source.name].secret_arn,
                        "tolerance_seconds": source.tolerance_seconds,
                        "options": source.verifier_options(),
                    }
                    for source in config.sources
                }
            ),
            "MAX_BODY_BYTES": str(config.max_body_bytes),
            "CLAIM_CHECK_BUCKET": BUCKET_NAME,
            "CLAIM_CHECK_THRESHOLD_BYTES": str(config.claim_check_threshold_bytes),
            "SECRETS_MAX_AGE_SECONDS": str(config.secrets_max_age_seconds),
        }
        for name, source in self.sources.items():
            self._processor_env[name] = {
                **aws,
                **quiet,
                "POWERTOOLS_SERVICE_NAME": f"webhook-kit-processor-{name}",
                "WEBHOOK_SOURCE": name,
                "IDEMPOTENCY_TABLE": TABLE_NAME,
                "IDEMPOTENCY_EXPIRY_SECONDS": str(config.idempotency_expiry_seconds),
                "CLAIM_CHECK_BUCKET": BUCKET_NAME,
                "DEAD_LETTER_QUEUE_URL": source.dead_letter_queue_url,
                "UNHANDLED_EVENTS": config.unhandled_events,
            }
        # Fail now, naming the variable, rather than on the first webhook.
        from verifier.config import ConfigError as VerifierConfigError
        from verifier.config import load_config as load_verifier_config

        try:
            load_verifier_config(self._verifier_env)
        except VerifierConfigError as error:
            raise LocalPipelineError(f"the verifier refuses this configuration: {error}") from None

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

    # ---- the verifier behind WAF and API Gateway

    def _handle_http(self, request: _RequestHandler) -> None:
        path, _, query = request.path.partition("?")
        parts = path.strip("/").split("/")
        name = unquote(parts[1]) if len(parts) == 2 and parts[0] == WEBHOOK_PATH_PREFIX else None
        source = self.sources.get(name) if name else None
        client_ip = str(request.client_address[0])
        length_header = request.headers.get("Content-Length")
        try:
            length = int(length_header) if length_header else 0
        except ValueError:
            length = -1
        if length < 0 or length > API_GATEWAY_MAX_PAYLOAD:
            request.close_connection = True
            request.answer(413, {"message": "Request Too Long"})
            self._report(PipelineEvent(name or "?", "rejected", status=413, detail="API Gateway payload limit"))
            return
        # Read the body in every case so the client sees the answer, not a reset connection.
        body = request.rfile.read(length) if length else b""

        if source is None or request.command != "POST":
            # The stack maps API Gateway's "missing authentication token" (unknown path or method) to 404.
            request.answer(404, {"message": "not found"})
            self._report(
                PipelineEvent(name or "?", "rejected", status=404, detail=f"no route for {request.command} {path}")
            )
            return
        if not source.allows(client_ip):
            request.answer(403, {"message": "Forbidden"})
            self._report(
                PipelineEvent(source.name, "rejected", status=403, detail=f"WAF: {client_ip} not in the allow-list")
            )
            return
        if len(body) > self.config.max_body_bytes:
            request.answer(413, {"message": "Payload Too Large"})
            self._report(
                PipelineEvent(
                    source.name,
                    "rejected",
                    status=413,
                    detail=f"WAF: body of {len(body)} bytes over the {self.config.max_body_bytes}-byte cap",
                )
            )
            return

        event = api_gateway_event(
            method=request.command,
            path=path,
            query=query,
            headers=[
                *request.headers.items(),
                ("X-Forwarded-For", client_ip),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Port", str(self.port)),
            ],
            body=body,
            source=source.name,
            source_ip=client_ip,
            stage=self.config.stage_name,
        )
        try:
            response = self._invoke_verifier(event)
        except Exception as error:  # what Lambda does with an unhandled error: API Gateway answers 502
            request.answer(502, {"message": "Internal server error"})
            self._report(PipelineEvent(source.name, "error", status=502, detail=f"verifier raised {error!r}"))
            return
        status = int(response.get("statusCode", 502))
        request.answer_raw(status, str(response.get("body") or ""), response.get("headers") or {})
        self._report(_verifier_event(source.name, status, str(response.get("body") or "")))

    def _invoke_verifier(self, event: dict[str, Any]) -> dict[str, Any]:
        from verifier import handler as verifier_handler

        with _function_environment(self._verifier_env):
            # Keep this pipeline's cold-start state (cached secrets, clients) between
            # calls, without leaving it behind for anyone else in this process.
            if self._verifier_runtime is None:
                verifier_handler.reset()
                if self._wrap_verifier_adapters is not None:
                    cold = verifier_handler.runtime()
                    verifier_handler.install(
                        config=cold.config, adapters=self._wrap_verifier_adapters(cold.adapters), clock=cold.clock
                    )
            else:
                state = self._verifier_runtime
                verifier_handler.install(config=state.config, adapters=state.adapters, clock=state.clock)
            try:
                context = FakeLambdaContext("webhook-kit-verifier", self.config.verifier_timeout_seconds)
                response: dict[str, Any] = verifier_handler.handler(event, context)
                self._verifier_runtime = verifier_handler.runtime()
            finally:
                verifier_handler.reset()
        return response

    # ---- the processors behind their event source mappings

    def _poll(self, source: LocalSource) -> None:
        sqs = local_client("sqs", self.aws_endpoint)
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=source.queue_url,
                    MaxNumberOfMessages=source.batch_size,
                    WaitTimeSeconds=self.wait_seconds,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as error:
                if self._stop.is_set():
                    return
                self._report(PipelineEvent(source.name, "error", detail=f"ReceiveMessage failed: {error}"))
                self._stop.wait(1)
                continue
            if messages:
                self._deliver(sqs, source, messages)

    def _deliver(self, sqs: Any, source: LocalSource, messages: list[dict[str, Any]]) -> None:
        records = [lambda_sqs_record(message, source.queue_arn) for message in messages]
        try:
            response, outcomes = self._invoke_processor(source, records)
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures") or []}
        except Exception as error:
            # The invocation failed as a whole: Lambda's event source mapping retries the whole batch.
            outcomes = {record["messageId"]: f"invocation failed: {error!r}" for record in records}
            failed = set(outcomes)
        done = [record for record in records if record["messageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            with contextlib.suppress(Exception):  # undeleted records come back: the processor skips them
                sqs.delete_message_batch(
                    QueueUrl=source.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
                )
        for record in records:
            message_id = record["messageId"]
            self._report(_processor_event(source, record, outcomes.get(message_id), message_id in failed))

    def _invoke_processor(
        self, source: LocalSource, records: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        from processor import handler as processor_handler

        outcomes: dict[str, str] = {}

        def note(record: Mapping[str, Any], outcome: Any) -> None:
            # The batch response names only the failures; the console says what became of each record.
            failed = isinstance(outcome, Exception)
            outcomes[record["messageId"]] = f"{type(outcome).__name__}: {outcome}" if failed else str(outcome)

        with _function_environment(self._processor_env[source.name]), processor_handler.observe(note):
            # The processor caches settings built from WEBHOOK_SOURCE etc.; rebuild them
            # for this source (cheap: boto3 clients only).
            processor_handler.reset()
            try:
                context = FakeLambdaContext(f"webhook-kit-processor-{source.name}", source.timeout_seconds)
                event = {"Records": records}
                if self._processor_hook is None:
                    response: dict[str, Any] = dict(processor_handler.handler(event, context))
                else:
                    response = dict(self._processor_hook(source, event, context, processor_handler.handler))
            finally:
                processor_handler.reset()
        return response, outcomes


def _verifier_event(source: str, status: int, body: str) -> PipelineEvent:
    try:
        document = json.loads(body)
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    if status == 202:
        return PipelineEvent(source, "accepted", delivery_id=str(document.get("id")), status=status)
    if status == 200:
        return PipelineEvent(source, "handshake", status=status, detail="provider handshake answered")
    stage = "unavailable" if status == 503 else "rejected"
    return PipelineEvent(source, stage, status=status, detail=str(document.get("message", "")))


def _processor_event(
    source: LocalSource, record: Mapping[str, Any], outcome: str | None, failed: bool
) -> PipelineEvent:
    attributes = record.get("messageAttributes") or {}
    delivery_id = (attributes.get("delivery_id") or {}).get("stringValue")
    event_type = (attributes.get("event_type") or {}).get("stringValue") or ""
    attempt = int(record["attributes"].get("ApproximateReceiveCount", "1"))
    if failed:
        if attempt >= source.max_receive_count:
            stage = "dead-lettered"
            detail = f"failed {attempt} of {source.max_receive_count} attempts; SQS moves it to the DLQ"
        else:
            stage = "retried"
            detail = f"attempt {attempt} of {source.max_receive_count}; again in {source.visibility_timeout} s"
        if outcome:
            detail = f"{detail} ({outcome})"
        return PipelineEvent(source.name, stage, delivery_id, detail=detail, event_type=event_type, attempt=attempt)
    stage = {"dead_lettered": "dead-lettered"}.get(outcome or "", outcome or "processed")
    detail = "permanent failure: see failure_reason in the DLQ" if stage == "dead-lettered" else ""
    return PipelineEvent(source.name, stage, delivery_id, detail=detail, event_type=event_type, attempt=attempt)


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 - compared, not bound: the URL of a wildcard listener
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _require_free_port(host: str, port: int, option: str) -> None:
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise LocalPipelineError(
                f"port {port} on {host} is not available ({error.strerror or error}); choose another with {option}"
            ) from None
