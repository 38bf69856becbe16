"""Writes Shopify order records into the database, whichever adapter produced them.

The order-export import, the GraphQL sync and order webhooks all write through it, so matching
customers and catalog items (`matching`), replacing an order seen again, and refreshing due
dates behave the same for every source.
Work is done in batches of orders with bulk queries, so memory follows the batch size, not the
size of the input; the caller owns the transaction (this module flushes, never commits), except
for `refresh_due_dates_in_chunks`, whose point is to commit as it goes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Table, delete, func, insert, update
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from services.cart.links import (
    CART_ATTRIBUTE,
    CHANNEL_ATTRIBUTE,
    MOMENT_ATTRIBUTE,
    normalize_moment,
)
from services.core.db import session_scope
from services.core.leases import confirm_held, lease
from services.core.tables import Customer, IntervalStat, Order, OrderLine, Shop
from services.engine.recompute import (
    STORE_RECOMPUTE_LEASE,
    customers_due_for,
    queue_relearn,
    recompute_all,
    recompute_customers,
    recompute_store,
    relearn_products,
    relearn_queued,
)
from services.ingest.matching import CatalogMatcher, LineRow
from services.shopify.order_export import RowError, open_order_export, read_order_export
from services.shopify.records import OrderRecord

__all__ = [
    "ImportReport",
    "IngestSummary",
    "import_order_export",
    "refresh_due_dates",
    "refresh_due_dates_in_chunks",
    "refresh_order_customers",
    "upsert_orders",
]

REFRESH_ALL_SHARE = 0.2
"""Above this share of customers touched, relearning everything is cheaper than per customer."""
RECOMPUTE_CHUNK = 2000
"""Customers per recompute call: keeps `IN (...)` lists under SQLite's parameter limit."""
PROGRESS_EVERY_ROWS = 1000
MAX_KEPT_ERRORS = 10_000
"""Row errors kept for the report (all are counted): a file of garbage must not fill memory."""

# the tables themselves, for Core statements (SQLModel declares no typed `__table__`)
_ORDERS: Table = Order.metadata.tables["orders"]
_ORDER_LINES: Table = OrderLine.metadata.tables["order_line"]
_CUSTOMER_TABLE: Table = Customer.metadata.tables["customer"]


@dataclass(frozen=True, slots=True)
class IngestSummary:
    orders_created: int
    orders_updated: int
    orders_unchanged: int
    lines: int
    customers_created: int
    products_created: int
    affected_customer_ids: set[int] = field(default_factory=set)
    affected_product_ids: set[int] = field(default_factory=set)

    @property
    def orders(self) -> int:
        return self.orders_created + self.orders_updated + self.orders_unchanged


@dataclass(frozen=True, slots=True)
class ImportReport:
    summary: IngestSummary
    errors: list[RowError]
    rows_read: int
    error_count: int = 0
    """All row errors; `errors` keeps the first `MAX_KEPT_ERRORS` of them."""


@dataclass(slots=True)
class _Counts:
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    lines: int = 0
    customers_created: int = 0
    affected: set[int] = field(default_factory=set)
    affected_products: set[int] = field(default_factory=set)


def upsert_orders(
    session: Session,
    records: Iterable[OrderRecord],
    *,
    source: str,
    now: datetime,
    batch_size: int = 500,
    refresh: bool = True,
) -> IngestSummary:
    """Create or replace orders by gid, then refresh the due dates of the customers touched.

    An order seen again replaces its stored version (fields and lines) unless the stored one is
    newer (`updated_at`), so a stale copy never overwrites fresher data and importing the same
    input twice writes nothing. Pass `refresh=False` when calling page by page and call
    `refresh_due_dates` once at the end with the union of `affected_customer_ids`.
    """
    counts = _Counts()
    catalog = CatalogMatcher(session, now)
    shop_currency = session.exec(select(Shop.currency)).first() or "USD"
    iterator = iter(records)
    while batch := list(islice(iterator, batch_size)):
        _upsert_batch(session, batch, source, now, shop_currency, catalog, counts)
        session.flush()
    if refresh:
        refresh_due_dates(session, counts.affected, now, counts.affected_products)
    return IngestSummary(
        orders_created=counts.orders_created,
        orders_updated=counts.orders_updated,
        orders_unchanged=counts.orders_unchanged,
        lines=counts.lines,
        customers_created=counts.customers_created,
        products_created=catalog.products_created,
        affected_customer_ids=counts.affected,
        affected_product_ids=counts.affected_products,
    )


