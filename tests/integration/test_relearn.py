"""An order re-dates only its own customer; the worker relearns intervals and re-dates the
other buyers later, a few customers per transaction, on SQLite and PostgreSQL.

The store: eight customers bought Coffee twice, four 20 days apart and four 40 days apart, so
Coffee's learned median is 30 days. A third Coffee order by a 40-day customer moves the median
to 40 days, which moves every other buyer's due date: that is the work an order must not do in
the web process, and the worker must. Customer 1 also bought Tea once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text, update
from sqlmodel import Session, select

import services.engine.recompute as recompute
from services.core.config import get_settings
from services.core.db import get_engine, session_scope
from services.core.leases import LeaseLost, held, lease
from services.core.tables import Customer, DueItem, IntervalStat, PendingRelearn, Product, Shop
from services.engine.recompute import (
    queue_relearn,
    queued_products,
    recompute_all,
    recompute_store,
    relearn_queued,
)
from services.ingest.orders import refresh_due_dates, refresh_due_dates_in_chunks, upsert_orders
from services.shopify.records import LineItemRecord, OrderRecord
from services.shopify.webhook_protocol import sign
from services.sync.webhook_intake import process_pending_webhooks, receive_webhook
from services.worker import JOBS, run_job

SHOP = "relearn-store.myshopify.com"
SECRET = "shpss_relearn"
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
"""When the store was last recomputed; the webhook arrives a day later."""
COFFEE = "gid://shopify/Product/1"
TEA = "gid://shopify/Product/2"


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    monkeypatch.setenv("REPEATCART_SHOPIFY_SHOP", SHOP)
    monkeypatch.setenv("REPEATCART_SHOPIFY_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("REPEATCART_SHOPIFY_TOKEN", raising=False)
    monkeypatch.delenv("REPEATCART_RELEARN_MINUTES", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


# --- the store -----------------------------------------------------------------------------


def line(product_gid: str, quantity: int = 1) -> LineItemRecord:
    variant = int(product_gid.rsplit("/", 1)[1]) * 10 + 1
    return LineItemRecord(
        title="Coffee" if product_gid == COFFEE else "Tea",
        sku=None,
        quantity=quantity,
        unit_price_cents=1250,
        variant_gid=f"gid://shopify/ProductVariant/{variant}",
        product_gid=product_gid,
    )


def order(number: int, customer: int, at: datetime, *lines: LineItemRecord) -> OrderRecord:
    return OrderRecord(
        gid=f"gid://shopify/Order/{number}",
        name=f"#{number}",
        processed_at=at,
        updated_at=at,
        cancelled_at=None,
        financial_status="paid",
        test=False,
        email=f"c{customer}@example.com",
        phone=None,
        customer_gid=f"gid://shopify/Customer/{customer}",
        first_name=f"C{customer}",
        total_cents=1250,
        currency="USD",
        lines=lines,
    )


def gap(customer: int) -> int:
    return 20 if customer % 2 else 40


def first_coffee(customer: int) -> datetime:
    return T0 - timedelta(days=120 + customer)


def coffee_history(customers: int) -> list[OrderRecord]:
    """Customer n bought Coffee twice, 20 days apart (odd n) or 40 days apart (even n);
    customer 1 also bought Tea once."""
    records = []
    for n in range(1, customers + 1):
        first = first_coffee(n)
        records.append(order(1000 + n, n, first, line(COFFEE)))
        records.append(order(2000 + n, n, first + timedelta(days=gap(n)), line(COFFEE)))
    records.append(order(3001, 1, T0 - timedelta(days=5), line(TEA)))
    return records


def third_coffee(customer: int) -> OrderRecord:
    """The customer's next Coffee order, on their own cadence."""
    at = first_coffee(customer) + timedelta(days=2 * gap(customer))
    return order(4000 + customer, customer, at, line(COFFEE))


def seed(customers: int = 8) -> dict[str, int]:
    """The store, recomputed at T0; returns the Coffee product id and customer ids by gid tail."""
    with session_scope() as session:
        session.add(Shop(shop_domain=SHOP, updated_at=T0))
        upsert_orders(session, coffee_history(customers), source="shopify", now=T0, refresh=False)
        recompute_all(session, T0)
    with session_scope() as session:
        ids = {"coffee": product_id(session, COFFEE)}
        for customer in session.exec(select(Customer)):
            ids[str(customer.shopify_gid).rsplit("/", 1)[1]] = customer.id  # type: ignore[assignment]
    return ids


