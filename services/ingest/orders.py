"""Writes Shopify order records into the database, whichever adapter produced them.

The CSV import uses it now and the GraphQL sync will later, so matching customers and catalog
items, replacing an order seen again, and refreshing due dates behave the same for every source.
Work is done in batches of orders with bulk queries, so memory follows the batch size, not the
size of the input; the caller owns the transaction (this module flushes, never commits), except
for `refresh_due_dates_in_chunks`, whose point is to commit as it goes.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import case, delete, func, insert, update
from sqlmodel import Session, col, select

from services.core.db import session_scope
from services.core.leases import confirm_held, lease
from services.core.tables import Customer, IntervalStat, Order, OrderLine, Product, Shop, Variant
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
from services.shopify.order_export import RowError, open_order_export, read_order_export
from services.shopify.records import LineItemRecord, OrderRecord, gid_tail

__all__ = [
    "PLACEHOLDER_PRODUCT_PREFIX",
    "PLACEHOLDER_VARIANT_PREFIX",
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
STUB_UPDATED_AT = datetime(1970, 1, 1, tzinfo=UTC)
"""A stub product's `updated_at`: any real version from Shopify is newer and replaces it."""
PLACEHOLDER_PRODUCT_PREFIX = "csv-product:"
PLACEHOLDER_VARIANT_PREFIX = "csv-variant:"
"""Gids of products and variants known only from an order export (shopify_id 0), until
`services.ingest.placeholder_merge` joins them to the synced catalog."""
CART_ATTRIBUTE = "_repeatcart_cart"
CHANNEL_ATTRIBUTE = "_repeatcart_channel"

_LineRow = tuple[int | None, int | None, int, int | None, str, str | None]
"""(product_id, variant_id, quantity, unit_price_cents, title, sku): a stored line, comparable."""
_Match = tuple[int, int | None]


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
    products_created: int = 0
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
    catalog = _Catalog(session, now, counts)
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
        products_created=counts.products_created,
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
    catalog: _Catalog,
    counts: _Counts,
) -> None:
    by_gid = {record.gid: record for record in records}  # a repeated gid: the last one wins
    records = list(by_gid.values())
    existing = {
        order.shopify_gid: order
        for order in session.exec(select(Order).where(col(Order.shopify_gid).in_(list(by_gid))))
    }
    stored_lines: dict[int, list[_LineRow]] = {_pk(order): [] for order in existing.values()}
    if stored_lines:
        for line in session.exec(
            select(OrderLine)
            .where(col(OrderLine.order_id).in_(list(stored_lines)))
            .order_by(OrderLine.order_id, OrderLine.id)
        ):
            stored_lines[line.order_id].append(_line_row(line))
    customer_ids = _resolve_customers(session, records, now, counts)
    catalog.prefetch(records)

    created: dict[str, tuple[dict[str, Any], list[_LineRow]]] = {}
    replaced: list[tuple[int, list[_LineRow]]] = []
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
        stale = order.updated_at > record.updated_at
        same = stored_lines[_pk(order)] == lines and all(
            getattr(order, name) == value for name, value in values.items()
        )
        if stale or same:
            counts.orders_unchanged += 1
            continue
        counts.affected.update(c for c in (order.customer_id, customer_id) if c is not None)
        counts.affected_products.update(
            line[0] for line in [*stored_lines[_pk(order)], *lines] if line[0] is not None
        )
        for name, value in values.items():
            setattr(order, name, value)
        replaced.append((_pk(order), lines))
        counts.orders_updated += 1
    session.flush()
    new_lines: list[tuple[int, list[_LineRow]]] = []
    if created:
        # Core INSERT ... RETURNING: ORM objects (or ORM bulk inserts) cost more than the SQL
        table = Order.__table__
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
        session.execute(insert(OrderLine.__table__), rows)


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
    }


def _line_row(line: OrderLine) -> _LineRow:
    return (
        line.product_id,
        line.variant_id,
        line.quantity,
        line.unit_price_cents,
        line.title,
        line.sku,
    )


def _line_dict(order_id: int | None, line: _LineRow) -> dict[str, Any]:
    product_id, variant_id, quantity, unit_price_cents, title, sku = line
    return {
        "order_id": order_id,
        "product_id": product_id,
        "variant_id": variant_id,
        "quantity": quantity,
        "unit_price_cents": unit_price_cents,
        "title": title,
        "sku": sku,
    }