def refresh_due_dates(
    session: Session,
    affected: Iterable[int],
    now: datetime,
    products: Iterable[int] = (),
) -> Literal["none", "all", "customers"]:
    """Recompute after orders changed: everything, or only the products and customers touched.

    Relearning from every order is right when much of the store changed or nothing was learned
    yet (a first import). Otherwise the touched products' intervals are relearned from their own
    purchases, and the touched customers plus everyone due for those products get new dates.
    """
    affected = set(affected)
    products = sorted(set(products))
    if not affected and not products:
        return "none"
    if products and not _relearn_everything(session, affected):
        relearn_products(session, products, now)
        affected |= customers_due_for(session, products)
    if _relearn_everything(session, affected):
        recompute_all(session, now)
        return "all"
    affected = sorted(affected)
    for start in range(0, len(affected), RECOMPUTE_CHUNK):
        recompute_customers(session, affected[start : start + RECOMPUTE_CHUNK], now)
    return "customers"


def refresh_due_dates_in_chunks(
    affected: Iterable[int], now: datetime, products: Iterable[int] = ()
) -> Literal["none", "all", "customers"]:
    """`refresh_due_dates` for the web process (the dashboard's import): the same choice, but
    written a few hundred customers per transaction, so shoppers' and webhooks' writes are not
    held up behind it on SQLite. Opens and commits its own transactions.

    The products are queued for relearning first: if the process dies half-way, the worker's
    relearn job finishes the work.
    """
    affected = set(affected)
    products = set(products)
    if not affected and not products:
        return "none"
    with session_scope() as session:
        queue_relearn(session, products, now)
        holders = customers_due_for(session, sorted(products))
        everything = _relearn_everything(session, affected | holders)
        confirm_held(session)  # under the import's lease: only while it is still ours
    if everything:
        with lease(STORE_RECOMPUTE_LEASE, timedelta(minutes=30)):  # run even if not free
            recompute_store(now)
        return "all"
    relearn_queued(now, product_ids=products, customers=affected)
    return "customers"


def refresh_order_customers(session: Session, summary: IngestSummary, now: datetime) -> int:
    """After an order arrives (a webhook): re-date only its own customers, with the intervals
    as they are learned now, and queue its products for the worker's relearn job.

    Relearning a product moves the dates of everyone who bought it, possibly the whole store:
    too much for one webhook's transaction in the web process. The worker does it in chunks,
    once for however many orders arrive in between. Returns the due rows written.
    """
    customers = sorted(summary.affected_customer_ids)
    rows = 0
    for start in range(0, len(customers), RECOMPUTE_CHUNK):
        rows += recompute_customers(session, customers[start : start + RECOMPUTE_CHUNK], now)
    queue_relearn(session, summary.affected_product_ids, now)
    return rows


def _relearn_everything(session: Session, affected: set[int]) -> bool:
    """Relearning from every order is right when nothing was learned yet (a first import) or
    when much of the store changed; per product and customer is cheaper otherwise."""
    customers = session.exec(select(func.count()).select_from(Customer)).one()
    learned = session.exec(select(IntervalStat.product_id).limit(1)).first() is not None
    return not learned or len(affected) > REFRESH_ALL_SHARE * customers


