"""The signing secrets of the sources, kept in Secrets Manager."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.checkov import skip_checks


class SourceSecret(Construct):
    """A source's active signing secrets: an existing secret, or one created here.

    The secret's value is JSON ``{"secrets": [...]}`` (docs/runtime-contract.md).
    A created secret starts with one random value, usable as-is by senders where
    you choose the secret (GitHub, generic HMAC); for providers that issue the
    secret (Stripe, Svix, ...) replace it with theirs after deploying.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_name: str,
        existing_secret_arn: str | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.created = existing_secret_arn is None
        if existing_secret_arn is not None:
            self.secret: secretsmanager.ISecret = secretsmanager.Secret.from_secret_complete_arn(
                self, "Secret", existing_secret_arn
            )
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
