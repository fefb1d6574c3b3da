"""Stripe events: the Event envelope, shared, and two event types.

Stripe signs the whole body, ``type`` included, so the ``Literal`` on ``type``
is a check that the route and the body agree rather than a defence. A new event
type is one class: subclass ``Event[YourObject]`` and narrow ``type``.
"""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import Field

from payloads.base import Payload

ObjectT = TypeVar("ObjectT", bound=Payload)

# Amounts are integers in the currency's smallest unit (cents for usd).
Amount = Annotated[int, Field(ge=0)]


class EventData(Payload, Generic[ObjectT]):
    """``data`` of an Event: the API object the event is about.

    Written from https://docs.stripe.com/api/events/object (``data.object``).
    """

    object: ObjectT


class Event(Payload, Generic[ObjectT]):
    """The Event object Stripe posts to a webhook endpoint.

    Written from https://docs.stripe.com/api/events/object. ``api_version`` is
    null for events created before 31 October 2014.
    """

    id: str
    object: Literal["event"]
    type: str
    api_version: str | None = None
    created: int
    livemode: bool
    data: EventData[ObjectT]


class PaymentIntent(Payload):
    """A PaymentIntent, as ``data.object`` of ``payment_intent.*`` events.

    Written from https://docs.stripe.com/api/payment_intents/object.
    ``customer`` is an id (webhook bodies do not expand it) or null.
    """

    id: str
    object: Literal["payment_intent"]
    amount: Amount
    currency: str
    status: str
    customer: str | None = None
    metadata: dict[str, str]


class SucceededPaymentIntent(PaymentIntent):
    """A PaymentIntent whose ``status`` is ``succeeded``."""

    status: Literal["succeeded"]


class PaymentIntentSucceeded(Event[SucceededPaymentIntent]):
    """``payment_intent.succeeded``: a PaymentIntent has completed payment.

    Written from https://docs.stripe.com/api/events/types (the event type) and
    the Event and PaymentIntent objects above.
    """

    type: Literal["payment_intent.succeeded"]


class Invoice(Payload):
    """An Invoice, as ``data.object`` of ``invoice.*`` events.

    Written from https://docs.stripe.com/api/invoices/object. ``customer`` and
    ``status`` are nullable there.
    """

    id: str
    object: Literal["invoice"]
    customer: str | None = None
    amount_paid: Amount
    currency: str
    status: str | None = None


class PaidInvoice(Invoice):
    """An Invoice whose ``status`` is ``paid``."""

    status: Literal["paid"]


class InvoicePaid(Event[PaidInvoice]):
    """``invoice.paid``: an invoice payment succeeded, or it was marked paid out of band.

    Written from https://docs.stripe.com/api/events/types (the event type) and
    the Event and Invoice objects above.
    """

    type: Literal["invoice.paid"]