def import_order_export(
    session: Session,
    path: str | os.PathLike[str],
    *,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a Shopify order export file: good orders are written, bad rows reported.

    Raises `OrderExportError` (or `OSError`) when the file cannot be read as an export at all;
    the caller should then roll back, as orders of a half-read file may have been flushed.
    """
    total_bytes = Path(path).stat().st_size
    errors: list[RowError] = []
    error_count = 0
    with open_order_export(path) as stream:
        reader = read_order_export(stream)
        raw = getattr(stream, "buffer", None)

        def orders() -> Iterator[OrderRecord]:
            nonlocal error_count
            next_report = PROGRESS_EVERY_ROWS
            for item in reader:
                if isinstance(item, RowError):
                    error_count += 1
                    if len(errors) < MAX_KEPT_ERRORS:
                        errors.append(item)
                else:
                    yield item
                if progress is not None and reader.rows_read >= next_report:
                    next_report = reader.rows_read + PROGRESS_EVERY_ROWS
                    progress(raw.tell() if raw is not None else 0, total_bytes)

        summary = upsert_orders(session, orders(), source="csv", now=now)
        rows_read = reader.rows_read
    if progress is not None:
        progress(total_bytes, total_bytes)
    return ImportReport(summary, errors, rows_read, error_count)


def _upsert_batch(
    session: Session,
    records: list[OrderRecord],
    source: str,
    now: datetime,
    shop_currency: str,
    catalog: CatalogMatcher,
    counts: _Counts,
) -> None:
    by_gid = {record.gid: record for record in records}  # a repeated gid: the last one wins
    records = list(by_gid.values())
    existing = {
        order.shopify_gid: order
        for order in session.exec(select(Order).where(col(Order.shopify_gid).in_(list(by_gid))))
    }
    stored_lines: dict[int, list[LineRow]] = {_order_id(order): [] for order in existing.values()}
    if stored_lines:
        for line in session.exec(
            select(OrderLine)
            .where(col(OrderLine.order_id).in_(list(stored_lines)))
            .order_by(col(OrderLine.order_id), col(OrderLine.id))
        ):
            stored_lines[line.order_id].append(_line_row(line))
    customer_ids = _resolve_customers(session, records, now, counts)
    catalog.prefetch(records)

    created: dict[str, tuple[dict[str, Any], list[LineRow]]] = {}
    replaced: list[tuple[int, list[LineRow]]] = []
    for record, customer_id in zip(records, customer_ids, strict=True):
        lines = [catalog.line_row(item) for item in record.lines]
        counts.lines += len(lines)
        values = _order_values(record, customer_id, source, shop_currency)
        order = existing.get(record.gid)
        if order is None:
            created[record.gid] = ({"shopify_gid": record.gid, **values}, lines)
            counts.orders_created += 1
            if customer_id is not None:
                counts.affected.add(customer_id)
            counts.affected_products.update(line[0] for line in lines if line[0] is not None)
            continue
        if not record.lines_carry_plans:
            lines = _keep_plans(lines, stored_lines[_order_id(order)])
        stale = order.updated_at > record.updated_at
        same = stored_lines[_order_id(order)] == lines and all(
            getattr(order, name) == value for name, value in values.items()
        )
        if stale or same:
            counts.orders_unchanged += 1
            continue
        counts.affected.update(c for c in (order.customer_id, customer_id) if c is not None)
        counts.affected_products.update(
            line[0] for line in [*stored_lines[_order_id(order)], *lines] if line[0] is not None
        )
        for name, value in values.items():
            setattr(order, name, value)
        replaced.append((_order_id(order), lines))
        counts.orders_updated += 1
    session.flush()
    new_lines: list[tuple[int, list[LineRow]]] = []
    if created:
        # Core INSERT ... RETURNING: ORM objects (or ORM bulk inserts) cost more than the SQL
        table = _ORDERS
        returned = session.execute(
            insert(table).returning(table.c.shopify_gid, table.c.id),
            [values for values, _ in created.values()],
        )
        new_lines = [(order_id, created[gid][1]) for gid, order_id in returned]
    if replaced:
        session.execute(
            delete(OrderLine).where(col(OrderLine.order_id).in_([i for i, _ in replaced]))
        )
    rows = [
        _line_dict(order_id, line) for order_id, lines in new_lines + replaced for line in lines
    ]
    if rows:
        session.execute(insert(_ORDER_LINES), rows)


def _order_values(
    record: OrderRecord, customer_id: int | None, source: str, shop_currency: str
) -> dict[str, Any]:
    """The stored order's fields for a record: compared to detect changes, then assigned."""
    cart = record.attributes.get(CART_ATTRIBUTE, "").strip()
    return {
        "name": record.name,
        "customer_id": customer_id,
        "processed_at": record.processed_at,
        "updated_at": record.updated_at,
        "cancelled_at": record.cancelled_at,
        "financial_status": record.financial_status,
        "test": record.test,
        "total_cents": record.total_cents,
        "currency": record.currency or shop_currency,
        "source": source,
        "custom_attributes": dict(record.attributes),
        "attributed_cart_id": int(cart) if cart.isascii() and cart.isdigit() else None,
        "attributed_channel": record.attributes.get(CHANNEL_ATTRIBUTE) or None,
        "attributed_moment": normalize_moment(record.attributes.get(MOMENT_ATTRIBUTE)),
    }


def _keep_plans(lines: list[LineRow], stored: list[LineRow]) -> list[LineRow]:
    """A source that does not name selling plans keeps the ones the stored lines of the same
    product and variant carry (a webhook must not forget that a line was a subscription)."""
    plans = {(row[0], row[1]): row[6] for row in stored if row[6]}
    if not plans:
        return lines
    return [(*line[:6], line[6] or plans.get((line[0], line[1]))) for line in lines]


def _line_row(line: OrderLine) -> LineRow:
    return (
        line.product_id,
        line.variant_id,
        line.quantity,
        line.unit_price_cents,
        line.title,
        line.sku,
        line.selling_plan_gid,
    )


def _line_dict(order_id: int | None, line: LineRow) -> dict[str, Any]:
    product_id, variant_id, quantity, unit_price_cents, title, sku, selling_plan_gid = line
    return {
        "order_id": order_id,
        "product_id": product_id,
        "variant_id": variant_id,
        "quantity": quantity,
        "unit_price_cents": unit_price_cents,
        "title": title,
        "sku": sku,
        "selling_plan_gid": selling_plan_gid,
    }


_CUSTOMERS = sql_select(
    col(Customer.id),
    col(Customer.shopify_gid),
    col(Customer.email),
    col(Customer.phone),
    col(Customer.first_name),
)
"""A customer's matching fields; `sqlmodel.select` is typed for at most four columns."""


@dataclass(slots=True)
class _KnownCustomer:
    """A customer row's matching fields, read as plain columns (ORM objects cost 10× more)."""

    id: int | None
    shopify_gid: str | None
    email: str | None
    phone: str | None
    first_name: str = ""
    created: bool = False
    changed: bool = False


def _resolve_customers(
    session: Session, records: Sequence[OrderRecord], now: datetime, counts: _Counts
) -> list[int | None]:
    """Each record's customer id: by customer gid, else by email, else by phone; new if none.

    Only blank fields of a matched customer are filled, so a repeated import changes nothing.
    New customers are inserted in one statement and changed ones updated in one more.
    """
    gids = {r.customer_gid for r in records if r.customer_gid}
    emails = {_email(r.email) for r in records if _email(r.email)}
    phones = {r.phone for r in records if r.phone and not _email(r.email)}
    by_gid: dict[str, _KnownCustomer] = {}
    by_email: dict[str, _KnownCustomer] = {}
    by_phone: dict[str, _KnownCustomer] = {}
    newest_first = col(Customer.id).desc()
    # (values, the matched column's position in `_CUSTOMERS`, its index)
    for values, at, index in ((gids, 1, by_gid), (emails, 2, by_email), (phones, 3, by_phone)):
        if not values:
            continue
        query = _CUSTOMERS.where(_CUSTOMERS.selected_columns[at].in_(sorted(values)))
        for row in session.execute(query.order_by(newest_first)):
            known = by_gid.get(row[1] or "") or _KnownCustomer(*row)
            index.setdefault(row[at] or "", known)

    chosen: list[_KnownCustomer | None] = []
    for record in records:
        email = _email(record.email)
        customer = by_gid.get(record.customer_gid or "")
        if customer is None and email:
            customer = by_email.get(email)
        elif customer is None and record.phone:
            customer = by_phone.get(record.phone)
        if customer is None and (record.customer_gid or email or record.phone):
            customer = _KnownCustomer(None, None, None, None, "", created=True)
            counts.customers_created += 1
        if customer is not None:
            _fill_blanks(customer, record, email)
            if customer.shopify_gid:
                by_gid[customer.shopify_gid] = customer
            if email:
                by_email.setdefault(email, customer)
            if record.phone and not email:
                by_phone.setdefault(record.phone, customer)
        chosen.append(customer)
    _write_customers([c for c in chosen if c is not None], session, now)
    return [c.id if c is not None else None for c in chosen]


def _write_customers(customers: list[_KnownCustomer], session: Session, now: datetime) -> None:
    unique = list({id(c): c for c in customers}.values())
    new = [c for c in unique if c.created and c.id is None]
    if new:
        returned = session.execute(
            insert(_CUSTOMER_TABLE).returning(_CUSTOMER_TABLE.c.id),
            [
                {
                    "shopify_gid": c.shopify_gid,
                    "email": c.email,
                    "phone": c.phone,
                    "first_name": c.first_name,
                    "last_name": "",
                    "created_at": now,
                }
                for c in new
            ],
        ).scalars()
        for customer, customer_id in zip(new, returned, strict=True):
            customer.id = customer_id
    changed = [c for c in unique if c.changed and not c.created]
    for customer in changed:
        fields = {"shopify_gid": customer.shopify_gid, "email": customer.email}
        fields |= {"phone": customer.phone}
        fields = {k: v for k, v in fields.items() if v is not None}
        if customer.first_name:
            fields["first_name"] = customer.first_name
        session.execute(
            update(_CUSTOMER_TABLE).where(_CUSTOMER_TABLE.c.id == customer.id).values(fields)
        )


def _fill_blanks(customer: _KnownCustomer, record: OrderRecord, email: str | None) -> None:
    before = (customer.shopify_gid, customer.email, customer.phone, customer.first_name)
    if record.customer_gid and not customer.shopify_gid:
        customer.shopify_gid = record.customer_gid
    if email and not customer.email:
        customer.email = email
    if record.phone and not customer.phone:
        customer.phone = record.phone
    if record.first_name and not customer.first_name:
        customer.first_name = record.first_name
    if (customer.shopify_gid, customer.email, customer.phone, customer.first_name) != before:
        customer.changed = True


def _email(email: str | None) -> str | None:
    return email.strip().lower() or None if email else None


def _order_id(order: Order) -> int:
    """The primary key of a stored (flushed) order, which is never None."""
    assert order.id is not None
    return order.id
