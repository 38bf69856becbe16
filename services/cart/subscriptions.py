"""Subscription carts: which products a cart can subscribe to, at what price, and the checkout.

A product subscribes through its first selling plan (the shop's order). The subscription price
is the plan's adjustment applied to the variant's price, in integer cents. A permalink cannot
carry a selling plan, so a checkout with a subscribed line is a Storefront API cart; when that
fails (no token, a refused token, an error, a null cart) the shopper still checks out, one-time,
through the permalink, and the cart says the subscription could not be set up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select

from services.core.config import Settings
from services.core.provider_http import ProviderError
from services.core.tables import Product, SellingPlan
from services.settings.effective import load_effective_settings
from services.shopify.storefront import StorefrontClient, StorefrontLine
from services.shopify.webhook_protocol import shopify_gid

__all__ = [
    "FALLBACK_NOTE",
    "PlanOffer",
    "StorefrontLine",
    "SubscriptionCheckout",
    "interval_label",
    "plan_offers",
    "shop_sells_plans",
    "subscribable_products",
    "subscription_checkout",
    "subscription_price",
    "variant_gid",
]

log = logging.getLogger("repeatcart.cart")

FALLBACK_NOTE = (
    "We couldn't set up your subscription just now. Your cart is now a one-time purchase at "
    "the prices shown: check out again to continue."
)
_UNITS = {"DAY": "day", "WEEK": "week", "MONTH": "month", "YEAR": "year"}


@dataclass(frozen=True, slots=True)
class PlanOffer:
    """The selling plan a product subscribes through, as the cart shows and checks it out."""

    product_id: int
    gid: str
    name: str
    interval_unit: str | None
    interval_count: int | None
    adjustment_type: str | None
    adjustment_percent: float | None
    adjustment_cents: int | None
    subscription_only: bool = False

    @property
    def label(self) -> str:
        return interval_label(self)


_PLANS = (
    select(  # type: ignore[call-overload,misc]  # sqlmodel types select() for <= 4 columns
        SellingPlan.product_id,
        SellingPlan.shopify_gid,
        SellingPlan.name,
        SellingPlan.interval_unit,
        SellingPlan.interval_count,
        SellingPlan.adjustment_type,
        SellingPlan.adjustment_percent,
        SellingPlan.adjustment_cents,
        Product.subscription_only,
    )
    .join(Product, col(Product.id) == col(SellingPlan.product_id))
    .where(col(SellingPlan.product_id).in_(bindparam("ids", expanding=True)))
    .order_by(SellingPlan.product_id, SellingPlan.position, SellingPlan.id)
)


def plan_offers(session: Session, product_ids: Iterable[int]) -> dict[int, PlanOffer]:
    """Each of these products' first selling plan (products without one are absent)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    offers: dict[int, PlanOffer] = {}
    for row in session.connection().execute(_PLANS, {"ids": ids}):
        product_id, gid, name, unit, count, kind, percent, cents, only = row
        if product_id not in offers:
            offers[product_id] = PlanOffer(
                product_id, gid, name, unit, count, kind, percent, cents, bool(only)
            )
    return offers


_WITH_PLANS = (
    select(SellingPlan.product_id)
    .where(col(SellingPlan.product_id).in_(bindparam("ids", expanding=True)))
    .distinct()
)


def subscribable_products(session: Session, product_ids: Iterable[int]) -> frozenset[int]:
    """Which of these products have a selling plan (an index lookup, never the whole table)."""
    ids = sorted(set(product_ids))
    if not ids:
        return frozenset()
    rows = session.connection().execute(_WITH_PLANS, {"ids": ids})
    return frozenset(int(pid) for (pid,) in rows)


def shop_sells_plans(session: Session) -> bool:
    """Whether any product has a selling plan (one index seek)."""
    first = session.connection().execute(select(func.min(SellingPlan.id))).scalar()
    return first is not None


def subscription_price(price_cents: int, offer: PlanOffer) -> int:
    """The price of one item on the plan, in cents: percent off (rounded half up), an amount
    off (never below zero), or a fixed price; the plain price when the plan adjusts nothing."""
    if offer.adjustment_type == "PERCENTAGE" and offer.adjustment_percent is not None:
        factor = (Decimal(100) - Decimal(str(offer.adjustment_percent))) / Decimal(100)
        value = (Decimal(price_cents) * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return max(0, int(value))
    if offer.adjustment_type == "FIXED_AMOUNT" and offer.adjustment_cents is not None:
        return max(0, price_cents - offer.adjustment_cents)
    if offer.adjustment_type == "PRICE" and offer.adjustment_cents is not None:
        return max(0, offer.adjustment_cents)
    return price_cents


def interval_label(offer: PlanOffer) -> str:
    """ "Delivered every 30 days", "Delivered every month"; the plan's own name otherwise."""
    unit = _UNITS.get((offer.interval_unit or "").upper())
    count = offer.interval_count
    if unit is None or count is None or count < 1:
        return offer.name or "Delivered on a schedule"
    if count == 1:
        return f"Delivered every {unit}"
    return f"Delivered every {count} {unit}s"


def variant_gid(gid: str | None, numeric: int) -> str:
    """A variant's GID as stored, else built from its numeric id."""
    return gid or shopify_gid("ProductVariant", numeric)


@dataclass(frozen=True, slots=True)
class SubscriptionCheckout:
    """Where Check Out sends the shopper: the Storefront cart's checkout, or the permalink."""

    url: str
    subscribed: bool
    note: str = ""  # said on the cart when the subscription could not be set up


def subscription_checkout(
    lines: Sequence[StorefrontLine],
    permalink: str,
    *,
    discount_code: str = "",
    attributes: Sequence[tuple[str, str]] = (),
    settings: Settings | None = None,
) -> SubscriptionCheckout:
    """A Storefront cart with the lines' selling plans, or, on any failure, the one-time
    `permalink` with the note. Blocking (HTTP and a settings read): call it in a thread."""
    try:
        settings = settings or load_effective_settings()
        with StorefrontClient.from_settings(settings) as client:
            codes = [discount_code] if discount_code else []
            url = client.create_cart(lines, discount_codes=codes, attributes=attributes)
    except ProviderError as error:
        log.warning("subscription checkout fell back to the permalink: %s", error)
        return SubscriptionCheckout(permalink, False, FALLBACK_NOTE)
    except Exception:
        log.exception("subscription checkout fell back to the permalink")
        return SubscriptionCheckout(permalink, False, FALLBACK_NOTE)
    return SubscriptionCheckout(url, True)
