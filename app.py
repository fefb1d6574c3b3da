#!/usr/bin/env python3
"""The CDK app: read the configuration once, build the stack, run cdk-nag."""

from __future__ import annotations

import os
import re
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.budgets import BudgetError, check_assembly
from stacks.config import ConfigError, load_config
from stacks.waf_budget import FirewallBudgetError
from stacks.webhook_stack import WebhookKitStack

# `-c config=path` picks the configuration file; any other `-c key=value` whose key
# is a plain name (`stage_name`) or `sources.<name>.<key>` overrides that setting.
# The CDK's own context keys ("@aws-cdk/...", "aws:cdk:...") never match.
_OVERRIDE_KEY = re.compile(r"^(?:[a-z][a-z0-9_]*|sources\.[a-z0-9-]+\.[a-z][a-z0-9_]*)$")


def main() -> None:
    app = cdk.App()
    context = app.node.get_all_context()
    path = context.get("config") or os.environ.get("WEBHOOK_KIT_CONFIG", "webhook-kit.toml")
    overrides = {key: value for key, value in context.items() if key != "config" and _OVERRIDE_KEY.match(key)}
    try:
        config = load_config(path, overrides)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    try:
        WebhookKitStack(app, config.stack_name, config=config)
        cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
        assembly = app.synth()
        # What AWS would refuse at deploy time fails here, naming the limit (stacks/budgets.py).
        check_assembly(assembly.directory)
    except (FirewallBudgetError, BudgetError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
