"""The AWS side of the local pipeline: moto's server and the resources the stack would create in it.

Per source a queue and a DLQ (the configured retentions, visibility timeout
scaled, moto implements the redrive policy), the idempotency table (key and TTL
attributes from ``shared.contract``), the claim-check bucket and a secret
holding the source's development secret (and the tokens its handshake reads,
such as Meta's ``verify_token``). The allow-list presets' WAF IP sets are
``webhook_kit.local.allowlists``.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import logging
import multiprocessing
import signal
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from shared.contract import DAY_SECONDS, IDEMPOTENCY_KEY_ATTRIBUTE, IDEMPOTENCY_TTL_ATTRIBUTE, SQS_MAX_BATCH
from stacks.config import WebhookKitConfig
from webhook_kit.devsecrets import dev_secret_document

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
TABLE_NAME = "webhook-kit-idempotency"
BUCKET_NAME = "webhook-kit-claim-check"

_CONTEXT = multiprocessing.get_context("spawn")
# moto's server imports every service's models: a few seconds on a busy machine.
_START_SECONDS = 60.0

_LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class LocalPipelineError(RuntimeError):
    """The local pipeline cannot start (a port in use, an unusable configuration)."""


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
    max_concurrency: int
    timeout_seconds: int
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    # What API Gateway exposes for it: POST, and its handshake's GET or HEAD.
    methods: tuple[str, ...] = ("POST",)
    # The secret document's other fields, which its handshake reads (Meta's verify_token).
    tokens: dict[str, str] = field(default_factory=dict)
    # Its allow-list presets, whose networks are in the presets' IP sets (webhook_kit.local.allowlists).
    allowed_presets: tuple[str, ...] = ()

    @property
    def allow_listed(self) -> bool:
        return bool(self.allowed_networks or self.allowed_presets)

    def allows(
        self, address: str, preset_networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()
    ) -> bool:
        """Whether ``address`` is in the source's CIDRs or in ``preset_networks`` (its presets' IP sets now)."""
        if not self.allow_listed:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        # An IPv4 client seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in (*self.allowed_networks, *preset_networks))


def _serve_aws(host: str, port: int, connection: Connection) -> None:
    """moto's server in a process of its own (module level: spawn pickles it by name)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group; the parent stops it
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    connection.send(int(server.get_host_and_port()[1]))
    with contextlib.suppress(EOFError, OSError):
        connection.recv()  # a stop request, or end of file when the parent is gone
    server.stop()


class LocalAws:
    """moto's server, in a process of its own; its state is in memory and gone when it stops.

    Its own process because every function worker and poller calls it at once:
    sharing the pipeline's interpreter (and its GIL) with the HTTP front and the
    pollers made it the bottleneck of the whole pipeline.
    """

    def __init__(self, host: str, port: int) -> None:
        # Checked before anything starts: moto's server thread would otherwise hang on a port that is taken.
        require_free_port(host, port, "--aws-port")
        here, there = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(target=_serve_aws, args=(host, port, there), name="moto", daemon=True)
        self._process.start()
        there.close()
        self._connection = here
        if not here.poll(_START_SECONDS):
            self.stop()
            raise LocalPipelineError(f"moto's server did not start within {_START_SECONDS:.0f} s")
        self.port = int(here.recv())
        self.endpoint = f"http://{url_host(host)}:{self.port}"

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._connection.send(None)
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()


def provision(
    config: WebhookKitConfig, endpoint: str, *, visibility_scale: float, table_name: str, bucket_name: str
) -> dict[str, LocalSource]:
    """Create what the stack would on the local endpoint; return each source's local facts."""
    sqs = local_client("sqs", endpoint)
    dynamodb = local_client("dynamodb", endpoint)
    secrets = local_client("secretsmanager", endpoint)
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": IDEMPOTENCY_KEY_ATTRIBUTE, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": IDEMPOTENCY_KEY_ATTRIBUTE, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": IDEMPOTENCY_TTL_ATTRIBUTE}
    )
    local_client("s3", endpoint).create_bucket(Bucket=bucket_name)
    sources: dict[str, LocalSource] = {}
    for source in config.sources:
        dlq_url = sqs.create_queue(
            QueueName=dead_letter_queue_name(source.name),
            Attributes={"MessageRetentionPeriod": str(config.dead_letter_retention_days * DAY_SECONDS)},
        )["QueueUrl"]
        visibility = max(1, round(source.visibility_timeout * visibility_scale))
        queue_url = sqs.create_queue(
            QueueName=queue_name(source.name),
            Attributes={
                "VisibilityTimeout": str(visibility),
                "MessageRetentionPeriod": str(config.queue_retention_days * DAY_SECONDS),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": _queue_arn(sqs, dlq_url), "maxReceiveCount": str(source.max_receive_count)}
                ),
            },
        )["QueueUrl"]
        document = dev_secret_document(source.name, source.scheme, source.handshake)
        secret = document["secrets"][0]
        secret_arn = secrets.create_secret(
            Name=secret_name(source.name),
            SecretString=json.dumps(document),
            Description=f"webhook-kit local development secret of {source.name}",
        )["ARN"]
        sources[source.name] = LocalSource(
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
            batch_size=min(source.batch_size, SQS_MAX_BATCH),
            max_concurrency=source.max_concurrency,
            timeout_seconds=source.timeout_seconds,
            allowed_networks=tuple(ipaddress.ip_network(cidr) for cidr in source.allowed_cidrs),
            methods=source.methods,
            tokens={name: value for name, value in document.items() if name != "secrets"},
            allowed_presets=source.allowed_presets,
        )
    return sources


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 - compared, not bound: the URL of a wildcard listener
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def require_free_port(host: str, port: int, option: str) -> None:
    """Fail, with the fix, when something listens on ``host:port``.

    The probe binds as the servers do, with ``SO_REUSEADDR`` (werkzeug's and the
    front's ``allow_reuse_address``): connections of a previous run left in
    TIME-WAIT for a minute do not make the port unavailable to them, so not to
    the probe either.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise LocalPipelineError(
                    f"port {port} on {host} is in use: something is listening there (another `make local`?); "
                    f"stop it, or choose another port with {option}"
                ) from None
            raise LocalPipelineError(
                f"cannot listen on port {port} on {host} ({error.strerror or error}); choose another with {option}"
            ) from None
