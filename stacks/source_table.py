"""The verifier's source table, kept in SSM parameters: what lets one verifier route 100 sources.

Lambda allows a function 4 KB of environment in all; the table of 100 sources
is about 40 KB. It is packed at synth into parameters of up to 8 KB each
(``contract.SOURCE_TABLE_PARAMETER_BYTES``), whose values CloudFormation fills
in with each source's queue URL and secret ARN; the verifier reads them once
per cold start, ten names a call (one call up to about 160 sources).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from aws_cdk import Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from shared import contract

if TYPE_CHECKING:
    from stacks.config import SourceConfig, WebhookKitConfig
    from stacks.source_stack import SourceStack

# https://sqs.<region>.amazonaws.com[.cn]/<account>/<name of 80 at most>
QUEUE_URL_BOUND = len("https://sqs.") + 20 + len(".amazonaws.com.cn/") + 12 + 1 + 80
# arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6>; the generated
# name is the secret's logical id and a random suffix, well under 128 characters.
SECRET_ARN_BOUND = len("arn:aws-us-gov:secretsmanager:") + 20 + 1 + 12 + len(":secret:") + 128 + 7


def _route(source: SourceConfig, queue_url: str, secret_arn: str) -> dict[str, object]:
    return contract.source_route(
        scheme=source.scheme,
        queue_url=queue_url,
        secret_arn=secret_arn,
        tolerance_seconds=source.tolerance_seconds,
        options=source.verifier_options(),
    )


def pack(sources: Sequence[SourceConfig]) -> list[list[str]]:
    """The sources' names in parameter-sized chunks, each URL and ARN counted at its longest.

    Raises ValueError naming a source whose entry alone would not fit a parameter.
    """
    sizes = {
        source.name: len(json.dumps(_route(source, "q" * QUEUE_URL_BOUND, source.secret_arn or "s" * SECRET_ARN_BOUND)))
        for source in sources
    }
    return contract.pack_source_table(sizes)


class SourceTableParameters:
    """The verifier's source table in SSM parameters, ``contract.SOURCE_TABLE_PARAMETER_BYTES`` each at most.

    Their names and the table's digest are known at synth, so the verifier's
    environment and policy name them without waiting for the parameters, which
    wait for the sources' stacks (their queue URLs and secret ARNs). The
    parameters are packed with each URL and ARN at its longest (below), so a
    chunk cannot outgrow its parameter at deploy time.
    """

    def __init__(self, config: WebhookKitConfig, stack_name: str) -> None:
        self._config = config
        self.chunks = pack(config.sources)
        self.names = [contract.source_table_parameter_name(stack_name, index) for index in range(len(self.chunks))]
        self.digest = contract.source_table_digest(
            {
                "version": _SOURCE_TABLE_VERSION,
                "sources": {
                    source.name: self._route(
                        source, contract.source_stack_logical_id(source.name), source.secret_arn or ""
                    )
                    for source in config.sources
                },
            }
        )

    _route = staticmethod(_route)

    def arns(self, stack: Stack) -> list[str]:
        return [
            stack.format_arn(service="ssm", resource="parameter", resource_name=name.lstrip("/")) for name in self.names
        ]

    def create(self, scope: Construct, sources: Mapping[str, SourceStack]) -> None:
        by_name = {source.name: source for source in self._config.sources}
        stack = Stack.of(scope)
        for index, (name, chunk) in enumerate(zip(self.names, self.chunks, strict=True)):
            routes = {
                source: self._route(
                    by_name[source],
                    sources[source].output(contract.OUTPUT_QUEUE_URL),
                    sources[source].output(contract.OUTPUT_SECRET_ARN),
                )
                for source in chunk
            }
            ssm.StringParameter(
                scope,
                f"SourceTable{index}",
                parameter_name=name,
                string_value=stack.to_json_string(contract.source_table_chunk(self.digest, routes)),
                tier=ssm.ParameterTier.INTELLIGENT_TIERING,
                description=f"webhook-kit source table, part {index + 1} of {len(self.chunks)} (the verifier's routes)",
            )


# Change when a route's shape changes without the configuration changing: verifiers then read the table anew.
_SOURCE_TABLE_VERSION = 1
