"""Where bodies too big for SQS wait for their processor (the claim-check pattern)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from cdk_nag import NagSuppressions
from constructs import Construct


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
