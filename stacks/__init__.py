"""webhook-kit's CDK constructs. ``WebhookIngestion`` is the whole pattern in one construct.

The configuration module needs no CDK, so the kit's command line can read the
same configuration without starting jsii; the construct is imported on first use.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The runtime contract (shared.contract) lives in the Lambda asset, lambdas/, whose
# folders are top-level packages: the constructs import it from there.
_LAMBDAS_DIR = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS_DIR not in sys.path:
    sys.path.insert(0, _LAMBDAS_DIR)

from stacks.config import ConfigError, WebhookKitConfig, load_config, parse_config  # noqa: E402

__all__ = ["ConfigError", "WebhookIngestion", "WebhookKitConfig", "load_config", "parse_config"]


def __getattr__(name: str) -> Any:
    if name == "WebhookIngestion":
        from stacks.pattern import WebhookIngestion

        return WebhookIngestion
    raise AttributeError(name)
