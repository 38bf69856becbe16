"""Turns stored orders into learned intervals and per-(customer, product) due rows.

The engine (`services.replenishment`) is pure; this module is the only place that feeds it from
the database and writes its answers back, so finding who is due stays an index range scan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert
from sqlmodel import Session, select

from services.models import DueItem, IntervalStat, Order, OrderLine, Product, Shop
from services.replenishment import (
    IntervalStats,
    LearnedIntervals,
    Purchase,
    ReplenishmentSettings,
    counts_for_intervals,
    due_entries_for_customer,
    learn_intervals,
)

_INSERT_BATCH = 5000


@dataclass(frozen=True, slots=True)
class RecomputeSummary:
    products_learned: int
    customers: int
    due_rows: int


def settings_of(shop: Shop | None) -> ReplenishmentSettings:
    if shop is None:
        return ReplenishmentSettings()
    return ReplenishmentSettings(
        lead_days=shop.lead_days,
        default_interval_days=shop.default_interval_days,
        min_reorder_customers=shop.min_reorder_customers,
    )


def _purchases_query(  # noqa: ANN202
    customer_ids: Sequence[int] | None = None, product_ids: Sequence[int] | None = None
):
    query = (
        select(
            Order.customer_id,
            OrderLine.product_id,
            OrderLine.variant_id,
            Order.processed_at,
            OrderLine.quantity,
            Order.cancelled_at,
            Order.financial_status,
            Order.test,
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.customer_id.is_not(None), OrderLine.product_id.is_not(None))  # type: ignore[union-attr]
        .order_by(Order.customer_id, Order.processed_at)
    )
    if customer_ids is not None:
        query = query.where(Order.customer_id.in_(customer_ids))  # type: ignore[union-attr]
    if product_ids is not None:
        query = query.where(OrderLine.product_id.in_(product_ids))  # type: ignore[union-attr]
    return query


def load_purchases(
    session: Session,
    customer_ids: Sequence[int] | None = None,
    product_ids: Sequence[int] | None = None,
) -> Iterator[Purchase]:
    """Countable purchases (no cancelled, refunded or test orders), ordered by customer and time."""
    query = _purchases_query(customer_ids, product_ids)
    for row in session.exec(query).yield_per(5000):
        customer_id, product_id, variant_id, at, quantity, cancelled_at, status, test = row
        if quantity and quantity > 0 and counts_for_intervals(cancelled_at, status, test):
            yield Purchase(customer_id, product_id, variant_id, at, quantity)


def load_learned(session: Session) -> LearnedIntervals:
    by_product = {
        stat.product_id: IntervalStats(stat.p25, stat.median, stat.p75, stat.mean, stat.n)
        for stat in session.exec(select(IntervalStat))
    }
    shop = session.exec(select(Shop)).first()
    store = None
    if shop is not None and shop.store_interval_days is not None:
        p75 = shop.store_p75_days or shop.store_interval_days
        store = IntervalStats(shop.store_interval_days, shop.store_interval_days, p75, 0.0, 0)
    return LearnedIntervals(by_product=by_product, store=store)


def _overrides(session: Session) -> dict[int, float]:
    rows = session.exec(
        select(Product.id, Product.interval_override_days).where(
            Product.interval_override_days.is_not(None)  # type: ignore[union-attr]
        )
    )
    return {product_id: days for product_id, days in rows if days and days > 0}


def _by_customer(purchases: Iterable[Purchase]) -> Iterator[tuple[int, list[Purchase]]]:
    current: int | None = None
    batch: list[Purchase] = []
    for purchase in purchases:
        if purchase.customer_id != current and batch:
            yield current, batch  # type: ignore[misc]
            batch = []
        current = purchase.customer_id
        batch.append(purchase)
    if batch:
        yield current, batch  # type: ignore[misc]


def _write_due_rows(
    session: Session,
    customer_purchases: Iterable[tuple[int, list[Purchase]]],
    learned: LearnedIntervals,
    overrides: dict[int, float],
    settings: ReplenishmentSettings,
    now: datetime,
    *,
    replace: bool,
) -> tuple[int, int]:
    """Write each customer's due rows; `replace` first deletes the rows they already have.

    Rows go out as Core multi-row INSERTs: ORM objects for a store's 170k due rows cost more
    than learning the intervals.
    """
    customers = rows = 0
    pending: list[dict[str, object]] = []
    for customer_id, purchases in customer_purchases:
        if replace:
            session.execute(delete(DueItem).where(DueItem.customer_id == customer_id))
        for entry in due_entries_for_customer(purchases, learned, overrides, settings):
            pending.append(
                {
                    "customer_id": entry.customer_id,
                    "product_id": entry.product_id,
                    "variant_id": entry.variant_id,
                    "last_purchased_at": entry.last_purchased_at,
                    "last_quantity": entry.last_quantity,
                    "interval_days": entry.interval_days,
                    "interval_source": entry.interval_source,
                    "due_at": entry.due_at,
                    "remind_at": entry.remind_at,
                    "late_at": entry.late_at,
                    "computed_at": now,
                }
            )
            rows += 1
        customers += 1
        if len(pending) >= _INSERT_BATCH:
            session.execute(insert(DueItem.__table__), pending)  # type: ignore[attr-defined]
            pending = []
    if pending:
        session.execute(insert(DueItem.__table__), pending)  # type: ignore[attr-defined]
    session.flush()
    return customers, rows


def _store_stats(session: Session, by_product: dict[int, IntervalStats], now: datetime) -> None:
    for product_id, stats in by_product.items():
        session.add(
            IntervalStat(
                product_id=product_id,
                p25=stats.p25,
                median=stats.median,
                p75=stats.p75,
                mean=stats.mean,
                n=stats.n,
                computed_at=now,
            )
        )


def relearn_products(session: Session, product_ids: Sequence[int], now: datetime) -> int:
    """Relearn the intervals of some products from their purchases alone (after a sync).

    A product's statistics depend only on purchases of that product, so this gives the same
    figures as `recompute_all` for them. The store-wide median is left to the nightly run.
    Returns how many products have statistics now.
    """
    learned: dict[int, IntervalStats] = {}
    for start in range(0, len(product_ids), 500):
        chunk = list(product_ids[start : start + 500])
        session.execute(delete(IntervalStat).where(IntervalStat.product_id.in_(chunk)))  # type: ignore[attr-defined]
        learned.update(learn_intervals(load_purchases(session, product_ids=chunk)).by_product)
    _store_stats(session, learned, now)
    session.flush()
    return len(learned)


def customers_due_for(session: Session, product_ids: Sequence[int]) -> set[int]:
    """Customers holding a due row for any of these products (their dates follow its interval)."""
    found: set[int] = set()
    for start in range(0, len(product_ids), 500):
        chunk = list(product_ids[start : start + 500])
        found.update(
            session.exec(
                select(DueItem.customer_id).where(DueItem.product_id.in_(chunk))  # type: ignore[attr-defined]
            )
        )
    return found


def recompute_all(session: Session, now: datetime) -> RecomputeSummary:
    """Relearn every product's interval from all orders, then rewrite every due row."""
    shop = session.exec(select(Shop)).first()
    settings = settings_of(shop)
    learned = learn_intervals(load_purchases(session))
    session.execute(delete(IntervalStat))
    _store_stats(session, learned.by_product, now)
    if shop is not None:
        shop.store_interval_days = learned.store.median if learned.store else None
        shop.store_p75_days = learned.store.p75 if learned.store else None
        session.add(shop)
    session.execute(delete(DueItem))
    customers, rows = _write_due_rows(
        session,
        _by_customer(load_purchases(session)),
        learned,
        _overrides(session),
        settings,
        now,
        replace=False,
    )
    return RecomputeSummary(len(learned.by_product), customers, rows)


def recompute_customers(session: Session, customer_ids: Sequence[int], now: datetime) -> int:
    """Rewrite the due rows of some customers from the stored intervals (after a sync or edit)."""
    settings = settings_of(session.exec(select(Shop)).first())
    grouped: dict[int, list[Purchase]] = defaultdict(list)
    for purchase in load_purchases(session, customer_ids):
        grouped[purchase.customer_id].append(purchase)
    for customer_id in customer_ids:
        if customer_id not in grouped:
            session.execute(delete(DueItem).where(DueItem.customer_id == customer_id))
    _, rows = _write_due_rows(
        session,
        grouped.items(),
        load_learned(session),
        _overrides(session),
        settings,
        now,
        replace=True,
    )
    return rows
