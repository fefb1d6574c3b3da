"""The front: what the WAF web ACL and API Gateway do before the verifier runs.

A threaded HTTP server. Per request it enforces what the web ACL enforces (a
source's IP allow-list against the TCP peer: its ``allowed_cidrs`` and its
presets' IP sets as moto's WAFv2 holds them now, ``webhook_kit.local.allowlists``;
the body-size cap) and hands the
verifier the REST proxy event API Gateway would send (body base64-encoded, as
with the stack's binary media type ``*/*``). A path not in canonical form
("/webhooks/%73tripe", "//webhooks/stripe") is 403, as the web ACL's
canonical-path rule answers it. Only ``POST /webhooks/<source>`` exists, and
the GET or HEAD of the source's handshake where it has one (the same
``SourceConfig.methods`` the stack reads); anything else is 404, as in the
stack. The WAF's rate limit and AWS IP-reputation list are not simulated.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from shared.contract import CANONICAL_PATH_REGEX, WEBHOOK_PATH_PREFIX
from stacks.config import WebhookKitConfig
from webhook_kit.local.allowlists import PresetAllowLists
from webhook_kit.local.events import PipelineEvent, Reporter, verifier_event
from webhook_kit.local.resources import ACCOUNT_ID, LocalPipelineError, LocalSource

# API Gateway REST refuses payloads above 10 MB before anything else sees them.
API_GATEWAY_MAX_PAYLOAD = 10 * 1024 * 1024

# The verifier: API Gateway's event in, the function's response out.
Invoke = Callable[[dict[str, Any]], Mapping[str, Any]]


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
    """The REST API (v1) Lambda proxy event API Gateway sends for ``<method> /webhooks/{source}``.

    The body is base64 with ``isBase64Encoded`` true, as the stack's binary media
    type ``*/*`` makes API Gateway send every body; a request without one (a
    handshake's GET or HEAD) has ``body`` null, as API Gateway sends it.
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
        "body": base64.b64encode(body).decode("ascii") if body else None,
        "isBase64Encoded": bool(body),
    }


class _WebhookServer(ThreadingHTTPServer):
    daemon_threads = True
    front: Front


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
        self.server.front.handle(self)

    def _not_found(self) -> None:
        self.server.front.handle(self)

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


class Front:
    """The HTTP endpoint of the local pipeline, serving on a thread of its own."""

    def __init__(
        self,
        config: WebhookKitConfig,
        sources: Mapping[str, LocalSource],
        *,
        host: str,
        port: int,
        invoke_verifier: Invoke,
        report: Reporter,
        allow_lists: PresetAllowLists | None = None,
    ) -> None:
        self.config = config
        self.sources = sources
        self._allow_lists = allow_lists
        self._invoke_verifier = invoke_verifier
        self._report = report
        try:
            self._server = _WebhookServer((host, port), _RequestHandler)
        except OSError as error:
            raise LocalPipelineError(f"cannot listen on {host}:{port} ({error}); try --port") from None
        self._server.front = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-kit-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def handle(self, request: _RequestHandler) -> None:
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

        if not re.fullmatch(CANONICAL_PATH_REGEX, path):
            request.answer(403, {"message": "Forbidden"})
            self._report(PipelineEvent(name or "?", "rejected", status=403, detail=f"WAF: {path!r} is not canonical"))
            return
        if source is None or request.command not in source.methods:
            # The stack maps API Gateway's "missing authentication token" (unknown path or method) to 404.
            request.answer(404, {"message": "not found"})
            self._report(
                PipelineEvent(name or "?", "rejected", status=404, detail=f"no route for {request.command} {path}")
            )
            return
        presets = self._allow_lists.networks(source.allowed_presets) if self._allow_lists is not None else ()
        if not source.allows(client_ip, presets):
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
                ("X-Forwarded-Port", str(self._server.server_address[1])),
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
        self._report(verifier_event(source.name, status, str(response.get("body") or "")))
