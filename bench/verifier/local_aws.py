"""In-process stand-ins for the verifier bench: AWS answered at the HTTP layer, and signed requests.

``install_http_stub`` replaces only the last step of botocore, the HTTP send
(``URLLib3Session.send``): every client of every session (the handler's SQS
client, the Powertools Secrets Manager client, the minimal handler's client)
still builds, serializes and SigV4-signs its request and parses the reply, so
that cost is part of what the bench measures. Nothing leaves the process.

Only the standard library is imported at module level: the cold-start child
imports this module after its timers stop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

REGION = "us-east-1"
SOURCE = "stripe"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/123456789012/webhooks-{SOURCE}"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:webhooks/{SOURCE}-AbCdEf"
BUCKET = "bench-claim-checks"
SECRET = "whsec_bench_0123456789abcdef"  # noqa: S105 - a made-up signing key for the bench
# Listed before SECRET during a rotation (``--rotation``): the verifier then tries both.
RETIRED_SECRET = "whsec_retired_fedcba9876543210"  # noqa: S105
MESSAGE_ID = "5fea7756-0ea4-451a-a703-a558b933e274"


def environment(*, max_body_bytes: int, claim_check_threshold_bytes: int, bucket: str = "") -> dict[str, str]:
    """The verifier's environment for one stripe source (plus fake credentials that never leave the process)."""
    sources = {
        SOURCE: {
            "scheme": "stripe",
            "queue_url": QUEUE_URL,
            "secret_arn": SECRET_ARN,
            # Wide, so that a long run never falls out of the signed-timestamp window.
            "tolerance_seconds": 86_400,
        }
    }
    env = {
        "WEBHOOK_SOURCES": json.dumps(sources),
        "MAX_BODY_BYTES": str(max_body_bytes),
        "CLAIM_CHECK_THRESHOLD_BYTES": str(claim_check_threshold_bytes),
        "SECRETS_MAX_AGE_SECONDS": "300",
        "AWS_ACCESS_KEY_ID": "AKIDBENCHBENCHBENCH0",
        "AWS_SECRET_ACCESS_KEY": "bench-secret-access-key",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "webhook-verifier",
    }
    if bucket:
        env["CLAIM_CHECK_BUCKET"] = bucket
    return env


class _Raw:
    """What ``AWSResponse.content`` reads the body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name, b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def install_http_stub(*, rotation: bool = False) -> Counter[str]:
    """Answer SendMessage, GetSecretValue and PutObject in-process; returns a live count of requests by operation.

    The secret holds one active signing key, or with ``rotation`` a retired one before it.
    """
    from botocore.awsrequest import AWSResponse
    from botocore.httpsession import URLLib3Session

    calls: Counter[str] = Counter()
    send_message = json.dumps({"MD5OfMessageBody": "0" * 32, "MessageId": MESSAGE_ID}).encode()
    get_secret = json.dumps(
        {
            "ARN": SECRET_ARN,
            "Name": f"webhooks/{SOURCE}",
            "SecretString": json.dumps({"secrets": [RETIRED_SECRET, SECRET] if rotation else [SECRET]}),
            "VersionId": "00000000-0000-0000-0000-000000000001",
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": 1_700_000_000.0,
        }
    ).encode()

    def send(self: Any, request: Any) -> Any:
        target = _header(request, "X-Amz-Target")
        if target == "AmazonSQS.SendMessage":
            calls["sqs:SendMessage"] += 1
            headers = {"x-amzn-RequestId": "bench", "Content-Type": "application/x-amz-json-1.0"}
            return AWSResponse(request.url, 200, headers, _Raw(send_message))
        if target == "secretsmanager.GetSecretValue":
            calls["secretsmanager:GetSecretValue"] += 1
            headers = {"x-amzn-RequestId": "bench", "Content-Type": "application/x-amz-json-1.1"}
            return AWSResponse(request.url, 200, headers, _Raw(get_secret))
        if request.method == "PUT" and "s3" in (urlsplit(request.url).hostname or "").split("."):
            calls["s3:PutObject"] += 1
            headers = {"x-amz-request-id": "bench", "ETag": '"00000000000000000000000000000000"'}
            return AWSResponse(request.url, 200, headers, _Raw(b""))
        raise AssertionError(f"the bench stub has no answer for {request.method} {request.url} {target!r}")

    URLLib3Session.send = send  # type: ignore[method-assign]
    return calls


def stripe_body(size: int) -> bytes:
    """A Stripe-shaped event of exactly ``size`` bytes (ASCII JSON, so it goes on the queue as text)."""
    head = (
        '{"id":"evt_1PbenchBENCHbench","object":"event","type":"payment_intent.succeeded",'
        '"data":{"object":{"id":"pi_1Pbench","amount":2000,"currency":"usd"}},"pad":"'
    )
    tail = '"}'
    pad = size - len(head) - len(tail)
    if pad < 0:
        raise ValueError(f"body size {size} is below the {len(head) + len(tail)}-byte skeleton")
    return (head + "x" * pad + tail).encode()


def api_gateway_event(body: bytes, *, timestamp: int | None = None) -> dict[str, Any]:
    """An API Gateway REST proxy event for ``POST /webhooks/stripe``, signed the way Stripe signs."""
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    host = "abcdef1234.execute-api.us-east-1.amazonaws.com"
    headers = {
        "Accept": "*/*; q=0.5, application/xml",
        "Cache-Control": "no-cache",
        "CloudFront-Forwarded-Proto": "https",
        "CloudFront-Is-Desktop-Viewer": "true",
        "CloudFront-Viewer-Country": "US",
        "Content-Type": "application/json; charset=utf-8",
        "Host": host,
        "Stripe-Signature": f"t={t},v1={signature}",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Via": "1.1 0123456789abcdef.cloudfront.net (CloudFront)",
        "X-Amz-Cf-Id": "bench-cf-id-0123456789==",
        "X-Amzn-Trace-Id": "Root=1-65f1c2d3-0123456789abcdef01234567",
        "X-Forwarded-For": "54.187.174.169, 130.176.0.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    return {
        "resource": "/webhooks/{source}",
        "path": f"/webhooks/{SOURCE}",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"source": SOURCE},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3",
            "resourcePath": "/webhooks/{source}",
            "httpMethod": "POST",
            "requestTime": "14/Nov/2023:22:13:20 +0000",
            "path": f"/prod/webhooks/{SOURCE}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "requestTimeEpoch": t * 1000,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "54.187.174.169", "userAgent": headers["User-Agent"]},
            "domainName": host,
            "apiId": "abcdef1234",
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


class LambdaContext:
    """The attributes Powertools reads from the Lambda context."""

    function_name = "webhook-kit-verifier"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:webhook-kit-verifier"
    aws_request_id = "bench-request"
    log_group_name = "/aws/lambda/webhook-kit-verifier"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
