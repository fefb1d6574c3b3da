"""webhook-kit's CDK constructs. ``WebhookIngestion`` is the whole pattern in one construct.

The configuration module needs no CDK, so the kit's command line can read the
same configuration without starting jsii; the construct is imported on first use.
"""

from __future__ import annotations

from typing import Any

from stacks.config import ConfigError, WebhookKitConfig, load_config, parse_config

__all__ = ["ConfigError", "WebhookIngestion", "WebhookKitConfig", "load_config", "parse_config"]


def __getattr__(name: str) -> Any:
    if name == "WebhookIngestion":
        from stacks.ingestion import WebhookIngestion

        return WebhookIngestion
    raise AttributeError(name)
