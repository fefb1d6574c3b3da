"""webhook-kit's CDK constructs. ``WebhookIngestion`` is the whole pattern in one construct."""

from stacks.config import ConfigError, WebhookKitConfig, load_config, parse_config
from stacks.ingestion import WebhookIngestion

__all__ = ["ConfigError", "WebhookIngestion", "WebhookKitConfig", "load_config", "parse_config"]
