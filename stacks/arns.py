"""ARNs a configuration may name: their accepted forms and the IAM resources they grant."""

from __future__ import annotations

import re

ARN_PREFIX = r"^arn:(?P<partition>aws[a-z-]*):{service}:(?P<region>[a-z]{{2}}(?:-[a-z]+)+-\d+):(?P<account>\d{{12}}):"
# A secret's name is 1-512 of ASCII letters, digits and /_+=.@- (Secrets Manager CreateSecret, Name):
# no wildcard can slip into the IAM resource built from it.
ARN_SECRET = re.compile(ARN_PREFIX.format(service="secretsmanager") + r"secret:(?P<name>[A-Za-z0-9/_+=.@-]{1,512})$")
# Secrets Manager ends a secret's ARN with "-" and six random characters; an ARN without them is partial.
SECRET_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
ARN_KMS_KEY = re.compile(ARN_PREFIX.format(service="kms") + r"key/[A-Za-z0-9-]{1,128}$")


def secret_arn_is_complete(secret_arn: str) -> bool:
    """Whether a secret's ARN ends with the six-character suffix Secrets Manager adds.

    The rule Secrets Manager itself applies to an ARN it is given: a name that
    ends with a hyphen and six characters is read as a complete ARN (which is
    why AWS advises against secret names ending that way).
    """
    return bool(SECRET_ARN_SUFFIX.search(secret_arn))


def secret_arn_for_policies(secret_arn: str) -> str:
    """The IAM resource that matches the secret: a partial ARN gets the suffix as ``-??????``.

    IAM compares the complete ARN, so a partial one granted as it is matches
    nothing (GetSecretValue is denied); the CDK grants an imported partial ARN
    the same way (``Secret.from_secret_partial_arn``).
    """
    return secret_arn if secret_arn_is_complete(secret_arn) else f"{secret_arn}-??????"


def arn_region(arn: str) -> str:
    return arn.split(":")[3]
