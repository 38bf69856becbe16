"""Cart analytics: every shopper action on a cart is one row, aggregated later in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlmodel import Session

from services.core.clock import utcnow
from services.core.tables import CartEvent

CartEventKind = Literal["view", "add", "remove", "quantity", "checkout", "snooze"]


def record_cart_event(
    session: Session,
    *,
    cart_link_id: int,
    customer_id: int,
    kind: CartEventKind,
    channel: str,
    variant_id: int | None = None,
    quantity: int | None = None,
    value_cents: int | None = None,
    currency: str | None = None,
    moment: str | None = None,
    at: datetime | None = None,
) -> CartEvent:
    """Add one shopper action (the caller commits); `services.reporting.analytics` counts them."""
    event = CartEvent(
        cart_link_id=cart_link_id,
        customer_id=customer_id,
        kind=kind,
        channel=channel,
        variant_id=variant_id,
        quantity=quantity,
        value_cents=value_cents,
        currency=currency,
        moment=moment,
        occurred_at=at or utcnow(),
    )
    session.add(event)
    return event
