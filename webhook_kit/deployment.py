"""Where a deployed stack keeps what the commands need: the deployment's outputs and each source's.

Each source's resources are in a nested stack of their own (stacks/source_stack.py),
whose outputs hold its webhook URL, secret and queues; the deployment's stack
names that nested stack by a logical id made from the source's name.
"""

from __future__ import annotations

from typing import Any

from shared import contract


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """A stack's outputs (by name or ARN)."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def source_outputs(cloudformation: Any, stack_name: str, source: str) -> dict[str, str]:
    """A source's outputs: those of its nested stack, found by its logical id in the deployment's stack."""
    resource = cloudformation.describe_stack_resource(
        StackName=stack_name, LogicalResourceId=contract.source_stack_logical_id(source)
    )["StackResourceDetail"]
    return stack_outputs(cloudformation, resource["PhysicalResourceId"])
