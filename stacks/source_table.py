"""The verifier's source table, kept in SSM parameters: what lets one verifier route 100 sources.

Lambda allows a function 4 KB of environment in all; the table of 100 sources
is about 40 KB. It is packed at synth into parameters of up to 8 KB each
(``contract.SOURCE_TABLE_PARAMETER_BYTES``), whose values CloudFormation fills
in with each source's queue URL and secret ARN; the verifier reads them once
per cold start, ten names a call (one call up to about 160 sources).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aws_cdk import Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from shared import contract
from stacks.table_packing import pack, route

if TYPE_CHECKING:
    from stacks.config import WebhookKitConfig
    from stacks.source_stack import SourceStack


class SourceTableParameters:
    """The verifier's source table in SSM parameters, ``contract.SOURCE_TABLE_PARAMETER_BYTES`` each at most.

    Their names and the table's digest are known at synth, so the verifier's
    environment and policy name them without waiting for the parameters, which
    wait for the sources' stacks (their queue URLs and secret ARNs). The
    parameters are packed with each URL and ARN at its longest (stacks/table_packing.py), so a
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
                    source.name: route(source, contract.source_stack_logical_id(source.name), source.secret_arn or "")
                    for source in config.sources
                },
            }
        )

    def arns(self, stack: Stack) -> list[str]:
        return [
            stack.format_arn(service="ssm", resource="parameter", resource_name=name.lstrip("/")) for name in self.names
        ]

    def create(self, scope: Construct, sources: Mapping[str, SourceStack]) -> None:
        by_name = {source.name: source for source in self._config.sources}
        stack = Stack.of(scope)
        for index, (name, chunk) in enumerate(zip(self.names, self.chunks, strict=True)):
            routes = {
                source: route(
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
