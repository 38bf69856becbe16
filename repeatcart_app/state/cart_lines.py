"""The cart page's lines: one product as the page shows it, built from the engine's item."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from services.cart.links import clamp_quantity
from services.cart.snoozes import SNOOZE_WEEKS
from services.cart.subscriptions import PlanOffer, subscription_price
from services.core.money import format_money
from services.engine import CartItem

__all__ = ["CartLine", "make_line", "short_date", "snooze_weeks", "variant_id_of"]


@dataclasses.dataclass
class CartLine:
    """One product as the page shows it; `key` is the variant id (what checkout needs)."""

    key: str = ""
    product_id: int = 0
    section: str = ""
    title: str = ""
    variant_title: str = ""
    price_cents: int = 0
    price_label: str = ""
    image_url: str = ""
    available: bool = False
    note: str = ""
    suggested_quantity: int = 1
    snoozed_until: str = ""
    # the subscription cart only: the plan's interval, its price, and whether one-time is sold
    plan_label: str = ""
    sub_price_label: str = ""
    subscription_only: bool = False


def short_date(value: datetime | None) -> str:
    """A date as shoppers read it ("Dec 9"), on the UTC calendar."""
    return value.astimezone(UTC).strftime("%b %-d") if value else ""


def snooze_weeks(value: object) -> int | None:
    """The snooze length a browser asked for, when it is one the page offers."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value in SNOOZE_WEEKS else None


def variant_id_of(key: str) -> int | None:
    """The Shopify variant id a line's key names, for the cart event (None for "p<id>" keys)."""
    return int(key) if key.isdigit() else None


def make_line(
    item: CartItem,
    currency: str,
    now: datetime,
    snoozed_until: datetime | None = None,
    plan: PlanOffer | None = None,
) -> CartLine:
    note = ""
    if item.section == "due":
        overdue = item.due_at is not None and item.due_at <= now
        note = "Due now" if overdue else f"Due {short_date(item.due_at)}"
    elif item.section == "previous":
        note = f"Next due {short_date(item.due_at)}"
    purchasable = item.available and item.variant_id is not None and item.price_cents is not None
    sub_price = subscription_price(item.price_cents or 0, plan) if plan is not None else None
    return CartLine(
        key=str(item.variant_id) if item.variant_id is not None else f"p{item.product_id}",
        product_id=item.product_id,
        section=item.section,
        title=item.title,
        variant_title="" if item.variant_title in ("", "Default Title") else item.variant_title,
        price_cents=item.price_cents or 0,
        price_label=format_money(item.price_cents, currency) if item.price_cents else "",
        image_url=item.image_url or "",
        available=purchasable,
        note=note,
        suggested_quantity=clamp_quantity(item.quantity),
        snoozed_until=short_date(snoozed_until),
        plan_label=plan.label if plan is not None else "",
        sub_price_label=format_money(sub_price, currency) if sub_price is not None else "",
        subscription_only=plan is not None and plan.subscription_only,
    )
