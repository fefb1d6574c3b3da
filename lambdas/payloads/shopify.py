"""Shopify ``orders/create``.

The topic travels in ``X-Shopify-Topic``, outside the signature, and the body
names no topic. ``orders/create``, ``orders/updated`` and ``orders/paid`` all
send an order, so this model cannot tell them apart: a handler that must act
only on, say, paid orders checks ``financial_status`` itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, Field

from payloads.base import Payload

# Shopify sends prices as decimal strings ("598.94"); Decimal keeps them exact.
Price = Annotated[Decimal, Field(allow_inf_nan=False)]


class LineItem(Payload):
    """One item of ``line_items``.

    Written from https://shopify.dev/docs/api/admin-rest/latest/resources/order
    (``line_items``).
    """

    id: int
    title: str
    quantity: int
    price: Price


class OrderCreated(Payload):
    """``orders/create``: an order was placed.

    Written from https://shopify.dev/docs/api/webhooks?reference=toml (topic
    ``orders/create``) and the Order resource it sends,
    https://shopify.dev/docs/api/admin-rest/latest/resources/order.
    ``email`` may be null.
    """

    id: int
    admin_graphql_api_id: str
    email: str | None = None
    created_at: AwareDatetime
    currency: str
    total_price: Price
    financial_status: str
    line_items: tuple[LineItem, ...]
