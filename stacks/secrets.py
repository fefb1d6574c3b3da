"""The signing secrets of the sources, kept in Secrets Manager."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.arns import arn_region, secret_arn_for_policies, secret_arn_is_complete
from stacks.checkov import skip_checks


class SourceSecret(Construct):
    """A source's active signing secrets: an existing secret, or one created here.

    The secret's value is JSON ``{"secrets": [...]}`` (docs/runtime-contract.md).
    A created secret starts with one random value, usable as-is by senders where
    you choose the secret (GitHub, generic HMAC); for providers that issue the
    secret (Stripe, Svix, ...) replace it with theirs after deploying.

    An existing secret is named by its complete ARN (granted as it is) or its
    partial ARN (granted with Secrets Manager's suffix as ``-??????``, as the
    CDK's ``from_secret_partial_arn`` does: IAM matches the complete ARN). One
    encrypted with a customer-managed key needs ``existing_secret_kms_key_arn``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_name: str,
        existing_secret_arn: str | None,
        existing_secret_kms_key_arn: str | None = None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.created = existing_secret_arn is None
        self._existing_secret_arn = existing_secret_arn
        self.kms_key_arn = existing_secret_kms_key_arn
        if existing_secret_arn is not None:
            if secret_arn_is_complete(existing_secret_arn):
                self.secret: secretsmanager.ISecret = secretsmanager.Secret.from_secret_complete_arn(
                    self, "Secret", existing_secret_arn
                )
            else:
                self.secret = secretsmanager.Secret.from_secret_partial_arn(self, "Secret", existing_secret_arn)
            return
        secret = secretsmanager.Secret(
            self,
            "Secret",
            description=f"webhook-kit signing secrets of source '{source_name}': JSON {{\"secrets\": [...]}}",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",  # noqa: S106 - an empty JSON template, not a secret
                generate_string_key="secrets",
                exclude_punctuation=True,
                password_length=48,
            ),
            removal_policy=removal_policy,
        )
        skip_checks(
            secret,
            {
                "CKV_AWS_149": "Encrypted with the AWS-managed Secrets Manager key, readable only by the verifier's "
                "role; a customer key adds cost without narrowing who can read it."
            },
        )
        NagSuppressions.add_resource_suppressions(
            secret,
            [
                {
                    "id": "AwsSolutions-SMG4",
                    "reason": "Webhook signing secrets are issued by or shared with the provider, so Secrets "
                    "Manager cannot rotate them alone; rotation is the documented add-then-remove procedure "
                    "over the list of active secrets.",
                }
            ],
        )
        self.secret = secret

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` read the secret's value, and decrypt it with its customer-managed key if it has one."""
        self.secret.grant_read(grantee)
        if self.kms_key_arn is None or self._existing_secret_arn is None:
            return
        # Secrets Manager decrypts the secret's data key with kms:Decrypt on the caller's
        # behalf, in the secret's Region, with the secret's ARN as encryption context
        # ("Secret encryption and decryption in AWS Secrets Manager"): only that use is granted.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[self.kms_key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{arn_region(self._existing_secret_arn)}.{Aws.URL_SUFFIX}"
                    },
                    "StringLike": {
                        "kms:EncryptionContext:SecretARN": secret_arn_for_policies(self._existing_secret_arn)
                    },
                },
            )
        )
