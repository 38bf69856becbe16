#!/usr/bin/env python
"""Benchmark: composing one cart from the database, against the customer's and the store's size.

What is measured: `services.cart.page.load_cart(session, token, now)` — the call behind every
cart page load — for three customers with 10, 100 and 1,000 orders (spread over ~60 products)
in a store with a 200-product catalog and many background customers (default 5,000 with ~10
orders each). Each run opens a fresh session, calls `load_cart` and closes the session, as the
cart page does, timed with `time.perf_counter`; warm-up runs are discarded.

The 100-order measurement is repeated on a second store with 10x fewer background customers, to
show that the time follows the customer's own history, not the store's.

Goal: a median of at most 5 ms at 100 orders. This script prints figures; it asserts nothing.

The database is a temporary SQLite file migrated with `services.core.db.migrate` unless
`--database-url` says otherwise. A PostgreSQL URL names a server: throwaway databases are created
on it and dropped at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from report import print_table
from sqlalchemy import event, func, insert, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, select

from services.cart.links import get_or_create_link, new_token
from services.cart.page import load_cart
from services.core.db import forget_engines, get_engine, migrate
from services.core.tables import (
    CartLink,
    Customer,
    DueItem,
    Order,
    OrderLine,
    Product,
    Shop,
    Variant,
    YmalItem,
)
from services.engine import percentile
from services.engine.recompute import recompute_all

GOAL_MS = 5.0
GOAL_ORDERS = 100
MEASURED_ORDERS = (10, 100, 1000)
MEASURED_PRODUCTS = 60
CATALOG_PRODUCTS = 200
HISTORY_DAYS = 540
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CHUNK = 5000


@dataclass(frozen=True)
class Store:
    label: str
    url: str
    background_customers: int
    orders: int
    order_lines: int
    due_rows: int
    setup_seconds: float
    tokens: dict[int, str]  # measured order count -> cart token
    due_rows_of: dict[int, int]  # measured order count -> that customer's due rows


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    queries: int


# --- building a store -------------------------------------------------------------------------


class _Ids:
    """Explicit primary keys, so bulk inserts need no RETURNING round trip."""

    def __init__(self) -> None:
        self.customer = 0
        self.order = 0

    def next_customer(self) -> int:
        self.customer += 1
        return self.customer

    def next_order(self) -> int:
        self.order += 1
        return self.order


def _insert_chunked(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(model), rows[start : start + CHUNK])


def _catalog(session: Session, rng: random.Random) -> dict[int, list[tuple[int, int]]]:
    """200 products with 2-4 variants; returns product id -> [(variant id, price cents)]."""
    products: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    by_product: dict[int, list[tuple[int, int]]] = {}
    variant_id = 0
    for product_id in range(1, CATALOG_PRODUCTS + 1):
        archived = product_id % 41 == 0
        replacement = product_id - 1 if product_id % 50 == 0 else None
        products.append(
            {
                "id": product_id,
                "shopify_gid": f"gid://shopify/Product/{7_000_000 + product_id}",
                "shopify_id": 7_000_000 + product_id,
                "title": f"Product {product_id:03d}",
                "handle": f"product-{product_id:03d}",
                "status": "archived" if archived else "active",
                "image_url": f"/demo-images/product-{product_id:03d}.svg",
                "interval_override_days": 45.0 if product_id % 37 == 0 else None,
                "replacement_product_id": replacement,
                "updated_at": NOW,
            }
        )
        by_product[product_id] = []
        for position in range(rng.randint(2, 4)):
            variant_id += 1
            price = rng.randrange(800, 7900)
            variants.append(
                {
                    "id": variant_id,
                    "shopify_gid": f"gid://shopify/ProductVariant/{41_000_000 + variant_id}",
                    "shopify_id": 41_000_000 + variant_id,
                    "product_id": product_id,
                    "title": f"Size {position + 1}",
                    "sku": f"BM-{product_id:03d}-{position + 1}",
                    "price_cents": price,
                    "available": rng.random() > 0.05,
                    "image_url": None,
                    "position": position,
                }
            )
            by_product[product_id].append((variant_id, price))
    _insert_chunked(session, Product, products)
    _insert_chunked(session, Variant, variants)
    session.execute(
        insert(YmalItem),
        [{"product_id": pid, "position": i} for i, pid in enumerate((3, 17, 42, 88, 120, 160))],
    )
    return by_product


def _customer_row(customer_id: int, created: datetime) -> dict[str, Any]:
    return {
        "id": customer_id,
        "shopify_gid": f"gid://shopify/Customer/{6_000_000 + customer_id}",
        "email": f"customer{customer_id}@example.com",
        "phone": None,
        "first_name": "Pat",
        "last_name": f"Customer{customer_id}",
        "created_at": created,
    }


def _orders_for(
    customer_id: int,
    count: int,
    favourites: list[int],
    catalog: dict[int, list[tuple[int, int]]],
    rng: random.Random,
    ids: _Ids,
    orders: list[dict[str, Any]],
    lines: list[dict[str, Any]],
) -> datetime:
    """Append `count` orders of the customer, spread over the history; returns the first time."""
    span = HISTORY_DAYS * 86_400
    moments = sorted(NOW - timedelta(seconds=rng.uniform(3_600, span)) for _ in range(count))
    per_order = min(3, len(favourites))
    for at in moments:
        order_id = ids.next_order()
        picked = rng.sample(favourites, rng.randint(1, per_order))
        total = 0
        for product_id in picked:
            variant_id, price = catalog[product_id][0]
            quantity = 1 if rng.random() < 0.85 else 2
            total += price * quantity
            lines.append(
                {
                    "order_id": order_id,
                    "product_id": product_id,
                    "variant_id": variant_id,
                    "quantity": quantity,
                    "unit_price_cents": price,
                    "title": f"Product {product_id:03d}",
                    "sku": None,
                }
            )
        roll = rng.random()
        orders.append(
            {
                "id": order_id,
                "shopify_gid": f"gid://shopify/Order/{5_000_000_000 + order_id}",
                "name": f"#{1000 + order_id}",
                "customer_id": customer_id,
                "processed_at": at,
                "updated_at": at,
                "cancelled_at": at + timedelta(hours=2) if roll < 0.02 else None,
                "financial_status": "refunded" if 0.02 <= roll < 0.03 else "paid",
                "test": False,
                "total_cents": total,
                "currency": "USD",
                "source": "demo",
                "custom_attributes": {},
                "attributed_cart_id": None,
                "attributed_channel": None,
            }
        )
    return moments[0]


def build_store(url: str, label: str, background: int, seed: int) -> Store:
    """Migrate `url`, fill it and recompute; the measured customers are the same in every store."""
    started = time.perf_counter()
    migrate(url)
    catalog_rng, measured_rng, background_rng = (random.Random(seed + k) for k in range(3))
    ids = _Ids()
    customers: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    measured_ids: dict[int, int] = {}
    with Session(get_engine(url), expire_on_commit=False) as session:
        session.add(
            Shop(
                shop_domain="bench-repeatcart.myshopify.com",
                name="Benchmark Pantry",
                banner_text="10% off your reorder",
                discount_code="REORDER10",
                updated_at=NOW,
            )
        )
        session.flush()
        catalog = _catalog(session, catalog_rng)
        product_ids = list(catalog)
        weights = [1.0 / (rank + 1) ** 0.6 for rank in range(len(product_ids))]

        range_products = measured_rng.sample(product_ids, MEASURED_PRODUCTS)
        for count in MEASURED_ORDERS:
            customer_id = ids.next_customer()
            measured_ids[count] = customer_id
            first = _orders_for(
                customer_id, count, range_products, catalog, measured_rng, ids, orders, lines
            )
            customers.append(_customer_row(customer_id, first - timedelta(minutes=5)))

        for _ in range(background):
            customer_id = ids.next_customer()
            favourites: set[int] = set()
            wanted = background_rng.randint(2, 5)
            while len(favourites) < wanted:
                favourites.add(background_rng.choices(product_ids, weights=weights)[0])
            count = max(1, round(background_rng.gauss(10, 3)))
            first = _orders_for(
                customer_id,
                count,
                sorted(favourites),
                catalog,
                background_rng,
                ids,
                orders,
                lines,
            )
            customers.append(_customer_row(customer_id, first - timedelta(minutes=5)))

        _insert_chunked(session, Customer, customers)
        _insert_chunked(session, Order, orders)
        _insert_chunked(session, OrderLine, lines)
        session.flush()
        recompute_all(session, NOW)
        measured = set(measured_ids.values())
        links = [
            {"customer_id": row["id"], "token": new_token(), "created_at": NOW}
            for row in customers
            if row["id"] not in measured
        ]
        _insert_chunked(session, CartLink, links)
        tokens = {
            count: get_or_create_link(session, customer_id).token
            for count, customer_id in measured_ids.items()
        }
        session.commit()
        due_rows = session.exec(select(func.count()).select_from(DueItem)).one()
        due_rows_of = {
            count: session.exec(
                select(func.count()).select_from(DueItem).where(DueItem.customer_id == cid)
            ).one()
            for count, cid in measured_ids.items()
        }
    if make_url(url).get_backend_name() == "postgresql":
        with get_engine(url).begin() as connection:
            connection.execute(text("ANALYZE"))
    return Store(
        label=label,
        url=url,
        background_customers=background,
        orders=len(orders),
        order_lines=len(lines),
        due_rows=int(due_rows),
        setup_seconds=time.perf_counter() - started,
        tokens=tokens,
        due_rows_of={k: int(v) for k, v in due_rows_of.items()},
    )


# --- measuring --------------------------------------------------------------------------------


@contextmanager
def count_statements(engine: Engine) -> Iterator[Callable[[], int]]:
    calls = 0

    def before(*_args: Any) -> None:
        nonlocal calls
        calls += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield lambda: calls
    finally:
        event.remove(engine, "before_cursor_execute", before)


def measure(url: str, token: str, runs: int, warmup: int) -> Timing:
    engine = get_engine(url)
    for _ in range(warmup):
        with Session(engine) as session:
            if load_cart(session, token, NOW) is None:
                raise RuntimeError("the measured cart link did not resolve")
    with count_statements(engine) as statements, Session(engine) as session:
        load_cart(session, token, NOW)
        queries = statements()
    samples: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        with Session(engine) as session:
            load_cart(session, token, NOW)
        samples.append((time.perf_counter() - start) * 1000)
    return Timing(statistics.median(samples), percentile(samples, 95), queries)


def explain_statements(url: str, token: str) -> list[tuple[float, str]]:
    """Each statement one load issues, with its own time in ms (median of 20 loads)."""
    engine = get_engine(url)
    per_statement: dict[int, list[float]] = {}
    texts: dict[int, str] = {}
    started: list[float] = []
    index = 0

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        nonlocal index
        texts.setdefault(index, " ".join(statement.split()))
        started.append(time.perf_counter())

    def after(*_args: Any) -> None:
        nonlocal index
        per_statement.setdefault(index, []).append((time.perf_counter() - started.pop()) * 1000)
        index += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        for _ in range(20):
            index = 0
            with Session(engine) as session:
                load_cart(session, token, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    return [(statistics.median(per_statement[i]), texts[i]) for i in sorted(per_statement)]


def profile(url: str, token: str, loads: int = 200, top: int = 25) -> str:
    engine = get_engine(url)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(loads):
        with Session(engine) as session:
            load_cart(session, token, NOW)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --- databases --------------------------------------------------------------------------------


@contextmanager
def databases(database_url: str | None, names: list[str]) -> Iterator[list[str]]:
    """One fresh database URL per name; temporary ones are removed afterwards."""
    if database_url is None:
        with tempfile.TemporaryDirectory(prefix="repeatcart-bench-") as tmp:
            urls = [f"sqlite:///{Path(tmp) / f'{name}.db'}" for name in names]
            try:
                yield urls
            finally:
                for url in urls:
                    get_engine(url).dispose()
        return
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise SystemExit("--database-url: give SQLite as a file, e.g. sqlite:////tmp/b.db")
        base = Path(parsed.database)
        paths = [base] + [base.with_name(f"{base.stem}-{name}{base.suffix}") for name in names[1:]]
        existing = [str(path) for path in paths if path.exists()]
        if existing:
            raise SystemExit(f"refusing to reuse existing files: {', '.join(existing)}")
        yield [f"sqlite:///{path}" for path in paths]
        return
    admin = get_engine(database_url).execution_options(isolation_level="AUTOCOMMIT")
    created = [f"repeatcart_bench_{uuid.uuid4().hex[:8]}_{name}" for name in names]
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    urls = [parsed.set(database=name).render_as_string(hide_password=False) for name in created]
    try:
        yield urls
    finally:
        for url in urls:
            get_engine(url).dispose()
        forget_engines()
        with admin.connect() as connection:
            for name in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- output -----------------------------------------------------------------------------------


def describe(store: Store) -> str:
    return (
        f"{store.label}: {store.background_customers + len(MEASURED_ORDERS):,} customers, "
        f"{store.orders:,} orders, {store.order_lines:,} order lines, {store.due_rows:,} due rows, "
        f"built in {store.setup_seconds:.1f} s"
    )


def goal_note(orders: int, median_ms: float) -> str:
    if orders != GOAL_ORDERS:
        return ""
    verdict = "met" if median_ms <= GOAL_MS else "NOT met"
    return f"goal ≤ {GOAL_MS:g} ms median: {verdict}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLite file URL (must not exist; the small store goes beside it) or a PostgreSQL "
        "server URL (throwaway databases are created and dropped); default: a temp SQLite file",
    )
    parser.add_argument(
        "--runs", type=int, default=200, help="timed runs per customer (default 200)"
    )
    parser.add_argument(
        "--warmup", type=int, default=10, help="untimed warm-up runs first (default 10)"
    )
    parser.add_argument(
        "--customers", type=int, default=5000, help="background customers of store A (default 5000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the stores (default 1)")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="also time each SQL statement of one load (on SQLite the cursor's execute covers "
        "only the first row; PostgreSQL's covers the whole result)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of 200 loads at 100 orders"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.customers < 10:
        parser.error("--runs >= 1, --warmup >= 0 and --customers >= 10")

    with databases(args.database_url, ["large", "small"]) as (large_url, small_url):
        backend = make_url(large_url).get_backend_name()
        print(f"Building stores on {backend} ...", flush=True)
        large = build_store(large_url, "store A", args.customers, args.seed)
        print(describe(large), flush=True)
        small = build_store(small_url, "store B", args.customers // 10, args.seed)
        print(describe(small), flush=True)

        timings = {
            count: measure(large_url, large.tokens[count], args.runs, args.warmup)
            for count in MEASURED_ORDERS
        }
        small_timing = measure(small_url, small.tokens[GOAL_ORDERS], args.runs, args.warmup)

        print()
        print(
            f"load_cart on {backend}, {describe(large).split(':')[0]}: "
            f"{args.runs} timed runs after {args.warmup} warm-up, one fresh session per run"
        )
        base = timings[MEASURED_ORDERS[0]].median_ms
        print_table(
            ["orders", "due rows", "queries", "median ms", "p95 ms", "ratio to 10", ""],
            [
                [
                    f"{count:,}",
                    str(large.due_rows_of[count]),
                    str(t.queries),
                    f"{t.median_ms:.2f}",
                    f"{t.p95_ms:.2f}",
                    f"{t.median_ms / base:.2f}x",
                    goal_note(count, t.median_ms),
                ]
                for count, t in timings.items()
            ],
        )
        print()
        print(f"The {GOAL_ORDERS}-order customer in a store 10x smaller (same customer history):")
        print_table(
            ["store", "customers", "orders", "median ms", "p95 ms", ""],
            [
                [
                    store.label,
                    f"{store.background_customers + len(MEASURED_ORDERS):,}",
                    f"{store.orders:,}",
                    f"{t.median_ms:.2f}",
                    f"{t.p95_ms:.2f}",
                    goal_note(GOAL_ORDERS, t.median_ms),
                ]
                for store, t in ((large, timings[GOAL_ORDERS]), (small, small_timing))
            ],
        )
        print(
            f"store A / store B median at {GOAL_ORDERS} orders: "
            f"{timings[GOAL_ORDERS].median_ms / small_timing.median_ms:.2f}x"
        )

        if args.statements:
            count = MEASURED_ORDERS[-1]
            print()
            print(f"Statements of one load, {count:,}-order customer, store A (median of 20):")
            for ms, statement in explain_statements(large_url, large.tokens[count]):
                print(f"  {ms:6.3f} ms  {statement[:160]}")
        if args.profile:
            print()
            print(f"cProfile of 200 loads, {GOAL_ORDERS}-order customer, store A:")
            print(profile(large_url, large.tokens[GOAL_ORDERS]))


if __name__ == "__main__":
    main()