def product_id(session: Session, gid: str) -> int:
    found = session.exec(select(Product.id).where(Product.shopify_gid == gid)).one()
    assert found is not None
    return found


DueRows = dict[tuple[int, int], tuple[Any, ...]]


def read_due_rows(
    session: Session, *, with_computed_at: bool = True, product: int | None = None
) -> DueRows:
    """(customer, product) -> the row's fields, optionally without when it was computed."""
    query = select(DueItem)
    if product is not None:
        query = query.where(DueItem.product_id == product)
    return {
        (row.customer_id, row.product_id): (
            row.variant_id,
            row.last_purchased_at,
            row.last_quantity,
            round(row.interval_days, 6),
            row.interval_source,
            row.due_at,
            row.remind_at,
            row.late_at,
            *([row.computed_at] if with_computed_at else []),
        )
        for row in session.exec(query)
    }


def due_rows(*, with_computed_at: bool = True, product: int | None = None) -> DueRows:
    with session_scope() as session:
        return read_due_rows(session, with_computed_at=with_computed_at, product=product)


def coffee_median() -> float:
    with session_scope() as session:
        coffee = product_id(session, COFFEE)
        stat = session.get(IntervalStat, coffee)
        assert stat is not None
        return stat.median


def what_recompute_all_writes(now: datetime, product: int | None = None) -> DueRows:
    """The due rows a full single-transaction recompute would write now (then rolled back)."""
    with Session(get_engine()) as session:
        recompute_all(session, now)
        session.flush()
        rows = read_due_rows(session, with_computed_at=False, product=product)
        session.rollback()
    return rows


def deliver_order_webhook(record: OrderRecord, customer: int, now: datetime) -> None:
    """An `orders/create` webhook for `record`, received and processed as the web process does."""
    payload = {
        "id": int(record.gid.rsplit("/", 1)[1]),
        "admin_graphql_api_id": record.gid,
        "name": record.name,
        "email": record.email,
        "created_at": record.processed_at.isoformat(),
        "processed_at": record.processed_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "cancelled_at": None,
        "financial_status": "paid",
        "test": False,
        "total_price": "12.50",
        "currency": "USD",
        "customer": {"id": customer, "email": record.email, "first_name": record.first_name},
        "line_items": [
            {
                "id": 90_000 + index,
                "variant_id": int(str(item.variant_gid).rsplit("/", 1)[1]),
                "product_id": int(str(item.product_gid).rsplit("/", 1)[1]),
                "quantity": item.quantity,
                "price": "12.50",
                "title": item.title,
                "name": item.title,
                "sku": item.sku,
            }
            for index, item in enumerate(record.lines)
        ],
    }
    raw = json.dumps(payload).encode()
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Event-Id": f"evt-{record.gid}",
        "X-Shopify-Hmac-Sha256": sign(SECRET, raw),
    }
    with session_scope() as session:
        assert receive_webhook(session, headers, raw, now).outcome == "accepted"
    summary = process_pending_webhooks(now)
    assert (summary.done, summary.failed) == (1, 0)


def count_chunks(monkeypatch: pytest.MonkeyPatch, before_chunk: Callable[[int], None]) -> list[int]:
    """Wrap the per-chunk re-date: returns the chunk sizes seen; `before_chunk(n)` runs before
    the n-th chunk (1-based) starts its work."""
    sizes: list[int] = []
    real = recompute.recompute_customers

    def chunk(session: Session, ids: list[int], now: datetime) -> int:
        before_chunk(len(sizes) + 1)
        sizes.append(len(ids))
        return real(session, ids, now)

    monkeypatch.setattr(recompute, "recompute_customers", chunk)
    return sizes


