"""A verifier whose sources all use HMAC never imports ``cryptography``, nor the modules of schemes and
handshakes it does not use, so its cold start does not pay for them.

Only the public-key schemes (``Scheme.needs_cryptography``) may import it, and only
inside their functions. The check runs in a fresh interpreter (this one has long
imported everything): the handler's cold start and a first request per source.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from webhook_verify.schemes import get_scheme

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_700_000_000
SECRET = "hmac-only-secret-value"
# One source per HMAC family, each signed as its provider signs.
SOURCES = {
    "github": {"scheme": "github", "options": {}},
    "slack": {"scheme": "slack", "options": {}},
    "stripe": {"scheme": "stripe", "options": {}},
    "shopify": {"scheme": "shopify", "options": {}},
    "paddle": {"scheme": "paddle", "options": {}},
    "generic": {"scheme": "generic-hmac", "options": {"signature_header": "X-Sig", "delivery_id_field": "id"}},
}

# Lambda's runtime has no pyOpenSSL. Where a test virtualenv has it (an oracle library pulls it in),
# botocore imports urllib3.contrib.pyopenssl, which imports cryptography: not the kit's doing, so the
# child leaves it out, as the runtime does.
_CHILD = """
import importlib.util, json, sys

class NoPyOpenSSL:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "OpenSSL":
            raise ImportError("not in the Lambda runtime")
        return None

sys.meta_path.insert(0, NoPyOpenSSL())
from webhook_verify.schemes import get_scheme
from tests.support.verifier import FakeAws, LambdaContext, api_event
from verifier import handler

sources, secret, now = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
aws = FakeAws()
for name in sources:
    aws.set_secrets(f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}", secret)
handler.install(adapters=aws, clock=lambda: float(now))
statuses = {}
for name, spec in sources.items():
    body = b'{"id":"evt_1","type":"ping","event_id":"Ev1","event":{"type":"ping"}}'
    headers = get_scheme(spec["scheme"]).sign(body, secret, timestamp=now, options=spec["options"])
    statuses[name] = handler.handler(api_event(name, body, headers), LambdaContext())["statusCode"]
print("RESULT " + json.dumps({
    "statuses": statuses,
    "available": importlib.util.find_spec("cryptography") is not None,
    "imported": sorted(m for m in sys.modules if m.partition(".")[0] == "cryptography"),
    "schemes": "webhook_verify.schemes" in sys.modules,
    "scheme_modules": sorted(
        m for m in sys.modules if m.startswith(("webhook_verify.schemes.", "webhook_verify.handshakes."))
    ),
    "web": "verifier.web" in sys.modules,
}))
"""


def test_a_verifier_with_only_hmac_sources_never_imports_cryptography() -> None:
    assert not [name for name, spec in SOURCES.items() if get_scheme(spec["scheme"]).needs_cryptography]
    sources = {
        name: {
            **spec,
            "queue_url": f"https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-{name}",
            "secret_arn": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}",
            "tolerance_seconds": 300,
        }
        for name, spec in SOURCES.items()
    }
    environment = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT}:{ROOT / 'lambdas'}",
        "WEBHOOK_SOURCES": json.dumps(sources),
        "MAX_BODY_BYTES": "65536",
        "CLAIM_CHECK_THRESHOLD_BYTES": "65536",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    child = subprocess.run(  # noqa: S603 - this interpreter on our own snippet
        [sys.executable, "-c", _CHILD, json.dumps(SOURCES), SECRET, str(NOW)],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(next(line for line in child.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["statuses"] == dict.fromkeys(SOURCES, 202)
    # Importable here: it simply was not imported.
    assert result["available"] and result["schemes"]
    assert result["imported"] == []
    # Only the modules of the schemes (and Slack's default handshake) these sources use, their
    # shared helpers, and not the verifier's HTTP client (each is imported on first use).
    used = {"base", "helpers", "request", "github", "slack", "timestamp_hex", "shopify", "generic_hmac"}
    assert set(result["scheme_modules"]) == {f"webhook_verify.schemes.{name}" for name in used} | {
        "webhook_verify.handshakes.slack"
    }
    assert result["web"] is False
