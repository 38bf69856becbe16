"""About To Lapse: when a repeat customer who has gone quiet counts as lapsing.

A customer with two or more orders is lapsing once their last order is older than `factor` ×
the late interval (P75 × quantity last bought) of the product they reorder most: the product
in most of their orders, ties going to the one bought most recently, then to the lowest id.
Only products with a learned interval count: the store-wide median and the merchant's default
are guesses about products we know nothing about, and a guess must not tell anyone they are
lapsing. A customer who bought only such products never lapses; one who also bought a learned
product lapses by that product's interval.

A lapse cycle is one last order: a new order moves the lapse point and starts another cycle.
The recompute stores each customer's point on the due row of the product that sets it, so the
due scan finds who lapsed with an index range scan, as it finds who is due.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from services.engine.due import product_stats
from services.engine.intervals import utc_day
from services.engine.types import DueEntry, LearnedIntervals, Purchase, ReplenishmentSettings

MIN_ORDERS = 2
"""Orders a customer needs before they can lapse: one order is a trial, not a habit."""


@dataclass(frozen=True, slots=True)
class ReorderedProduct:
    """One product a customer bought: in how many of their (countable) orders, and the last
    purchase of it (the time and quantity their due row holds)."""

    product_id: int
    orders: int
    last_purchased_at: datetime
    last_quantity: int


@dataclass(frozen=True, slots=True)
class LapsePoint:
    """When one customer's current lapse cycle (since `last_order_at`) reaches its lapse point."""

    customer_id: int
    last_order_at: datetime
    product_id: int  # the product whose late interval sets the point
    late_days: float  # that product's P75 × the quantity last bought
    lapse_at: datetime

    def is_lapsing(self, now: datetime) -> bool:
        return now >= self.lapse_at

    def days_since_last_order(self, now: datetime) -> int:
        return max(0, (now - self.last_order_at).days)


def most_reordered(
    products: Sequence[ReorderedProduct],
    learned: LearnedIntervals,
    settings: ReplenishmentSettings,
) -> ReorderedProduct | None:
    """The learned product in most orders (then the latest bought, then the lowest id)."""
    known = [p for p in products if product_stats(p.product_id, learned, settings) is not None]
    if not known:
        return None
    return min(known, key=lambda p: (-p.orders, -p.last_purchased_at.timestamp(), p.product_id))


def lapse_point(
    customer_id: int,
    orders: int,
    last_order_at: datetime,
    products: Sequence[ReorderedProduct],
    learned: LearnedIntervals,
    settings: ReplenishmentSettings,
    factor: float,
) -> LapsePoint | None:
    """The customer's lapse point for the cycle that began at `last_order_at`, or None when
    they cannot lapse (fewer than two orders, or no product with a learned interval)."""
    if not (math.isfinite(factor) and factor >= 1):
        raise ValueError("the lapse factor must be a number >= 1")
    if orders < MIN_ORDERS:
        return None
    top = most_reordered(products, learned, settings)
    if top is None:
        return None
    stats = product_stats(top.product_id, learned, settings)
    assert stats is not None  # most_reordered keeps learned products only
    late_days = stats.p75 * max(1, top.last_quantity)
    try:
        lapse_at = last_order_at + timedelta(days=factor * late_days)
    except OverflowError:
        lapse_at = datetime.max.replace(tzinfo=UTC)
    return LapsePoint(customer_id, last_order_at, top.product_id, late_days, lapse_at)


def customer_lapse_point(
    purchases: Sequence[Purchase],
    entries: Sequence[DueEntry],
    learned: LearnedIntervals,
    settings: ReplenishmentSettings,
    factor: float,
) -> LapsePoint | None:
    """`lapse_point` from one customer's countable purchases (a purchase per order line) and
    the due entries computed from them. An order is one purchase time: the lines of an order
    share it, so the distinct times are the customer's orders, and those of a product's
    purchases the orders containing it. Purchases on one UTC day count as one order, as the
    interval engine merges them (a forgotten item bought an hour later is not a reorder).

    The point is never before the top product's own late point: a customer whose personal or
    overridden interval is longer than factor × P75 is not lapsing while not yet late, and
    the lapse event, which lists what is due, would have nothing to list."""
    if not entries:
        return None
    orders_with: dict[int, set[date]] = defaultdict(set)
    for purchase in purchases:
        if purchase.quantity > 0:
            orders_with[purchase.product_id].add(utc_day(purchase.purchased_at))
    orders = len(set().union(*orders_with.values()))
    products = [
        ReorderedProduct(
            entry.product_id,
            len(orders_with.get(entry.product_id, ())),
            entry.last_purchased_at,
            entry.last_quantity,
        )
        for entry in entries
    ]
    last_order = max(entry.last_purchased_at for entry in entries)  # the due cycle's anchor
    point = lapse_point(
        entries[0].customer_id, orders, last_order, products, learned, settings, factor
    )
    if point is None:
        return None
    late_at = next(entry.late_at for entry in entries if entry.product_id == point.product_id)
    if late_at is not None and late_at > point.lapse_at:
        return replace(point, lapse_at=late_at)
    return point
