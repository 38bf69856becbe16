"""The demo store's subscriptions: a few products sold with selling plans, and some of their
buyers subscribed (their later lines of the product bought with a plan), so the Primed For
Subscription Moment, the Products page and the reports have something to show."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from services.core.tables import Order, OrderLine, SellingPlan
from services.demo.history import BuiltProduct
from services.shopify.records import INTERVAL_DAYS

# handle → (plan name, interval unit, interval count, percent off)
DEMO_PLANS: dict[str, tuple[tuple[str, str, int, float], ...]] = {
    "house-blend-coffee": (
        ("Deliver every 2 weeks, save 10%", "WEEK", 2, 10.0),
        ("Deliver every 3 weeks, save 10%", "WEEK", 3, 10.0),
        ("Deliver every month, save 10%", "MONTH", 1, 10.0),
    ),
    "daily-multivitamin": (
        ("Deliver every month, save 15%", "MONTH", 1, 15.0),
        ("Deliver every 6 weeks, save 15%", "WEEK", 6, 15.0),
    ),
    "whey-protein-isolate": (("Deliver every 4 weeks, save 5%", "WEEK", 4, 5.0),),
}
_SUBSCRIBED_SHARE = 0.15  # of a plan product's repeat buyers, subscribed after their 2nd order


def insert_selling_plans(
    session: Session, rng: random.Random, products: Sequence[BuiltProduct]
) -> dict[int, list[str]]:
    """The demo's selling plans; returns each product's plan gids."""
    gid = rng.randrange(690_000_000, 699_000_000)
    rows: list[dict[str, Any]] = []
    plans: dict[int, list[str]] = defaultdict(list)
    for product in products:
        for position, (name, unit, count, percent) in enumerate(
            DEMO_PLANS.get(product.spec.handle, ())
        ):
            gid += rng.randrange(1_000, 90_000)
            plan_gid = f"gid://shopify/SellingPlan/{gid}"
            plans[product.id].append(plan_gid)
            rows.append(
                {
                    "shopify_gid": plan_gid,
                    "product_id": product.id,
                    "group_name": "Subscribe and save",
                    "name": name,
                    "interval_unit": unit,
                    "interval_count": count,
                    "interval_days": INTERVAL_DAYS[unit] * count,
                    "adjustment_type": "PERCENTAGE",
                    "adjustment_percent": percent,
                    "adjustment_cents": None,
                    "position": position,
                }
            )
    if rows:
        session.execute(insert(SellingPlan), rows)
    return plans


def subscribe_some_buyers(
    session: Session, rng: random.Random, plans: dict[int, list[str]], spared: set[int]
) -> int:
    """Some repeat buyers of each plan product subscribe after their second order: their
    later lines of it carry a plan. `spared` customers (the samples) are left alone. Returns
    how many customers subscribed."""
    query = (
        select(Order.customer_id, OrderLine.product_id, OrderLine.id)
        .join(Order, col(Order.id) == col(OrderLine.order_id))
        .where(col(OrderLine.product_id).in_(list(plans)))
        .order_by(col(Order.customer_id), col(OrderLine.product_id), col(Order.processed_at))
    )
    lines: dict[tuple[int, int], list[int]] = defaultdict(list)
    for customer_id, product_id, line_id in session.exec(query):
        if customer_id is None or customer_id in spared or product_id is None or line_id is None:
            continue
        lines[(customer_id, product_id)].append(line_id)
    subscribed = 0
    for (_customer, product_id), ids in sorted(lines.items()):
        if len(ids) < 3 or rng.random() >= _SUBSCRIBED_SHARE:
            continue
        plan = rng.choice(plans[product_id])
        session.execute(
            update(OrderLine).where(col(OrderLine.id).in_(ids[2:])).values(selling_plan_gid=plan)
        )
        subscribed += 1
    return subscribed
