"""Where bodies too big for SQS wait for their processor (the claim-check pattern)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.checkov import skip_checks

_CLEANER = "The CDK's own object-cleaner, invoked once by CloudFormation when the stack is deleted"
_CLEANER_SKIPS = {
    "CKV_AWS_115": f"{_CLEANER}: it never runs concurrently.",
    "CKV_AWS_116": f"{_CLEANER}: CloudFormation reports its failure; there is no event to keep.",
    "CKV_AWS_117": f"{_CLEANER}: it calls only the S3 API, over TLS with IAM.",
    "CKV_AWS_173": f"{_CLEANER}: its environment holds no secret.",
}


def claim_check_prefix(source_name: str) -> str:
    """Where a source's bodies lie: the verifier's keys are ``<source>/...`` (a test holds it to that)."""
    return f"{source_name}/"


class ClaimCheckBucket(Construct):
    """An encrypted, private, TLS-only bucket whose objects expire on their own."""

    def __init__(self, scope: Construct, construct_id: str, *, expiry_days: int, retain: bool) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-claim-checks",
                    expiration=Duration.days(expiry_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            auto_delete_objects=not retain,
        )
        skip_checks(
            self.bucket,
            {
                "CKV_AWS_18": "Transient bodies written only by the verifier and expiring on their own; use "
                "CloudTrail data events if an audit trail is required.",
                "CKV_AWS_21": "Each object is written once per delivery and expires; versioning would keep "
                "expired webhook bodies around instead of deleting them.",
            },
        )
        NagSuppressions.add_resource_suppressions(
            self.bucket,
            [
                {
                    "id": "AwsSolutions-S1",
                    "reason": "Objects are transient webhook bodies written only by the verifier and expire on "
                    "their own; an access-log bucket would hold more than it audits. Use CloudTrail data events "
                    "if an audit trail is required.",
                }
            ],
        )
        if not retain:
            # The CDK's object-cleaner function (deletes objects when the stack goes);
            # it runs once, at deletion, from CloudFormation.
            provider = Stack.of(self).node.try_find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
            handler = provider.node.try_find_child("Handler") if provider else None
            if handler is not None:
                skip_checks(handler, _CLEANER_SKIPS)
