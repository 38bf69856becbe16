#!/usr/bin/env python
"""Benchmark: importing a large Shopify order export CSV into a fresh SQLite database.

What is measured: a generated export (default 200,000 rows: ~60,000 orders of a few lines each,
~5,000 customers, dates over two years with several UTC offsets, some multi-line Note
Attributes, ~10% of lines without SKU matched by name, a few unknown products) imported into a
freshly migrated SQLite file that holds a 150-product catalog.

Phases, timed with `time.perf_counter`, in one process:
- parse only: `read_order_export` over the file, no database (the baseline of the ratio column);
- upsert: reading plus `upsert_orders(..., refresh=False)`, the database writes;
- due refresh: `refresh_due_dates` (a first import relearns every interval);
- then, unless `--no-tracemalloc`, the whole `import_order_export` again into a second fresh
  database under `tracemalloc`, for the peak of Python allocations (tracemalloc slows it down,
  so that run's time is not comparable).
`ru_maxrss` is the process's peak resident size so far (it never goes down).

The import must stream: memory should follow the batch size, not the file. Compare the
tracemalloc peak of `--rows 20000` with the default. This script prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, insert
from sqlmodel import Session, select

from services.core.db import get_engine, migrate
from services.core.tables import DueItem, Order, OrderLine, Product, Shop, Variant
from services.ingest.orders import import_order_export, refresh_due_dates, upsert_orders
from services.shopify.order_export import (  # noqa: E402
    EXPORT_COLUMNS,
    OrderExportReader,
    open_order_export,
    read_order_export,
)
from services.shopify.records import OrderRecord

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
CATALOG_PRODUCTS = 150
ROWS_PER_ORDER = 200_000 / 60_000
ROWS_PER_CUSTOMER = 200_000 / 5_000
HEADER = EXPORT_COLUMNS
OFFSETS = [timezone(timedelta(hours=h)) for h in (-8, -5, 0, 1, 2, 10)]


def generate_export(path: Path, rows: int, seed: int = 11) -> tuple[int, int]:
    """Write an export of about `rows` rows; returns (orders, customers)."""
    rng = random.Random(seed)
    customers = max(1, round(rows / ROWS_PER_CUSTOMER))
    orders = 0
    written = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        while written < rows:
            orders += 1
            customer = rng.randrange(customers)
            tz = OFFSETS[customer % len(OFFSETS)]
            placed = (NOW - timedelta(seconds=rng.uniform(3600, 730 * 86_400))).astimezone(tz)
            count = min(rows - written, max(1, round(rng.gauss(ROWS_PER_ORDER, 1.2))))
            lines = [_line(rng) for _ in range(count)]
            total = sum(price * quantity for _, _, price, quantity in lines)
            attributes = (
                f"_repeatcart_cart: {rng.randrange(1, 5000)}\n_repeatcart_channel: klaviyo"
                if rng.random() < 0.05
                else ""
            )
            for index, (title, sku, price, quantity) in enumerate(lines):
                row = dict.fromkeys(HEADER, "")
                row.update(
                    {
                        "Name": f"#{1000 + orders}",
                        "Lineitem quantity": str(quantity),
                        "Lineitem name": title,
                        "Lineitem price": f"{price / 100:.2f}",
                        "Lineitem sku": sku,
                        "Lineitem requires shipping": "true",
                    }
                )
                if index == 0:
                    row.update(
                        {
                            "Email": f"customer{customer}@example.com",
                            "Financial Status": "refunded" if rng.random() < 0.02 else "paid",
                            "Paid at": placed.strftime("%Y-%m-%d %H:%M:%S %z"),
                            "Created at": placed.strftime("%Y-%m-%d %H:%M:%S %z"),
                            "Currency": "USD",
                            "Subtotal": f"{total / 100:.2f}",
                            "Total": f"{total / 100:.2f}",
                            "Billing Name": f"Pat Customer{customer}",
                            "Note Attributes": attributes,
                            "Id": str(5_000_000_000 + orders),
                            "Source": "web",
                        }
                    )
                writer.writerow([row[column] for column in HEADER])
                written += 1
    return orders, customers


def _line(rng: random.Random) -> tuple[str, str, int, int]:
    roll = rng.random()
    if roll < 0.02:
        n = rng.randrange(30)
        return f"Discontinued {n:02d} - Default", "", 1500 + n * 10, 1
    product = rng.randrange(1, CATALOG_PRODUCTS + 1)
    size = rng.randrange(1, 3)
    title = f"Product {product:03d} - Size {size}"
    sku = "" if roll < 0.12 else f"BM-{product:03d}-{size}"
    return title, sku, 900 + product * 13, 1 if rng.random() < 0.85 else 2


def fresh_database(directory: Path, name: str) -> str:
    """A migrated SQLite file with a shop and the catalog the export refers to."""
    url = f"sqlite:///{directory / name}"
    migrate(url)
    with Session(get_engine(url)) as session:
        session.add(Shop(shop_domain="bench.myshopify.com", currency="USD"))
        session.execute(
            insert(Product),
            [
                {
                    "id": n,
                    "shopify_gid": f"gid://shopify/Product/{n}",
                    "shopify_id": n,
                    "title": f"Product {n:03d}",
                    "handle": f"product-{n:03d}",
                    "updated_at": NOW,
                }
                for n in range(1, CATALOG_PRODUCTS + 1)
            ],
        )
        session.execute(
            insert(Variant),
            [
                {
                    "shopify_gid": f"gid://shopify/ProductVariant/{n * 10 + size}",
                    "shopify_id": n * 10 + size,
                    "product_id": n,
                    "title": f"Size {size}",
                    "sku": f"BM-{n:03d}-{size}",
                    "price_cents": 900 + n * 13,
                }
                for n in range(1, CATALOG_PRODUCTS + 1)
                for size in (1, 2)
            ],
        )
        session.commit()
    return url


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _counts(url: str) -> tuple[int, int, int]:
    with Session(get_engine(url)) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Order, OrderLine, DueItem)
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="CSV rows (default 200000)")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the run under tracemalloc"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="repeatcart-csv-") as tmp:
        directory = Path(tmp)
        path = directory / "orders_export.csv"
        started = time.perf_counter()
        orders, customers = generate_export(path, args.rows)
        generated = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        print(
            f"Export: {args.rows:,} rows, {orders:,} orders, ~{customers:,} customers, "
            f"{size_mb:.1f} MB (generated in {generated:.1f} s)"
        )
        results: list[tuple[str, float, str, str]] = []

        started = time.perf_counter()
        with open_order_export(path) as stream:
            reader = read_order_export(stream)
            parsed = sum(1 for item in reader if isinstance(item, OrderRecord))
        parse_seconds = time.perf_counter() - started
        results.append(("parse only", parse_seconds, "-", f"{_maxrss_mb():.0f}"))

        url = fresh_database(directory, "timed.db")
        with Session(get_engine(url), expire_on_commit=False) as session:
            started = time.perf_counter()
            with open_order_export(path) as stream:
                reader = read_order_export(stream)
                summary = upsert_orders(
                    session, _records(reader), source="csv", now=NOW, refresh=False
                )
            upsert_seconds = time.perf_counter() - started
            results.append(("parse + upsert", upsert_seconds, "-", f"{_maxrss_mb():.0f}"))
            started = time.perf_counter()
            mode = refresh_due_dates(session, summary.affected_customer_ids, NOW)
            refresh_seconds = time.perf_counter() - started
            session.commit()
        results.append((f"due refresh ({mode})", refresh_seconds, "-", f"{_maxrss_mb():.0f}"))
        results.append(
            ("import total", upsert_seconds + refresh_seconds, "-", f"{_maxrss_mb():.0f}")
        )
        stored_orders, stored_lines, due_rows = _counts(url)
        get_engine(url).dispose()

        if not args.no_tracemalloc:
            url = fresh_database(directory, "traced.db")
            tracemalloc.start()
            started = time.perf_counter()
            with Session(get_engine(url), expire_on_commit=False) as session:
                import_order_export(session, path, now=NOW)
                session.commit()
            traced_seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            get_engine(url).dispose()
            results.append(
                (
                    "import under tracemalloc",
                    traced_seconds,
                    f"{peak / 1e6:.1f}",
                    f"{_maxrss_mb():.0f}",
                )
            )

    print(
        f"Imported {summary.orders:,} orders ({parsed:,} parsed), {summary.lines:,} lines, "
        f"{summary.customers_created:,} customers, {summary.products_created} products created; "
        f"stored {stored_orders:,} orders, {stored_lines:,} lines, {due_rows:,} due rows"
    )
    print()
    print(
        f"{'phase':<26} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'x parse':>8} "
        f"{'tracemalloc peak MB':>20} {'ru_maxrss MB':>13}"
    )
    for label, seconds, peak, rss in results:
        print(
            f"{label:<26} {args.rows:>9,} {seconds:>8.2f} {args.rows / seconds:>9,.0f} "
            f"{seconds / parse_seconds:>8.1f} {peak:>20} {rss:>13}"
        )
    return 0


def _records(reader: OrderExportReader):  # noqa: ANN202
    return (item for item in reader if isinstance(item, OrderRecord))


if __name__ == "__main__":
    sys.exit(main())
