"""How the verifier's source table is cut into SSM parameters, without the CDK (the configuration checks it too)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared import contract

if TYPE_CHECKING:
    from stacks.source_config import SourceConfig

# https://sqs.<region>.amazonaws.com[.cn]/<account>/<name of 80 at most>
QUEUE_URL_BOUND = len("https://sqs.") + 20 + len(".amazonaws.com.cn/") + 12 + 1 + 80
# arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6>; the generated
# name is the secret's logical id and a random suffix, well under 128 characters.
SECRET_ARN_BOUND = len("arn:aws-us-gov:secretsmanager:") + 20 + 1 + 12 + len(":secret:") + 128 + 7


def route(source: SourceConfig, queue_url: str, secret_arn: str) -> dict[str, object]:
    return contract.source_route(
        scheme=source.scheme,
        queue_url=queue_url,
        secret_arn=secret_arn,
        tolerance_seconds=source.tolerance_seconds,
        options=source.verifier_options(),
        behaviour=source.verifier_behaviour(),
    )


def pack(sources: Sequence[SourceConfig]) -> list[list[str]]:
    """The sources' names in parameter-sized chunks, each URL and ARN counted at its longest.

    Raises ValueError naming a source whose entry alone would not fit a parameter.
    """
    sizes = {
        source.name: len(json.dumps(route(source, "q" * QUEUE_URL_BOUND, source.secret_arn or "s" * SECRET_ARN_BOUND)))
        for source in sources
    }
    return contract.pack_source_table(sizes)
