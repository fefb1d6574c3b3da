"""Synthesize stacks once per module and share their templates."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from stacks.config import WebhookKitConfig, load_config, parse_config
from stacks.webhook_stack import WebhookKitStack

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = ROOT / "webhook-kit.toml"


@dataclass
class Synthesized:
    config: WebhookKitConfig
    stack: WebhookKitStack
    template: Template

    @property
    def json(self) -> dict[str, Any]:
        return self.template.to_json()

    def resources(self, type_: str) -> dict[str, Any]:
        return self.template.find_resources(type_)


# The feature flags `cdk synth` and `cdk deploy` set (cdk.json), so the tests see the deployed template.
FEATURE_FLAGS: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]


def synthesize(config: WebhookKitConfig) -> Synthesized:
    app = cdk.App(context=FEATURE_FLAGS)
    stack = WebhookKitStack(app, config.stack_name, config=config)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    template = Template.from_stack(stack)  # synthesizes, which runs the nag aspect
    return Synthesized(config=config, stack=stack, template=template)


def default_config_data() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_CONFIG.read_text())


@pytest.fixture(scope="session")
def default_stack() -> Synthesized:
    """The stack of the shipped webhook-kit.toml."""
    return synthesize(load_config(DEFAULT_CONFIG))


# An existing secret named by its partial ARN (no six-character suffix), encrypted
# with a customer-managed key.
PARTIAL_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhooks/billing"
SECRET_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# A configuration that switches on what the default leaves off: allow-lists
# (IPv4 and IPv6), an alarm e-mail, existing secrets (complete and partial ARN,
# one with a customer-managed key), a URL-signing scheme,
# a generic HMAC source, batching, a source throttle of its own, a small body
# cap WAF can measure, shorter retention windows, no data retention, and the
# account's existing API Gateway CloudWatch Logs role.
VARIANT = {
    "stack_name": "WebhookKitVariant",
    "stage_name": "staging",
    "api_gateway_cloudwatch_role": "existing",
    "alarm_email": "oncall@example.com",
    "waf_rate_limit": 500,
    "max_body_bytes": 8192,
    "retain_data": False,
    "queue_retention_days": 4,
    "dead_letter_retention_days": 7,
    "claim_check_expiry_days": 12,
    "idempotency_expiry_seconds": 11 * 24 * 3600,
    "sources": [
        {
            "name": "stripe",
            "scheme": "stripe",
            "allowed_cidrs": ["3.18.12.63/32", "3.130.192.231/32", "2600:1f18::/36"],
            "batch_size": 50,
            "batching_window_seconds": 5,
            "max_concurrency": 3,
            "max_receive_count": 3,
            "timeout_seconds": 20,
            "throttle_rate": 20,
            "throttle_burst": 40,
        },
        {
            "name": "twilio-sms",
            "scheme": "twilio",
            "public_url": "https://hooks.example.com/webhooks/twilio-sms",
            "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:twilio-AbCdEf",
        },
        {
            "name": "billing",
            "scheme": "paddle",
            "secret_arn": PARTIAL_SECRET_ARN,
            "secret_kms_key_arn": SECRET_KEY_ARN,
        },
        {
            "name": "erp",
            "scheme": "generic-hmac",
            "allowed_cidrs": ["203.0.113.0/24"],
            "generic": {
                "signature_header": "X-Erp-Signature",
                "algorithm": "sha512",
                "encoding": "base64",
                "delivery_id_header": "X-Erp-Delivery",
            },
        },
    ],
}


@pytest.fixture(scope="session")
def variant_stack() -> Synthesized:
    return synthesize(parse_config(VARIANT))
