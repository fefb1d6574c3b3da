"""A fault-injected soak of the local pipeline, checked against a ledger of effects.

``make soak`` and ``tests/soak`` run it (``python -m tests.soak.harness``). It starts a
:class:`~webhook_kit.local.LocalPipeline` (real verifier and processor code on
moto), swaps the user's handlers for a ledger handler, and has concurrent
senders deliver signed webhooks to every configured source while faults are
injected at each layer:

* **redeliveries**: a share of the deliveries repeat an earlier webhook (same
  delivery id, same body, signed again with a later timestamp), some while the
  first copy is still in flight;
* **SendMessage failures**: the verifier's SQS send fails (the verifier answers
  503) and the sender retries with backoff, as providers do. Most injected
  failures are refusals; some happen after SQS stored the message (the reply
  was lost), so a retry puts a second copy on the queue;
* **transient handler failures**: the handler raises on a delivery's first
  run, SQS redelivers it;
* **Lambda deaths mid-batch**: a processor invocation dies after some handler
  runs completed (inside the next handler, before its effect, leaving that
  delivery's ``INPROGRESS`` idempotency record behind; or after the last
  record, before answering). Nothing of the batch is deleted, so every record
  comes back: the completed ones as duplicates, the one that died once its
  in-progress window (the stand-in context's remaining time, short here) is over;
* **permanent failures** (``PermanentError``): straight to the DLQ with the reason;
* **exhausted retries**: a few deliveries fail until "fixed", SQS moves them to
  the DLQ after ``max_receive_count``; the soak fixes them and redrives those
  (and any other retried-too-often message), never the permanent failures;
* **forged webhooks**: wrong signature, answered 401, never accepted.

At the end it waits for the queues to drain, inspects the DLQs, redrives, drains
again and checks the ledger: every accepted webhook's effect happened exactly
once (the permanent failures never, and they sit in the DLQ with their
reason), no effect for a webhook that was never accepted. :class:`SoakReport`
holds the counts and :meth:`SoakReport.problems` what went wrong, including
"this fault never happened" so a run that proved nothing does not pass.
"""
