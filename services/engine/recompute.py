"""Turns stored orders into learned intervals and per-(customer, product) due rows.

The engine (`services.engine`) is pure; this module is the only place that feeds it from
the database and writes its answers back, so finding who is due stays an index range scan.

Relearning a product's interval moves the due dates of everyone who bought it, which can be much
of the store. That work is queued (`queue_relearn`, the `pending_relearn` table) and done by the
worker (`relearn_queued`), and store-wide runs (`recompute_store`) commit a few hundred
customers at a time, so no transaction holds SQLite's single writer for seconds. The queue row
is deleted only when its work is done: a run that dies leaves it for the next one.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Table, delete, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from services.core.config import get_settings
from services.core.db import session_scope
from services.core.leases import confirm_held
from services.core.shutdown import Stopping, stop_requested
from services.core.tables import (
    AppSetting,
    Customer,
    DueItem,
    IntervalStat,
    Order,
    OrderLine,
    PendingRelearn,
    Product,
    Shop,
)
from services.engine import (
    IntervalStats,
    LearnedIntervals,
    Purchase,
    ReplenishmentSettings,
    counts_for_intervals,
    customer_lapse_point,
    due_entries_for_customer,
    learn_intervals,
)
from services.engine.cross_sell_learning import learn_cross_sell_pairs

log = logging.getLogger(__name__)
_DUE_ITEMS: Table = DueItem.metadata.tables["due_item"]
_PENDING_RELEARN: Table = PendingRelearn.metadata.tables["pending_relearn"]
_T = TypeVar("_T")

_INSERT_BATCH = 5000
REDATE_CHUNK = 500
"""Customers re-dated per transaction by the chunked runs: tens of milliseconds of writing."""
_ID_CHUNK = 500
"""Ids per `IN (...)` list, well under SQLite's parameter limit."""
CONFLICT_RETRIES = 3
"""Tries of one chunk when a concurrent writer (an order webhook) wrote the same rows first."""
STORE_RECOMPUTE_LEASE = "nightly-recompute"
"""The nightly job's lease, held by every store-wide recompute: the relearn job waits while it
is held, instead of redoing from the queue what the store-wide run is doing."""


@dataclass(frozen=True, slots=True)
class RecomputeSummary:
    products_learned: int
    customers: int
    due_rows: int


@dataclass(frozen=True, slots=True)
class RelearnSummary:
    products: int
    customers: int
    due_rows: int
    chunks: int

    def line(self) -> str:
        if not self.products and not self.customers:
            return "relearn: nothing queued"
        return (
            f"relearn: {self.products} products, {self.customers} customers re-dated "
            f"({self.due_rows} due rows) in {self.chunks} chunks"
        )


def settings_of(shop: Shop | None) -> ReplenishmentSettings:
    if shop is None:
        return ReplenishmentSettings()
    return ReplenishmentSettings(
        lead_days=shop.lead_days,
        default_interval_days=shop.default_interval_days,
        min_reorder_customers=shop.min_reorder_customers,
    )


def lapse_factor(session: Session) -> float:
    """The About To Lapse factor: the dashboard's saved value, else `REPEATCART_LAPSE_FACTOR`."""
    saved = session.get(AppSetting, "lapse_factor")
    if saved is not None:
        try:
            value = float(saved.value)
        except ValueError:
            value = 0.0
        if math.isfinite(value) and value >= 1:
            return value
    return get_settings().lapse_factor


# customer, product, variant, processed at, quantity, cancelled at, financial status, test
_PurchaseRows = Select[int, int, int | None, datetime, int, datetime | None, str | None, bool]


def _purchases_query(
    customer_ids: Sequence[int] | None = None, product_ids: Sequence[int] | None = None
) -> _PurchaseRows:
    query: _PurchaseRows = (
        select(  # type: ignore[call-overload, misc]  # sqlmodel types 4 columns at most
            Order.customer_id,
            OrderLine.product_id,
            OrderLine.variant_id,
            Order.processed_at,
            OrderLine.quantity,
            Order.cancelled_at,
            Order.financial_status,
            Order.test,
        )
        .join(OrderLine, col(OrderLine.order_id) == Order.id)
        .where(col(Order.customer_id).is_not(None), col(OrderLine.product_id).is_not(None))
        .order_by(col(Order.customer_id), col(Order.processed_at))
    )
    if customer_ids is not None:
        query = query.where(col(Order.customer_id).in_(customer_ids))
    if product_ids is not None:
        query = query.where(col(OrderLine.product_id).in_(product_ids))
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


