#!/usr/bin/env python
"""Benchmark: merging 10,000 order-export placeholders into a 5,000-product Shopify catalog.

What is measured: `services.ingest.placeholder_merge.merge_placeholders` (matching, moving every row
that points at a merged placeholder, deleting the placeholders, relearning the touched intervals
and re-dating the touched customers) plus its commit, on a store built like this:

- a catalog of 5,000 Shopify products with 2 variants each (SKU'd);
- 10,000 placeholder variants on 5,000 placeholder products: 6,000 whose SKU is a catalog
  variant's, 2,000 whose product title and variant title are a catalog product's, and 2,000
  that match nothing (these stay, reported);
- 10,000 customers with ~5 orders of 2 lines each over two years (~100,000 lines, ~70% on
  placeholders), their due rows and learned intervals (`recompute_all`);
- on placeholders: 2,000 snoozes, 500 interval overrides, 200 replacement mappings, 10 of the 20
  YMAL entries, 20,000 cart events.

Each run merges into a fresh copy of that store (a file copy on SQLite, a template database on
PostgreSQL), then merges again: the second run finds nothing to merge (it reads and matches
only), which is the baseline of the ratio column. This script prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from report import print_table
from sqlalchemy import func, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from services.core.db import forget_engines, get_engine, migrate
from services.core.tables import (
    CartEvent,
    CartLink,
    Customer,
    DueItem,
    Order,
    OrderLine,
    Product,
    Shop,
    Snooze,
    Variant,
    YmalItem,
)
from services.engine import percentile
from services.engine.recompute import recompute_all
from services.ingest.placeholder_merge import PlaceholderMergeReport, merge_placeholders

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
PRODUCTS = 5_000
BY_SKU = 3_000  # placeholder products (2 variants each) matching by SKU
BY_TITLE = 1_000  # ... by title and variant title
UNMATCHED = 1_000  # ... matching nothing
CUSTOMERS = 10_000
CHUNK = 5_000


def _insert(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(model), rows[start : start + CHUNK])


def build_store(url: str, seed: int) -> dict[str, int]:
    """Migrate `url` and fill it; returns the row counts for the header."""
    rng = random.Random(seed)
    migrate(url)
    products: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    for n in range(1, PRODUCTS + 1):
        products.append(
            {
                "id": n,
                "shopify_gid": f"gid://shopify/Product/{n}",
                "shopify_id": n,
                "title": f"Product {n:05d}",
                "handle": f"product-{n:05d}",
                "updated_at": NOW,
            }
        )
        for size in (1, 2):
            variants.append(
                {
                    "id": n * 2 + size - 2,
                    "shopify_gid": f"gid://shopify/ProductVariant/{n * 10 + size}",
                    "shopify_id": n * 10 + size,
                    "product_id": n,
                    "title": f"Size {size}",
                    "sku": f"BM-{n:05d}-{size}",
                    "price_cents": 900 + n,
                    "position": size - 1,
                }
            )
    placeholder_variants: list[int] = []
    placeholder_products: list[int] = []
    product_id, variant_id = PRODUCTS, PRODUCTS * 2
    groups = [("sku", BY_SKU), ("title", BY_TITLE), ("none", UNMATCHED)]
    real = 0
    for kind, count in groups:
        for k in range(count):
            product_id += 1
            real += 1
            title = {
                "sku": f"Old name {k:05d}",
                "title": f"Product {real:05d}",
                "none": f"Discontinued {k:05d}",
            }[kind]
            slug = title.lower().replace(" ", "-")
            products.append(
                {
                    "id": product_id,
                    "shopify_gid": f"csv-product:{slug}",
                    "shopify_id": None,
                    "title": title,
                    "handle": slug,
                    "updated_at": NOW,
                    "interval_override_days": 40.0 if rng.random() < 0.1 else None,
                }
            )
            placeholder_products.append(product_id)
            for size in (1, 2):
                variant_id += 1
                variants.append(
                    {
                        "id": variant_id,
                        "shopify_gid": f"csv-variant:{slug}-size-{size}",
                        "shopify_id": 0,
                        "product_id": product_id,
                        "title": f"Size {size}",
                        "sku": f"BM-{real:05d}-{size}" if kind == "sku" else None,
                        "price_cents": 900,
                        "position": 0,
                    }
                )
                placeholder_variants.append(variant_id)
    owner = {v["id"]: v["product_id"] for v in variants}
    customers, orders, lines = [], [], []
    order_id = 0
    for customer_id in range(1, CUSTOMERS + 1):
        customers.append(
            {"id": customer_id, "email": f"c{customer_id}@example.com", "created_at": NOW}
        )
        favourites = [
            rng.choice(placeholder_variants) if rng.random() < 0.7 else rng.randrange(1, 10_001)
            for _ in range(3)
        ]
        for _ in range(max(1, round(rng.gauss(5, 2)))):
            order_id += 1
            at = NOW - timedelta(seconds=rng.uniform(3_600, 730 * 86_400))
            orders.append(
                {
                    "id": order_id,
                    "shopify_gid": f"gid://shopify/Order/{order_id}",
                    "customer_id": customer_id,
                    "processed_at": at,
                    "updated_at": at,
                    "source": "csv",
                    "custom_attributes": {},
                }
            )
            for variant in rng.sample(favourites, 2):
                lines.append(
                    {
                        "order_id": order_id,
                        "product_id": owner[variant],
                        "variant_id": variant,
                        "quantity": 1,
                        "title": "",
                    }
                )
    with Session(get_engine(url)) as session:
        session.add(Shop(shop_domain="bench.myshopify.com", updated_at=NOW))
        _insert(session, Product, products)
        _insert(session, Variant, variants)
        _insert(session, Customer, customers)
        _insert(session, Order, orders)
        _insert(session, OrderLine, lines)
        session.flush()
        recompute_all(session, NOW)
        _insert(
            session,
            CartLink,
            [
                {"id": c, "customer_id": c, "token": uuid.uuid4().hex, "created_at": NOW}
                for c in range(1, CUSTOMERS + 1)
            ],
        )
        session.commit()
        _insert(
            session,
            Snooze,
            [
                {
                    "customer_id": rng.randrange(1, CUSTOMERS + 1),
                    "product_id": rng.choice(placeholder_products),
                    "until": NOW + timedelta(days=14),
                    "created_at": NOW,
                }
                for _ in range(2_000)
            ],
        )
        mapped = rng.sample(placeholder_products, 200)
        for source, target in zip(mapped, rng.sample(range(1, PRODUCTS + 1), 200), strict=True):
            session.execute(
                Product.__table__.update()  # type: ignore[attr-defined]
                .where(Product.__table__.c.id == source)  # type: ignore[attr-defined]
                .values(replacement_product_id=target)
            )
        ymal = rng.sample(placeholder_products[: (BY_SKU + BY_TITLE)], 10) + list(range(1, 11))
        _insert(session, YmalItem, [{"product_id": p, "position": i} for i, p in enumerate(ymal)])
        _insert(
            session,
            CartEvent,
            [
                {
                    "cart_link_id": (c := rng.randrange(1, CUSTOMERS + 1)),
                    "customer_id": c,
                    "kind": "add",
                    "variant_id": rng.choice(placeholder_variants),
                    "occurred_at": NOW - timedelta(days=rng.randrange(300)),
                }
                for _ in range(20_000)
            ],
        )
        session.commit()
        counts = {
            "orders": len(orders),
            "lines": len(lines),
            "due rows": session.exec(select(func.count()).select_from(DueItem)).one(),
            "placeholders": len(placeholder_variants),
        }
    if make_url(url).get_backend_name() == "postgresql":
        with get_engine(url).begin() as connection:
            connection.execute(text("ANALYZE"))
    get_engine(url).dispose()
    return counts


def timed_merge(url: str) -> tuple[float, PlaceholderMergeReport]:
    with Session(get_engine(url), expire_on_commit=False) as session:
        started = time.perf_counter()
        report = merge_placeholders(session, NOW)
        session.commit()
        seconds = time.perf_counter() - started
    return seconds, report


@contextmanager
def store_copies(
    database_url: str | None, runs: int, seed: int
) -> Iterator[tuple[list[str], dict[str, int]]]:
    """A built store, and `runs` fresh copies of it to merge into; all removed afterwards."""
    if database_url is None or make_url(database_url).get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="repeatcart-merge-") as tmp:
            base = Path(tmp) / "store.db"
            counts = build_store(f"sqlite:///{base}", seed)
            urls = []
            for run in range(runs):
                copy = Path(tmp) / f"run-{run}.db"
                shutil.copyfile(base, copy)
                urls.append(f"sqlite:///{copy}")
            try:
                yield urls, counts
            finally:
                forget_engines()
        return
    parsed = make_url(database_url)
    admin = get_engine(database_url).execution_options(isolation_level="AUTOCOMMIT")
    prefix = f"repeatcart_merge_{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_base"] + [f"{prefix}_run{run}" for run in range(runs)]
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{names[0]}"'))
    base_url = parsed.set(database=names[0]).render_as_string(hide_password=False)
    try:
        counts = build_store(base_url, seed)
        forget_engines()
        admin = get_engine(database_url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in names[1:]:
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{names[0]}"'))
        yield (
            [parsed.set(database=n).render_as_string(hide_password=False) for n in names[1:]],
            counts,
        )
    finally:
        forget_engines()
        admin = get_engine(database_url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server URL (throwaway databases are created and dropped); "
        "default: temporary SQLite files",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed merges (default 3)")
    parser.add_argument("--seed", type=int, default=5, help="random seed (default 5)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs >= 1")

    started = time.perf_counter()
    with store_copies(args.database_url, args.runs, args.seed) as (urls, counts):
        backend = make_url(urls[0]).get_backend_name()
        print(
            f"Store on {backend}: {PRODUCTS:,} catalog products ({PRODUCTS * 2:,} variants), "
            f"{counts['placeholders']:,} placeholder variants, {counts['orders']:,} orders, "
            f"{counts['lines']:,} lines, {counts['due rows']:,} due rows "
            f"(built in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        first: list[float] = []
        again: list[float] = []
        report = repeat = PlaceholderMergeReport()
        for url in urls:
            seconds, report = timed_merge(url)
            first.append(seconds)
            seconds, repeat = timed_merge(url)
            again.append(seconds)
            get_engine(url).dispose()
    print(
        f"Merge: {report.merged:,} placeholders merged, {report.products_removed:,} placeholder "
        f"products removed, {report.unmatched:,} unmatched, {report.ambiguous:,} ambiguous; "
        f"due dates: {report.recompute}. Second run: {repeat.merged} merged."
    )
    print()
    baseline = statistics.median(again)
    print_table(
        ["phase", "runs", "median s", "p95 s", "x second run"],
        [
            [
                label,
                str(len(samples)),
                f"{statistics.median(samples):.2f}",
                f"{percentile(samples, 95):.2f}",
                f"{statistics.median(samples) / baseline:.1f}",
            ]
            for label, samples in (
                ("merge 10k placeholders into 5k products", first),
                ("second run (nothing to merge)", again),
            )
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