_CUSTOMER_COLUMNS = (
    Customer.id,
    Customer.shopify_gid,
    Customer.email,
    Customer.phone,
    Customer.first_name,
)


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
    for values, column, index in (
        (gids, Customer.shopify_gid, by_gid),
        (emails, Customer.email, by_email),
        (phones, Customer.phone, by_phone),
    ):
        if not values:
            continue
        query = select(*_CUSTOMER_COLUMNS).where(col(column).in_(sorted(values)))
        for row in session.exec(query.order_by(newest_first)):
            known = by_gid.get(row[1] or "") or _KnownCustomer(*row)
            key = {"shopify_gid": row[1], "email": row[2], "phone": row[3]}[column.key]
            index.setdefault(key or "", known)

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
            insert(Customer.__table__).returning(Customer.__table__.c.id),
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
            update(Customer.__table__).where(Customer.__table__.c.id == customer.id).values(fields)
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


class _Catalog:
    """Matches lines to products and variants, creating a product when nothing matches.

    Lookups are cached per key; the cache is dropped when it grows past a bound, so a file of
    endless distinct titles costs queries, not memory.
    """

    _CACHE_LIMIT = 50_000

    def __init__(self, session: Session, now: datetime, counts: _Counts) -> None:
        self._session = session
        self._now = now
        self._counts = counts
        self._cache: dict[tuple[str, str], _Match | None] = {}

    def prefetch(self, records: Iterable[OrderRecord]) -> None:
        """Look up every variant gid of a batch in one query instead of one per variant."""
        wanted = {
            item.variant_gid
            for record in records
            for item in record.lines
            if item.variant_gid and ("variant", item.variant_gid) not in self._cache
        }
        if not wanted:
            return
        if len(self._cache) + len(wanted) >= self._CACHE_LIMIT:
            self._cache.clear()
        for gid in wanted:
            self._cache[("variant", gid)] = None
        query = select(Variant.shopify_gid, Variant.product_id, Variant.id).where(
            col(Variant.shopify_gid).in_(sorted(wanted))
        )
        for gid, product_id, variant_id in self._session.exec(query):
            self._cache[("variant", gid)] = (product_id, variant_id)

    def line_row(self, item: LineItemRecord) -> _LineRow:
        product_id, variant_id = self.match(item)
        return (product_id, variant_id, item.quantity, item.unit_price_cents, item.title, item.sku)

    def match(self, item: LineItemRecord) -> _Match:
        """By variant/product gid, else by SKU, else by title; created when all of them miss."""
        if item.product_gid:
            return self._match_shopify(item)
        keys = [
            ("variant", item.variant_gid),
            ("product", item.product_gid),
            ("sku", item.sku),
            ("title", item.title.strip().casefold()),
        ]
        for kind, key in keys:
            if not key:
                continue
            if (kind, key) not in self._cache:
                if len(self._cache) >= self._CACHE_LIMIT:
                    self._cache.clear()
                self._cache[(kind, key)] = self._lookup(kind, key, item)
            found = self._cache[(kind, key)]
            if found is not None:
                return found
        created = self._create(item)
        for kind, key in keys[2:]:
            if key:
                self._cache[(kind, key)] = created
        return created

    def _cached(self, kind: str, key: str, item: LineItemRecord) -> _Match | None:
        if (kind, key) not in self._cache:
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            self._cache[(kind, key)] = self._lookup(kind, key, item)
        return self._cache[(kind, key)]

    def _match_shopify(self, item: LineItemRecord) -> _Match:
        """A line from Shopify names its product (and variant) by gid: trust the ids, never a
        title. A product the catalog has not synced yet gets a stub under its real gid, which the
        catalog sync then fills in, so the order's history stays on the real product."""
        assert item.product_gid is not None
        if item.variant_gid and (found := self._cached("variant", item.variant_gid, item)):
            return found
        product = self._cached("product", item.product_gid, item)
        stubbed = product is None
        if product is None:
            product = (self._stub_product(item), None)
            self._cache[("product", item.product_gid)] = product
        if not item.variant_gid:
            return product
        # a variant missing from a product we synced was deleted: keep it, but never offer it
        variant_id = self._stub_variant(product[0], item, available=stubbed)
        self._cache[("variant", item.variant_gid)] = (product[0], variant_id)
        return product[0], variant_id

    def _stub_product(self, item: LineItemRecord) -> int:
        assert item.product_gid is not None
        title = item.title.strip() or item.sku or "Untitled product"
        returned = self._session.execute(
            insert(Product.__table__).returning(Product.__table__.c.id),
            {
                "shopify_gid": item.product_gid,
                "shopify_id": gid_tail(item.product_gid),
                "title": title,
                "handle": _slug(title),
                "status": "active",
                "updated_at": STUB_UPDATED_AT,  # older than anything the catalog sync brings
            },
        )
        self._counts.products_created += 1
        return returned.scalar_one()

    def _stub_variant(self, product_id: int, item: LineItemRecord, *, available: bool) -> int:
        assert item.variant_gid is not None
        returned = self._session.execute(
            insert(Variant.__table__).returning(Variant.__table__.c.id),
            {
                "shopify_gid": item.variant_gid,
                "shopify_id": gid_tail(item.variant_gid) or 0,
                "product_id": product_id,
                "title": "Default Title",
                "sku": item.sku,
                "price_cents": item.unit_price_cents,
                "available": available,
                "position": 0,
            },
        )
        return returned.scalar_one()

    def _lookup(self, kind: str, key: str, item: LineItemRecord) -> _Match | None:
        session = self._session
        if kind == "variant":
            variant = session.exec(select(Variant).where(Variant.shopify_gid == key)).first()
            return (variant.product_id, variant.id) if variant else None
        if kind == "product":
            product = session.exec(select(Product).where(Product.shopify_gid == key)).first()
            return (_pk(product), self._only_variant(_pk(product))) if product else None
        if kind == "sku":
            query = (
                select(Variant.product_id, Variant.id)
                .join(Product, Product.id == Variant.product_id)
                .where(Variant.sku == key)
                .order_by(_active_first(), Variant.id)
            )
            row = session.exec(query).first()
            return (row[0], row[1]) if row else None
        return self._lookup_title(item.title.strip())

    def _lookup_title(self, title: str) -> _Match | None:
        """The whole title, then shorter prefixes before " - " (Shopify's "Product - Variant")."""
        for product_title, variant_title in _title_splits(title):
            query = (
                select(Product)
                .where(func.lower(Product.title) == product_title.lower())
                .order_by(_active_first(), Product.id)
            )
            product = self._session.exec(query).first()
            if product is None:
                continue
            if variant_title is None:
                return _pk(product), self._only_variant(_pk(product))
            variant = self._session.exec(
                select(Variant.id).where(
                    Variant.product_id == product.id,
                    func.lower(Variant.title) == variant_title.lower(),
                )
            ).first()
            if variant is None and product.shopify_gid.startswith(PLACEHOLDER_PRODUCT_PREFIX):
                variant = self._create_variant(_pk(product), title, variant_title, None, None)
            return _pk(product), variant
        return None

    def _only_variant(self, product_id: int) -> int | None:
        ids = self._session.exec(
            select(Variant.id).where(Variant.product_id == product_id).limit(2)
        ).all()
        return ids[0] if len(ids) == 1 else None

    def _create(self, item: LineItemRecord) -> _Match:
        """A product (and variant) for a line the catalog lacks, so its history still counts."""
        title = item.title.strip() or (item.sku or "")
        variant = self._session.exec(
            select(Variant).where(
                Variant.shopify_gid == f"{PLACEHOLDER_VARIANT_PREFIX}{_slug(title)}"
            )
        ).first()
        if variant is not None:
            return variant.product_id, _pk(variant)
        product_title, _, variant_title = title.rpartition(" - ")
        if not product_title:
            product_title, variant_title = title, "Default Title"
        slug = _slug(product_title)
        gid = f"{PLACEHOLDER_PRODUCT_PREFIX}{slug}"
        product = self._session.exec(select(Product).where(Product.shopify_gid == gid)).first()
        if product is None:
            product = Product(
                shopify_gid=gid,
                title=product_title,
                handle=slug,
                status="active",
                updated_at=self._now,
            )
            self._session.add(product)
            self._session.flush()
            self._counts.products_created += 1
        variant_id = self._create_variant(
            _pk(product),
            title,
            variant_title,
            item.sku,
            item.unit_price_cents,
        )
        return _pk(product), variant_id

    def _create_variant(
        self,
        product_id: int,
        full_title: str,
        variant_title: str,
        sku: str | None,
        price_cents: int | None,
    ) -> int:
        gid = f"{PLACEHOLDER_VARIANT_PREFIX}{_slug(full_title)}"
        variant = self._session.exec(select(Variant).where(Variant.shopify_gid == gid)).first()
        if variant is None:
            variant = Variant(
                shopify_gid=gid,
                shopify_id=0,
                product_id=product_id,
                title=variant_title,
                sku=sku,
                price_cents=price_cents,
            )
            self._session.add(variant)
            self._session.flush()
        return _pk(variant)


def _pk(row: Order | Product | Variant) -> int:
    """The primary key of a stored (flushed) row, which is never None."""
    assert row.id is not None
    return row.id


def _active_first() -> Any:
    return case((Product.status == "active", 0), else_=1)


def _title_splits(title: str) -> Iterator[tuple[str, str | None]]:
    """("A - B - C", None), ("A - B", "C"), ("A", "B - C"): longest product title first."""
    yield title, None
    parts = title.split(" - ")
    for cut in range(len(parts) - 1, 0, -1):
        yield " - ".join(parts[:cut]), " - ".join(parts[cut:])


def _slug(text: str) -> str:
    """A handle-like slug; titles with no letters or digits get a stable hash instead."""
    slug = re.sub(r"[\W_]+", "-", text.casefold()).strip("-")[:200].rstrip("-")
    return slug or f"item-{zlib.crc32(text.encode()):08x}"
