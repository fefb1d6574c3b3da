"""Each function's Powertools ``Metrics``, with a metric set of its own that never outlives an invocation."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from shared.contract import METRICS_NAMESPACE as NAMESPACE


class _Provider(AmazonCloudWatchEMFProvider):
    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)
        # Powertools keeps the set when there was nothing to flush or metrics are
        # disabled (POWERTOOLS_METRICS_DISABLED, as `make local` runs): it would
        # grow with every request, and the next invocation's dimensions would
        # collide with this one's.
        self.clear_metrics()


def function_metrics(service: str | None = None) -> Metrics:
    """``Metrics`` on a provider of its own.

    Powertools' ``Metrics`` instances otherwise share one metric set and one
    set of default dimensions per process, so one function's dimensions would
    leak into another's wherever several run in one process (the tests).
    """
    return Metrics(provider=_Provider(namespace=NAMESPACE, service=service))
