"""What a shopper does on their cart page.

Reads and snoozes are one transaction each, which the cart page runs in a thread, off the event
loop that serves every other shopper. Views, additions, quantities and checkouts are analytics
only: they go to the in-memory `cart_events` queue, written in batches, so a press never waits
for the database. A `Visit` carries what each recorded cart event needs; the merchant's preview
has none, so it records nothing and changes no reminder.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from datetime import datetime

from services.cart.event_queue import PendingCartEvent, cart_events
from services.cart.events import CartEventKind
from services.cart.featured import open_featured_cart
from services.cart.page import CartView, ShopView, current_shop, load_cart
from services.cart.snoozes import clear_snooze, snooze
from services.core.clock import utcnow
from services.core.db import session_scope

__all__ = [
    "Visit",
    "change_snooze",
    "open_featured",
    "open_cart",
    "record_action",
    "save_actions",
    "shop_for_expired_link",
]


@dataclass(frozen=True, slots=True)
class Visit:
    """A shopper's visit to one cart link: who acts, through which channel, in which currency.

    A featured link's cart has no link and no customer (0): its `featured_visit` names it.
    """

    link_id: int
    customer_id: int
    channel: str
    currency: str
    _: KW_ONLY  # named, so a featured visit's id is never taken for a Moment (or the reverse)
    moment: str | None = None  # the Moment whose event linked here (`?m=`), if any
    featured_visit: str | None = None


def open_cart(
    token: str | None,
    channel: str,
    *,
    moment: str | None = None,
    preview: bool = False,
    now: datetime | None = None,
    pick: int | None = None,
    subscription: bool = False,
) -> CartView | None:
    """The cart behind `token` (None for any token that is not a live link), its view recorded
    unless the merchant is previewing it; `pick` is a product the link asks to pre-select;
    `subscription` (the `?sub=1` link) reads the products' selling plans too."""
    now = now or utcnow()
    with session_scope() as session:
        view = load_cart(session, token, now, pick, subscription)
    if view is not None and view.link_id and not preview:
        visit = Visit(view.link_id, view.customer_id, channel, view.shop.currency, moment=moment)
        record_action(visit, "view")
    return view


def open_featured(
    variant: str | None,
    quantity: str | None,
    channel: str,
    visit: str,
    *,
    preview: bool = False,
    now: datetime | None = None,
) -> CartView | None:
    """A featured link's cart (None when it cannot open one), its view recorded under `visit`."""
    view = open_featured_cart(variant, quantity, now=now)
    if view is not None and not preview:
        record_action(Visit(0, 0, channel, view.shop.currency, featured_visit=visit), "view")
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
    """Queue one shopper action on the cart (view, add, remove, quantity, checkout) for the
    next batch; it costs no database call, so the event loop may call it directly."""
    cart_events.put(
        PendingCartEvent(
            cart_link_id=visit.link_id or None,
            customer_id=visit.customer_id or None,
            kind=kind,
            channel=visit.channel,
            featured_visit=visit.featured_visit,
            variant_id=variant_id,
            quantity=quantity,
            value_cents=value_cents,
            currency=visit.currency if value_cents is not None else None,
            moment=visit.moment,
        )
    )


def save_actions() -> None:
    """Write the queued actions now (checkout, before the shopper leaves for Shopify)."""
    cart_events.flush()


def change_snooze(
    token: str,
    visit: Visit,
    product_id: int | None,
    weeks: int | None,
    *,
    variant_id: int | None = None,
    now: datetime | None = None,
    subscription: bool = False,
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
        view = load_cart(session, token, now, subscription=subscription)
    if visit.link_id:
        record_action(visit, "snooze", variant_id=variant_id, quantity=weeks or 0)
    return view