def load_learned(session: Session, product_ids: Iterable[int] | None = None) -> LearnedIntervals:
    """The stored intervals: of every product, or of `product_ids` only (a few customers'
    products: re-dating one customer must not read the whole catalog's statistics)."""
    query = select(IntervalStat)
    stats = (
        list(session.exec(query))
        if product_ids is None
        else [
            stat
            for chunk in _chunks(sorted(set(product_ids)))
            for stat in session.exec(query.where(col(IntervalStat.product_id).in_(chunk)))
        ]
    )
    by_product = {
        stat.product_id: IntervalStats(stat.p25, stat.median, stat.p75, stat.mean, stat.n)
        for stat in stats
    }
    shop = session.exec(select(Shop)).first()
    store = None
    if shop is not None and shop.store_interval_days is not None:
        p75 = shop.store_p75_days or shop.store_interval_days
        store = IntervalStats(shop.store_interval_days, shop.store_interval_days, p75, 0.0, 0)
    return LearnedIntervals(by_product=by_product, store=store)


def _overrides(session: Session, product_ids: Iterable[int] | None = None) -> dict[int, float]:
    query = select(col(Product.id), col(Product.interval_override_days)).where(
        col(Product.interval_override_days).is_not(None)
    )
    if product_ids is None:
        rows = list(session.exec(query))
    else:
        rows = [
            row
            for chunk in _chunks(sorted(set(product_ids)))
            for row in session.exec(query.where(col(Product.id).in_(chunk)))
        ]
    return {
        product_id: days
        for product_id, days in rows
        if product_id is not None and days is not None and days > 0
    }


def _by_customer(purchases: Iterable[Purchase]) -> Iterator[tuple[int, list[Purchase]]]:
    batch: list[Purchase] = []
    for purchase in purchases:
        if batch and purchase.customer_id != batch[0].customer_id:
            yield batch[0].customer_id, batch
            batch = []
        batch.append(purchase)
    if batch:
        yield batch[0].customer_id, batch


def _write_due_rows(
    session: Session,
    customer_purchases: Iterable[tuple[int, list[Purchase]]],
    learned: LearnedIntervals,
    overrides: dict[int, float],
    settings: ReplenishmentSettings,
    now: datetime,
    factor: float,
) -> tuple[int, int]:
    """Write each customer's due rows (the caller deleted the ones they had).

    Rows go out as Core multi-row INSERTs: ORM objects for a store's 170k due rows cost more
    than learning the intervals.
    """
    customers = rows = 0
    pending: list[dict[str, object]] = []
    for _customer_id, purchases in customer_purchases:
        pending.extend(_due_row_values(purchases, learned, overrides, settings, now, factor))
        customers += 1
        if len(pending) >= _INSERT_BATCH:
            rows += _insert_due_rows(session, pending)
            pending = []
    rows += _insert_due_rows(session, pending)
    session.flush()
    return customers, rows


def _due_row_values(
    purchases: list[Purchase],
    learned: LearnedIntervals,
    overrides: dict[int, float],
    settings: ReplenishmentSettings,
    now: datetime,
    factor: float,
) -> Iterator[dict[str, object]]:
    entries = due_entries_for_customer(purchases, learned, overrides, settings)
    lapse = customer_lapse_point(purchases, entries, learned, settings, factor)
    for entry in entries:
        yield {
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
            "lapse_at": lapse.lapse_at if lapse and lapse.product_id == entry.product_id else None,
            "computed_at": now,
        }


def _insert_due_rows(session: Session, rows: list[dict[str, object]]) -> int:
    for start in range(0, len(rows), _INSERT_BATCH):
        session.execute(insert(_DUE_ITEMS), rows[start : start + _INSERT_BATCH])
    return len(rows)


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
    for chunk in _chunks(product_ids):
        learned.update(learn_intervals(load_purchases(session, product_ids=chunk)).by_product)
    for chunk in _chunks(product_ids):
        session.execute(delete(IntervalStat).where(col(IntervalStat.product_id).in_(chunk)))
    _store_stats(session, learned, now)
    session.flush()
    return len(learned)