def write_elsewhere(url: str, customer_id: int) -> None:
    """A concurrent writer that will not wait: it fails at once if another transaction holds
    SQLite's writer, or (PostgreSQL) a lock on this customer's due rows."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, connect_args={"timeout": 0} if sqlite else {})
    try:
        with engine.begin() as connection:
            if not sqlite:
                connection.execute(text("SET LOCAL lock_timeout = '200ms'"))
            connection.execute(
                update(DueItem)
                .where(DueItem.customer_id == customer_id)  # type: ignore[arg-type]
                .values(last_quantity=DueItem.last_quantity)
            )
    finally:
        engine.dispose()


# --- item 4: an order re-dates its own customer, the worker does the rest -------------------


def test_an_order_webhook_re_dates_only_its_customer_and_queues_the_product(env):
    ids = seed()
    before = due_rows()
    assert coffee_median() == 30

    third = third_coffee(2)
    deliver_order_webhook(third, 2, T0 + timedelta(days=1))

    after = due_rows()
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed == {(ids["2"], ids["coffee"])}, "only the ordering customer's rows change"
    assert after[(ids["2"], ids["coffee"])][1] == third.processed_at
    assert coffee_median() == 30, "relearning is left to the worker"
    with session_scope() as session:
        assert queued_products(session) == {ids["coffee"]: 1}


def test_the_relearn_job_relearns_the_product_and_re_dates_its_other_buyers(env):
    ids = seed()
    deliver_order_webhook(third_coffee(2), 2, T0 + timedelta(days=1))
    before = due_rows()

    relearn = next(job for job in JOBS if job.name == "relearn")
    assert relearn.trigger(get_settings()).interval == timedelta(minutes=5)
    assert run_job(relearn) == "ok"

    assert coffee_median() == 40
    after = due_rows()
    moved = {key for key in after if after[key][:-1] != before[key][:-1]}
    # every Coffee buyer's interval follows the product's (customer 2's own cadence is blended
    # toward it); Tea's interval is not Coffee's business
    assert moved == {(ids[str(n)], ids["coffee"]) for n in range(1, 9)}
    with session_scope() as session:
        assert queued_products(session) == {}
    coffee = ids["coffee"]
    assert due_rows(with_computed_at=False, product=coffee) == what_recompute_all_writes(
        T0, coffee
    ), "as a full recompute would have it (the store-wide median waits for the nightly run)"
    assert run_job(relearn) == "ok"  # nothing queued: nothing to do


def test_the_relearn_interval_is_a_setting(env, monkeypatch):
    monkeypatch.setenv("REPEATCART_RELEARN_MINUTES", "2")
    get_settings.cache_clear()
    relearn = next(job for job in JOBS if job.name == "relearn")
    assert relearn.trigger(get_settings()).interval == timedelta(minutes=2)
    assert relearn.lease_minutes > 0


def test_relearning_commits_each_chunk_so_other_writers_are_not_held_up(env, monkeypatch):
    ids = seed(customers=25)
    coffee = ids["coffee"]
    with session_scope() as session:
        queue_relearn(session, [coffee], T0)
    # the probe is meaningful: while a transaction holds due rows, it fails at once
    with Session(get_engine()) as holding:
        holding.execute(
            update(DueItem).where(DueItem.customer_id == ids["1"]).values(last_quantity=1)  # type: ignore[arg-type]
        )
        with pytest.raises(Exception, match="(?i)locked|lock timeout"):
            write_elsewhere(env, ids["1"])
        holding.rollback()

    written: list[int] = []
    customers = sorted(int(cid) for key, cid in ids.items() if key != "coffee")

    def between_chunks(number: int) -> None:
        if number > 1:  # a customer of the chunk just committed, written by someone else
            write_elsewhere(env, customers[(number - 1) * 10 - 1])
            written.append(number)

    sizes = count_chunks(monkeypatch, between_chunks)
    summary = relearn_queued(T0 + timedelta(days=1), chunk=10)
    assert sizes == [10, 10, 5]
    assert written == [2, 3]
    assert (summary.products, summary.customers, summary.chunks) == (1, 25, 3)


def test_a_run_that_dies_half_way_leaves_the_queue_for_the_next_run(env, monkeypatch):
    ids = seed(customers=25)
    with session_scope() as session:
        queue_relearn(session, [ids["coffee"]], T0)

    def crash(number: int) -> None:
        if number == 2:
            raise RuntimeError("the process died")

    real = recompute.recompute_customers
    sizes = count_chunks(monkeypatch, crash)
    with pytest.raises(RuntimeError):
        relearn_queued(T0 + timedelta(days=1), chunk=10)
    assert sizes == [10]
    with session_scope() as session:
        assert queued_products(session) == {ids["coffee"]: 1}, "the marker survives the crash"

    monkeypatch.setattr(recompute, "recompute_customers", real)
    relearn = next(job for job in JOBS if job.name == "relearn")
    assert run_job(relearn) == "ok"
    with session_scope() as session:
        assert queued_products(session) == {}
    assert due_rows(with_computed_at=False) == what_recompute_all_writes(T0)


def test_a_run_that_lost_its_lease_stops_and_leaves_the_queue(env):
    ids = seed(customers=12)
    with session_scope() as session:
        queue_relearn(session, [ids["coffee"]], T0)
    before = due_rows()
    with lease("relearn") as taken:
        assert taken
        held()[-1].mark_lost("another worker took it over")
        with pytest.raises(LeaseLost):
            relearn_queued(T0 + timedelta(days=1), chunk=5)
    assert due_rows() == before, "nothing written once the lease was lost"
    with session_scope() as session:
        assert queued_products(session) == {ids["coffee"]: 1}


def test_a_product_queued_again_during_a_run_stays_queued(env, monkeypatch):
    ids = seed(customers=12)
    coffee = ids["coffee"]
    with session_scope() as session:
        queue_relearn(session, [coffee], T0)

    def order_arrives(number: int) -> None:
        if number == 1:
            with session_scope() as session:
                queue_relearn(session, [coffee], T0)

    count_chunks(monkeypatch, order_arrives)
    relearn_queued(T0, chunk=5)
    with session_scope() as session:
        assert queued_products(session) == {coffee: 2}, "its new order may not have been read"
        queued = session.get(PendingRelearn, coffee)
        assert queued is not None and queued.queued_at == T0


def test_the_store_wide_recompute_in_chunks_writes_what_recompute_all_writes(env, monkeypatch):
    seed(customers=25)
    learned = coffee_median()
    with session_scope() as session:
        session.execute(update(IntervalStat).values(median=99.0))  # stale: to be relearned
    sizes = count_chunks(monkeypatch, lambda _number: None)
    summary = recompute_store(T0, chunk=7)
    assert sizes == [7, 7, 7, 4]
    assert (summary.customers, summary.products_learned) == (25, 1)
    assert coffee_median() == learned
    with session_scope() as session:
        assert queued_products(session) == {}, "its crash marker is cleared at the end"
    assert due_rows(with_computed_at=False) == what_recompute_all_writes(T0)


@pytest.mark.parametrize(("product", "mode"), [(TEA, "customers"), (COFFEE, "all")])
def test_the_import_refresh_in_chunks_matches_the_one_transaction_refresh(env, product, mode):
    """The dashboard's import refreshes in chunks (`refresh_due_dates_in_chunks`); per customer
    (Tea: two buyers of 25) and store-wide (Coffee: everyone) it ends where `refresh_due_dates`
    does, in one transaction, would."""
    seed(customers=25)
    later = T0 + timedelta(days=2)
    news = [order(5002, 2, T0 - timedelta(days=1), line(product, quantity=2))]
    with session_scope() as session:
        summary = upsert_orders(session, news, source="csv", now=later, refresh=False)
        product_ids = {product_id(session, product)}
    customers = summary.affected_customer_ids
    assert summary.affected_product_ids == product_ids

    with Session(get_engine()) as session:
        assert refresh_due_dates(session, customers, later, product_ids) == mode
        session.flush()
        expected = {
            (row.customer_id, row.product_id): round(row.interval_days, 6)
            for row in session.exec(select(DueItem))
        }
        expected_median = coffee_median_in(session)
        session.rollback()

    assert refresh_due_dates_in_chunks(customers, later, product_ids) == mode
    assert {key: value[3] for key, value in due_rows().items()} == expected
    assert coffee_median() == expected_median
    with session_scope() as session:
        assert queued_products(session) == {}


def coffee_median_in(session: Session) -> float:
    stat = session.get(IntervalStat, product_id(session, COFFEE))
    assert stat is not None
    return stat.median
