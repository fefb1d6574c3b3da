"""Each function's environment: what the stack gives it (``shared.contract``), pointing at moto.

Built only through the contract's builders, as ``stacks/pattern.py`` and
``stacks/processors.py`` build them, so a name, a default or a shape cannot
drift between the deployed and the local functions. The verifier's source
table goes into moto's SSM parameters, packed as a deployment packs it, and the
verifier reads it from there as it does in AWS. Added locally: the endpoint and
credentials of moto, tracing and metrics switched off (nothing would receive
them) and, when asked, another log level.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from shared import contract
from stacks.config import WebhookKitConfig
from webhook_kit.local.resources import LocalPipelineError, LocalSource, aws_environment, local_client

_NOT_SIMULATED = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}


def _local(service: str, endpoint: str, log_level: str | None, own: Mapping[str, str]) -> dict[str, str]:
    powertools = contract.powertools_environment(service)
    if log_level is not None:
        powertools[contract.ENV_LOG_LEVEL] = log_level
    return {**aws_environment(endpoint), **_NOT_SIMULATED, **powertools, **own}


def publish_source_table(
    config: WebhookKitConfig, sources: Mapping[str, LocalSource], *, endpoint: str
) -> dict[str, str]:
    """Write the verifier's source table to SSM parameters; the variables that name them."""
    routes = {
        source.name: contract.source_route(
            scheme=source.scheme,
            queue_url=sources[source.name].queue_url,
            secret_arn=sources[source.name].secret_arn,
            tolerance_seconds=source.tolerance_seconds,
            options=source.verifier_options(),
            behaviour=source.verifier_behaviour(),
        )
        for source in config.sources
    }
    digest = contract.source_table_digest(routes)
    chunks = contract.pack_source_table({name: len(json.dumps(route)) for name, route in routes.items()})
    ssm = local_client("ssm", endpoint)
    names = []
    for index, chunk in enumerate(chunks):
        name = contract.source_table_parameter_name(config.stack_name, index)
        value = json.dumps(contract.source_table_chunk(digest, {source: routes[source] for source in chunk}))
        ssm.put_parameter(Name=name, Value=value, Type="String", Tier="Intelligent-Tiering", Overwrite=True)
        names.append(name)
    return contract.table_in_parameters(names, digest)


def verifier_environment(
    config: WebhookKitConfig,
    sources: Mapping[str, LocalSource],
    *,
    endpoint: str,
    bucket_name: str,
    log_level: str | None = None,
) -> dict[str, str]:
    environment = _local(
        contract.VERIFIER_SERVICE,
        endpoint,
        log_level,
        contract.verifier_environment(
            table=publish_source_table(config, sources, endpoint=endpoint),
            max_body_bytes=config.max_body_bytes,
            claim_check_bucket=bucket_name,
            claim_check_threshold_bytes=config.claim_check_threshold_bytes,
            secrets_max_age_seconds=config.secrets_max_age_seconds,
            tracer=False,  # X-Ray is not simulated
        ),
    )
    # Fail now, naming the variable, rather than on the first webhook.
    from verifier.config import ConfigError, load_config

    ssm = local_client("ssm", endpoint)

    def read(names: Sequence[str]) -> dict[str, str]:
        batch = contract.SSM_GET_PARAMETERS_MAX_NAMES
        answers = [ssm.get_parameters(Names=list(names[at : at + batch])) for at in range(0, len(names), batch)]
        return {parameter["Name"]: parameter["Value"] for answer in answers for parameter in answer["Parameters"]}

    try:
        load_config(environment, read_parameters=read)
    except ConfigError as error:
        raise LocalPipelineError(f"the verifier refuses this configuration: {error}") from None
    return environment


def processor_environment(
    config: WebhookKitConfig,
    source: LocalSource,
    *,
    endpoint: str,
    table_name: str,
    bucket_name: str,
    log_level: str | None = None,
) -> dict[str, str]:
    return _local(
        contract.PROCESSOR_SERVICE,
        endpoint,
        log_level,
        contract.processor_environment(
            source=source.name,
            idempotency_table=table_name,
            idempotency_expiry_seconds=config.idempotency_expiry_seconds,
            claim_check_bucket=bucket_name,
            dead_letter_queue_url=source.dead_letter_queue_url,
            unhandled_events=config.unhandled_events,
            api_version_from=next(
                (configured.api_version_source for configured in config.sources if configured.name == source.name),
                None,
            ),
        ),
    )
