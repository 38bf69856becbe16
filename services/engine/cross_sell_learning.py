"""Learns the cross-sell pairs from the store's orders, for the nightly recompute.

The counting is SQL: the distinct (customer, product) baskets of countable orders, joined with
themselves on the customer and grouped by pair, with the minimum support in a HAVING. Python
reads the grouped pair counts as a stream, one product's partners at a time
(`services.engine.cross_sell.best_pairs`), so no step holds the store's orders in memory. The
kept pairs (a few per product) replace the table in one short transaction.

The outcome (orders counted, pairs kept, or "too few orders") is kept in `sync_state`
'cross-sell' for the Products page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, literal, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from services.core.config import get_settings
from services.core.tables import AppSetting, CrossSellPair, Order, OrderLine, SyncState
from services.engine.cross_sell import MIN_STORE_ORDERS, PairCount, best_pairs

STATE_NAME = "cross-sell"
_PAIRS: Table = CrossSellPair.metadata.tables["cross_sell_pair"]
_EXCLUDED = ("refunded", "voided")  # as `counts_for_intervals` excludes them
_STREAM = 5000


@dataclass(frozen=True, slots=True)
class PairsSummary:
    orders: int
    customers: int
    pairs: int
    min_support: int

    @property
    def too_few_orders(self) -> bool:
        return self.orders < MIN_STORE_ORDERS

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "customers": self.customers,
            "pairs": self.pairs,
            "min_support": self.min_support,
            "too_few_orders": self.too_few_orders,
        }


def cross_sell_min_support(session: Session) -> int:
    """The dashboard's saved minimum support, else `REPEATCART_CROSS_SELL_MIN_SUPPORT`."""
    saved = session.get(AppSetting, "cross_sell_min_support")
    if saved is not None:
        try:
            value = int(float(saved.value))
        except ValueError:
            value = 0
        if value >= 1:
            return value
    return get_settings().cross_sell_min_support


def _countable_order() -> ColumnElement[bool]:
    """`counts_for_intervals` in SQL: not cancelled, not a test, not refunded or voided."""
    status = func.lower(func.trim(func.coalesce(col(Order.financial_status), "")))
    return and_(
        col(Order.cancelled_at).is_(None),
        col(Order.test).is_(False),
        status.not_in(_EXCLUDED),
    )


def countable_orders(session: Session) -> int:
    """Orders that count as buying behaviour, as the intervals count them."""
    query = select(func.count()).select_from(Order).where(_countable_order())
    return int(session.execute(query).scalar_one())


def _baskets() -> Any:
    """Distinct (customer, product) of countable order lines: each customer's basket."""
    return (
        select(col(Order.customer_id).label("customer_id"), col(OrderLine.product_id))
        .join(OrderLine, col(OrderLine.order_id) == col(Order.id))
        .where(
            _countable_order(),
            col(Order.customer_id).is_not(None),
            col(OrderLine.product_id).is_not(None),
            col(OrderLine.quantity) > 0,
        )
        .distinct()
        .cte("basket")
    )


def _pair_counts(session: Session, basket: Any, min_support: int) -> Iterator[PairCount]:
    first, second = basket.alias("first"), basket.alias("second")
    support = func.count().label("support")
    query = (
        select(first.c.product_id, second.c.product_id.label("paired"), support)
        .join(
            second,
            and_(
                first.c.customer_id == second.c.customer_id,
                first.c.product_id != second.c.product_id,
            ),
        )
        .group_by(first.c.product_id, second.c.product_id)
        .having(func.count() >= literal(min_support))
        .order_by(first.c.product_id, second.c.product_id)
    )
    # the options on the statement, not the connection: the writes after it must not stream
    result = session.connection().execute(query.execution_options(yield_per=_STREAM))
    for product_id, paired, count in result:
        yield PairCount(int(product_id), int(paired), int(count))


def learn_cross_sell_pairs(session: Session, now: datetime) -> PairsSummary:
    """Replace the learned pairs with those of the current orders; the caller commits.

    A store with fewer than `MIN_STORE_ORDERS` countable orders keeps no pairs at all."""
    min_support = cross_sell_min_support(session)
    orders = countable_orders(session)
    kept: list[dict[str, Any]] = []
    customers = 0
    if orders >= MIN_STORE_ORDERS:
        basket = _baskets()
        customers = session.execute(
            select(func.count(func.distinct(basket.c.customer_id)))
        ).scalar_one()
        buyers = {
            int(pid): int(n)
            for pid, n in session.execute(
                select(basket.c.product_id, func.count()).group_by(basket.c.product_id)
            )
        }
        for pair in best_pairs(
            _pair_counts(session, basket, min_support), buyers, customers, min_support
        ):
            kept.append(
                {
                    "product_id": pair.product_id,
                    "paired_product_id": pair.paired_product_id,
                    "rank": pair.rank,
                    "lift": pair.lift,
                    "support": pair.support,
                    "computed_at": now,
                }
            )
    session.execute(delete(_PAIRS))
    for start in range(0, len(kept), _STREAM):
        session.execute(insert(_PAIRS), kept[start : start + _STREAM])
    summary = PairsSummary(int(orders), int(customers), len(kept), min_support)
    state = session.get(SyncState, STATE_NAME) or SyncState(name=STATE_NAME)
    state.last_finished_at = now
    state.last_status = "ok"
    state.last_summary = summary.as_dict()
    session.add(state)
    session.flush()
    return summary
