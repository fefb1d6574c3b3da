"""The buffer between verification and processing: one queue and one DLQ per source."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagSuppressions
from constructs import Construct

from stacks.checkov import skip_checks

_SSE_SQS = {
    "CKV_AWS_27": "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); checkov only recognises a KMS key, "
    "which would add per-request KMS cost and key-policy grants for every producer and consumer."
}


class SourceQueues(Construct):
    """A source's work queue and its dead-letter queue.

    Both are encrypted (SSE-SQS) and refuse non-TLS requests. After
    ``max_receive_count`` failed receives SQS moves a message to the DLQ,
    keeping its first enqueue time: the DLQ's retention counts from then. A
    message the processor dead-letters, or an operator redrives, is sent anew
    and starts a fresh clock (the configuration sizes claim checks and
    idempotency records for that).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        visibility_timeout_seconds: int,
        max_receive_count: int,
        retention_days: int,
        dead_letter_retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(dead_letter_retention_days),
            removal_policy=removal_policy,
        )
        skip_checks(self.dead_letter_queue, _SSE_SQS)
        NagSuppressions.add_resource_suppressions(
            self.dead_letter_queue,
            [{"id": "AwsSolutions-SQS3", "reason": "This is the dead-letter queue; operators redrive it."}],
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Long enough to ride out a processor outage: nothing else holds the webhook.
            retention_period=Duration.days(retention_days),
            # The processor's timeout x 6 (+ batching window), as AWS advises for
            # Lambda event sources: a batch is never redelivered while it is still
            # being worked on, even across the function's own retries.
            visibility_timeout=Duration.seconds(visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=max_receive_count),
            removal_policy=removal_policy,
        )
        skip_checks(self.queue, _SSE_SQS)