def customers_due_for(session: Session, product_ids: Sequence[int]) -> set[int]:
    """Customers holding a due row for any of these products (their dates follow its interval)."""
    found: set[int] = set()
    for chunk in _chunks(product_ids):
        found.update(
            session.exec(select(DueItem.customer_id).where(col(DueItem.product_id).in_(chunk)))
        )
    return found


def buyers_of(session: Session, product_ids: Sequence[int]) -> set[int]:
    """Customers with an order line of any of these products, counted or not."""
    found: set[int] = set()
    for chunk in _chunks(product_ids):
        found.update(
            customer_id
            for customer_id in session.exec(
                select(col(Order.customer_id))
                .join(OrderLine, col(OrderLine.order_id) == Order.id)
                .where(col(OrderLine.product_id).in_(chunk), col(Order.customer_id).is_not(None))
                .distinct()
            )
            if customer_id is not None
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
    learn_cross_sell_pairs(session, now)
    session.execute(delete(DueItem))
    customers, rows = _write_due_rows(
        session,
        _by_customer(load_purchases(session)),
        learned,
        _overrides(session),
        settings,
        now,
        lapse_factor(session),
    )
    return RecomputeSummary(len(learned.by_product), customers, rows)


def recompute_customers(session: Session, customer_ids: Sequence[int], now: datetime) -> int:
    """Rewrite the due rows of some customers from the stored intervals (after a sync or edit).

    Everything is read and computed before the first write: on SQLite the write lock is then
    held only while the rows are replaced.
    """
    settings = settings_of(session.exec(select(Shop)).first())
    grouped: dict[int, list[Purchase]] = defaultdict(list)
    for purchase in load_purchases(session, customer_ids):
        grouped[purchase.customer_id].append(purchase)
    bought = {purchase.product_id for purchases in grouped.values() for purchase in purchases}
    learned, overrides = load_learned(session, bought), _overrides(session, bought)
    factor = lapse_factor(session)
    rows = [
        values
        for purchases in grouped.values()
        for values in _due_row_values(purchases, learned, overrides, settings, now, factor)
    ]
    for chunk in _chunks(customer_ids):
        session.execute(delete(DueItem).where(col(DueItem.customer_id).in_(chunk)))
    written = _insert_due_rows(session, rows)
    session.flush()
    return written


# --- queued and chunked runs ---------------------------------------------------------------


def queue_relearn(session: Session, product_ids: Iterable[int], now: datetime) -> None:
    """Ask the worker to relearn these products and re-date their buyers; the caller commits.

    One statement per call whatever else is queued (an upsert): a product already waiting only
    has its `requests` counted up, which tells a run in progress that it has more to do.
    """
    ids = sorted(set(product_ids))
    if not ids:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = _PENDING_RELEARN
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["product_id"], set_={"requests": table.c.requests + 1}
    )
    session.execute(
        statement, [{"product_id": pid, "requests": 1, "queued_at": now} for pid in ids]
    )


def queued_products(session: Session) -> dict[int, int]:
    """What waits to be relearned: product id -> requests counted so far."""
    rows = session.exec(select(PendingRelearn.product_id, PendingRelearn.requests))
    return dict(rows.all())


def relearn_queued(
    now: datetime,
    *,
    product_ids: Iterable[int] | None = None,
    customers: Iterable[int] = (),
    chunk: int = REDATE_CHUNK,
) -> RelearnSummary:
    """Relearn the queued products' intervals and re-date their buyers, `chunk` customers per
    transaction; then take them off the queue. Opens and commits its own transactions.

    `product_ids` limits the run to those products (queued or not), and `customers` adds
    customers to re-date. What was queued again while this ran (its count moved) stays queued,
    since its new orders may have come after the purchases were read.
    """
    with session_scope() as session:
        queued = queued_products(session)
    customers = set(customers)
    if product_ids is not None:
        wanted = set(product_ids)
        queued = {pid: n for pid, n in queued.items() if pid in wanted}
        products = sorted(wanted)
    else:
        products = sorted(queued)
    if not products and not customers:
        return RelearnSummary(0, 0, 0, 0)
    for ids in _chunks(products):  # one short transaction per chunk of products
        _transaction(_bound(relearn_products, ids, now))
    with session_scope() as session:
        everyone = customers | buyers_of(session, products)
        everyone |= customers_due_for(session, products)
    rows, chunks = redate_in_chunks(sorted(everyone), now, chunk=chunk)
    _transaction(lambda session: _take_off_queue(session, queued))
    return RelearnSummary(len(products), len(everyone), rows, chunks)


