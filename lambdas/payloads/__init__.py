"""Typed models of a few provider events, for handlers to start from.

These are examples to extend, not an SDK. Each model holds only the fields a
handler commonly needs, each one named and typed as the provider documents it;
the docstring of every model gives the page it was written from. Copy a model,
or subclass it, when you need more fields.

Fields a provider adds later, and fields not modelled here, are ignored: a body
with more than the model knows still validates. A field that is removed, null
where the model requires a value, or of another type fails validation, and
pydantic's ``ValidationError.errors()`` names its path (``("data", "object",
"amount")``).

Where the body itself says which event it is (Stripe's ``type`` and
``data.object.object``, Slack's outer ``type``), the model holds that value as
a ``Literal``, so it refuses a body that is some other event. This is the check
docs/processor.md asks for where the event type is not signed: GitHub's
``X-GitHub-Event`` and Shopify's ``X-Shopify-Topic`` are headers the signature
does not cover, so a handler should not trust them to say what the body is.
GitHub bodies carry no type field; there the required fields do the work: a
push body lacks ``action``, ``number`` and ``pull_request``, and a pull_request
body lacks ``ref``, ``before``, ``after``, ``commits`` and ``pusher``. Shopify
order bodies carry no topic either, and ``orders/create``, ``orders/updated``
and ``orders/paid`` send the same order shape: ``OrderCreated`` cannot tell
them apart; check ``financial_status`` or another field that your handler
relies on.

Modules: ``stripe``, ``github``, ``shopify``, ``slack``; ``base.Payload`` is
the shared base (frozen, unknown fields ignored).
"""
