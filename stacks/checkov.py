"""Checkov skips, written on the resource they concern, each with its reason.

Checkov reads ``Metadata.checkov.skip`` of a CloudFormation resource; like the
cdk-nag suppressions, a skip here names one check on one resource and says why
the check does not apply to this pattern. ``tests/infrastructure`` runs checkov
on the synthesized templates and fails on any finding that is not skipped.
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct

FUNCTION_SKIPS = {
    "CKV_AWS_115": "Concurrency is bounded where it matters: each processor by its SQS event source's maximum "
    "concurrency, the verifier by the API stage's throttling, the allow-list sync by its schedule; reserving "
    "concurrency would take it from the account.",
    "CKV_AWS_116": "A Lambda DLQ only catches asynchronous invocations. API Gateway calls the verifier synchronously "
    "and SQS drives the processors, whose dead-letter queue is the source queue's redrive policy. The allow-list "
    "sync's scheduled event carries nothing to redo: a failed run is counted and alarmed, and the next run reads "
    "the lists anew.",
    "CKV_AWS_117": "The functions reach only AWS APIs with IAM-signed TLS requests; a VPC would add NAT cost and "
    "cold-start time and protect nothing here.",
    "CKV_AWS_173": "The environment holds no secret (queue URLs, ARNs, limits); signing secrets are read from "
    "Secrets Manager at run time.",
}
LOG_GROUP_SKIPS = {
    "CKV_AWS_158": "Logs never hold a secret, a signature or a webhook body (tests/security proves it); CloudWatch "
    "Logs encrypts at rest, and a customer key would add cost and a key policy to every log group.",
}


def skip_checks(construct: IConstruct, skips: dict[str, str]) -> None:
    """Record checkov skips on the CloudFormation resource behind ``construct``."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    existing = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"].extend({"id": check, "comment": reason} for check, reason in skips.items())
    resource.add_metadata("checkov", existing)