def recompute_store(now: datetime, *, chunk: int = REDATE_CHUNK) -> RecomputeSummary:
    """`recompute_all` for a live store: the same intervals and due rows, written `chunk`
    customers per transaction. Opens and commits its own transactions.

    Every bought product is queued first: if the run dies half-way, the worker's relearn job
    relearns them and re-dates their buyers, so no customer keeps dates from two regimes.
    """

    def mark(session: Session) -> None:
        bought = select(col(OrderLine.product_id)).where(col(OrderLine.product_id).is_not(None))
        held = select(col(DueItem.product_id))
        ids = [*session.exec(bought.distinct()), *session.exec(held.distinct())]
        queue_relearn(session, [product_id for product_id in ids if product_id is not None], now)

    _transaction(mark)
    with session_scope() as session:
        queued = queued_products(session)
        learned = learn_intervals(load_purchases(session))

    def store(session: Session) -> None:
        session.execute(delete(IntervalStat))
        _store_stats(session, learned.by_product, now)
        shop = session.exec(select(Shop)).first()
        if shop is not None:
            shop.store_interval_days = learned.store.median if learned.store else None
            shop.store_p75_days = learned.store.p75 if learned.store else None
            session.add(shop)

    _transaction(store)
    _transaction(lambda session: learn_cross_sell_pairs(session, now))
    with session_scope() as session:
        ids = session.exec(select(col(Customer.id)).order_by(col(Customer.id)))
        customers = [int(cid) for cid in ids if cid is not None]
    rows, _ = redate_in_chunks(customers, now, chunk=chunk)
    _transaction(lambda session: _take_off_queue(session, queued))
    return RecomputeSummary(len(learned.by_product), len(customers), rows)


def redate_in_chunks(
    customer_ids: Sequence[int], now: datetime, *, chunk: int = REDATE_CHUNK
) -> tuple[int, int]:
    """Re-date customers from the stored intervals, one transaction per `chunk` of them.

    Between chunks the writer is free, and a stop request (the process is ending) ends the run
    with `Stopping`: whatever queued the work still holds its marker. Returns (rows, chunks).
    """
    rows = chunks = 0
    for start in range(0, len(customer_ids), chunk):
        if stop_requested():
            raise Stopping("re-dating stopped with the process; the queued work stays queued")
        ids = customer_ids[start : start + chunk]
        rows += _transaction(_bound(recompute_customers, ids, now))
        chunks += 1
    return rows, chunks


def _take_off_queue(session: Session, done: dict[int, int]) -> None:
    """Delete the queue rows this run read, unless an order counted them up since."""
    by_count: dict[int, list[int]] = defaultdict(list)
    for product_id, requests in done.items():
        by_count[requests].append(product_id)
    for requests, ids in by_count.items():
        for chunk in _chunks(ids):
            session.execute(
                delete(PendingRelearn).where(
                    col(PendingRelearn.product_id).in_(chunk),
                    col(PendingRelearn.requests) == requests,
                )
            )


def _bound(
    work: Callable[[Session, Sequence[int], datetime], int], ids: Sequence[int], now: datetime
) -> Callable[[Session], int]:
    """`work` for one chunk of ids, in the shape `_transaction` calls."""
    return lambda session: work(session, ids, now)


def _transaction(work: Callable[[Session], _T]) -> _T:
    """Run `work` in its own committed transaction, again when a concurrent writer got to the
    same rows first (PostgreSQL) or held the database (SQLite).

    Under a job's lease the lease is confirmed in the same transaction (`confirm_held`), after
    the work so that SQLite's writer is not taken before the reads: a run that lost its lease
    is stopped with `LeaseLost` and its chunk rolled back, and the queue keeps its marker.
    """
    for attempt in range(1, CONFLICT_RETRIES + 1):
        try:
            with session_scope() as session:
                result = work(session)
                confirm_held(session)
                return result
        except (IntegrityError, OperationalError) as conflict:
            if attempt == CONFLICT_RETRIES:
                raise
            log.info("recompute chunk retried after a conflict: %s", type(conflict).__name__)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _ID_CHUNK):
        yield list(ids[start : start + _ID_CHUNK])
