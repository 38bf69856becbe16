"""What a shopper does on their cart page, each action one transaction of its own.

The cart page calls these from a thread, off the event loop that serves every other shopper.
A `Visit` carries what each recorded cart event needs; the merchant's preview has none, so it
records nothing and changes no reminder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from services.cart.events import CartEventKind, record_cart_event
from services.cart.page import CartView, ShopView, current_shop, load_cart
from services.cart.snoozes import clear_snooze, snooze
from services.core.clock import utcnow
from services.core.db import session_scope

__all__ = ["Visit", "change_snooze", "open_cart", "record_action", "shop_for_expired_link"]


@dataclass(frozen=True, slots=True)
class Visit:
    """A shopper's visit to one cart link: who acts, through which channel, in which currency."""

    link_id: int
    customer_id: int
    channel: str
    currency: str


def open_cart(
    token: str | None, channel: str, *, preview: bool = False, now: datetime | None = None
) -> CartView | None:
    """The cart behind `token` (None for any token that is not a live link), its view recorded
    unless the merchant is previewing it."""
    now = now or utcnow()
    with session_scope() as session:
        view = load_cart(session, token, now)
        if view is not None and view.link_id and not preview:
            visit = Visit(view.link_id, view.customer_id, channel, view.shop.currency)
            _record(session, visit, "view")
        return view


def shop_for_expired_link() -> ShopView:
    """The shop an expired link names, so the page can send the shopper to the store."""
    with session_scope() as session:
        return current_shop(session)


def record_action(
    visit: Visit,
    kind: CartEventKind,
    *,
    variant_id: int | None = None,
    quantity: int | None = None,
    value_cents: int | None = None,
) -> None:
    """Record one shopper action on the cart (add, remove, quantity, checkout)."""
    with session_scope() as session:
        _record(session, visit, kind, variant_id, quantity, value_cents)


def change_snooze(
    token: str,
    visit: Visit,
    product_id: int | None,
    weeks: int | None,
    *,
    variant_id: int | None = None,
    now: datetime | None = None,
) -> CartView | None:
    """Snooze (`weeks` given) or resume (None) one product or, without one, the whole cart;
    record it, and return the cart as it now reads (None when the link died meanwhile).

    The event keeps the weeks in `quantity` (0 = resumed), like a removal's quantity 0.
    """
    now = now or utcnow()
    with session_scope() as session:
        if weeks is None:
            clear_snooze(session, visit.customer_id, product_id, now)
        else:
            snooze(session, visit.customer_id, product_id, weeks, now)
        if visit.link_id:
            _record(session, visit, "snooze", variant_id, weeks or 0)
        return load_cart(session, token, now)


def _record(
    session: Session,
    visit: Visit,
    kind: CartEventKind,
    variant_id: int | None = None,
    quantity: int | None = None,
    value_cents: int | None = None,
) -> None:
    record_cart_event(
        session,
        cart_link_id=visit.link_id,
        customer_id=visit.customer_id,
        kind=kind,
        channel=visit.channel,
        variant_id=variant_id,
        quantity=quantity,
        value_cents=value_cents,
        currency=visit.currency if value_cents is not None else None,
    )
