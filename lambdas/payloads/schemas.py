"""JSON Schemas of payloads, for routes that declare ``schema=`` rather than a pydantic model.

The same facts as the models beside this module, as JSON Schema documents:
the fields a handler reads, required where the provider always sends them,
and the constants that tell one event from another. Unknown fields are
allowed, as providers add them. Compiled once, at import, by the router.
"""

from __future__ import annotations

from typing import Any

# Stripe payment_intent.succeeded: https://docs.stripe.com/api/events/object (the Event)
# and https://docs.stripe.com/api/payment_intents/object (its data.object).
STRIPE_PAYMENT_INTENT_SUCCEEDED: dict[str, Any] = {
    "title": "Stripe payment_intent.succeeded",
    "type": "object",
    "required": ["id", "object", "type", "data"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "event"},
        "type": {"const": "payment_intent.succeeded"},
        "api_version": {"type": ["string", "null"]},
        "data": {
            "type": "object",
            "required": ["object"],
            "properties": {
                "object": {
                    "type": "object",
                    "required": ["id", "object", "amount", "currency", "status"],
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"const": "payment_intent"},
                        "amount": {"type": "integer", "minimum": 0},
                        "currency": {"type": "string"},
                        "status": {"const": "succeeded"},
                        "customer": {"type": ["string", "null"]},
                        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                }
            },
        },
    },
}
