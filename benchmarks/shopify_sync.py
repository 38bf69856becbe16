#!/usr/bin/env python
"""Benchmark: order sync from the fake Shopify into SQLite, throttled and not.

Part 1, throttling off (`--orders`, default 20,000 generated orders of 1–12 lines over a
24-product catalog), each into a fresh SQLite file:
- bulk: `sync_orders` with a bulk operation (JSONL download, grouped, upserted in batches);
- paged: `sync_orders(bulk=False)`, cost-sized pages of 28 orders plus follow-ups;
- store only: the same orders, already fetched and parsed, through the sync's write path
  (`upsert_orders`: customer and catalog matching, change detection) in 500-order transactions;
- floor: the same order and line rows written with plain Core INSERTs in the same transactions
  (no matching, no change detection): the raw insert rate.
Ingest time excludes the due-date recompute that ends a first import; it is shown apart.

Part 2, a Standard-plan bucket (1,000 points, 100 restored per second):
- a paged sync for `--seconds` (default 60): the share of the restore rate the client used
  ((points spent − bucket drawdown) / (restore rate × elapsed)), the stricter points spent /
  (full bucket + restore rate × elapsed), and THROTTLED replies;
- a bulk import of `--bulk-orders` (default 100,000) orders with the same bucket.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

import services.sync.store_sync as sync_module  # noqa: E402
from benchmarks.report import print_table  # noqa: E402
from services.core.clock import utcnow
from services.core.config import get_settings  # noqa: E402
from services.core.db import forget_engines, get_engine, migrate, session_scope  # noqa: E402
from services.core.tables import Order, OrderLine
from services.ingest.orders import upsert_orders  # noqa: E402
from services.shopify.client import ShopifyClient  # noqa: E402
from services.shopify.records import OrderRecord  # noqa: E402
from services.sync.store_sync import sync_orders, sync_products  # noqa: E402
from tests.fakes.shopify import FakeShopify  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=UTC)


class RecomputeTimer:
    """Wraps the sync's full recompute to time it apart from ingest."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._original = sync_module.recompute_all

    def __enter__(self) -> RecomputeTimer:
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            started = time.perf_counter()
            try:
                return self._original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        sync_module.recompute_all = timed
        return self

    def __exit__(self, *_exc: object) -> None:
        sync_module.recompute_all = self._original


def fresh_database(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}"
    os.environ["REPEATCART_DATABASE_URL"] = url
    get_settings.cache_clear()
    forget_engines()
    migrate(url)
    return url


def client_for(fake: FakeShopify) -> ShopifyClient:
    return ShopifyClient(fake.shop, fake.token, "2026-10", fake.base_url)


def timed_sync(fake: FakeShopify, url_folder: Path, name: str, *, bulk: bool) -> list[str]:
    fresh_database(url_folder, name)
    with client_for(fake) as client:
        sync_products(client)
        started = time.perf_counter()
        with RecomputeTimer() as recompute:
            report = sync_orders(client, bulk=bulk, poll_seconds=0.05)
        total = time.perf_counter() - started
    ingest = total - recompute.seconds
    return [
        "bulk" if bulk else "paged",
        f"{report.created:,}",
        f"{report.requests:,}",
        f"{ingest:.2f}",
        f"{report.created / ingest:,.0f}",
        f"{recompute.seconds:.2f}",
    ]


def fetch_all(fake: FakeShopify) -> list[OrderRecord]:
    with client_for(fake) as client:
        return [order for page in client.order_pages() for order in page.orders]


def upsert_parsed(orders: list[OrderRecord], folder: Path) -> list[str]:
    """The sync's write path alone (matching, change detection), on already parsed orders."""
    url = fresh_database(folder, "upsert.db")
    started = time.perf_counter()
    for start in range(0, len(orders), sync_module.BULK_BATCH):
        with session_scope(url) as session:
            batch = orders[start : start + sync_module.BULK_BATCH]
            upsert_orders(session, batch, source="shopify", now=utcnow(), refresh=False)
    seconds = time.perf_counter() - started
    get_engine(url).dispose()
    rate = len(orders) / seconds
    return ["store only", f"{len(orders):,}", "-", f"{seconds:.2f}", f"{rate:,.0f}", "-"]


def insert_floor(orders: list[OrderRecord], folder: Path) -> list[str]:
    """The same rows with plain INSERTs: what any ingest must at least pay."""
    url = fresh_database(folder, "floor.db")
    started = time.perf_counter()
    for start in range(0, len(orders), sync_module.BULK_BATCH):
        batch = orders[start : start + sync_module.BULK_BATCH]
        with session_scope(url) as session:
            returned = session.execute(
                insert(Order.__table__).returning(Order.__table__.c.id),
                [
                    {
                        "shopify_gid": o.gid,
                        "name": o.name,
                        "processed_at": o.processed_at,
                        "updated_at": o.updated_at,
                        "cancelled_at": o.cancelled_at,
                        "financial_status": o.financial_status,
                        "test": o.test,
                        "total_cents": o.total_cents,
                        "currency": o.currency,
                        "source": "shopify",
                        "custom_attributes": o.attributes,
                    }
                    for o in batch
                ],
            ).scalars()
            rows = [
                {
                    "order_id": order_id,
                    "quantity": line.quantity,
                    "unit_price_cents": line.unit_price_cents,
                    "title": line.title,
                    "sku": line.sku,
                }
                for order_id, order in zip(returned, batch, strict=True)
                for line in order.lines
            ]
            session.execute(insert(OrderLine.__table__), rows)
    seconds = time.perf_counter() - started
    get_engine(url).dispose()
    rate = len(orders) / seconds
    return ["floor", f"{len(orders):,}", "-", f"{seconds:.2f}", f"{rate:,.0f}", "-"]


def unthrottled(orders: int, folder: Path) -> None:
    with FakeShopify(throttle=False) as fake:
        products = fake.generate_products(24, seed=1)
        fake.generate_orders(orders, seed=1, products=products, start=START, days=540)
        rows = [
            timed_sync(fake, folder, "bulk.db", bulk=True),
            timed_sync(fake, folder, "paged.db", bulk=False),
        ]
        parsed = fetch_all(fake)
    rows.append(upsert_parsed(parsed, folder))
    rows.append(insert_floor(parsed, folder))
    floor = float(rows[-1][4].replace(",", ""))
    for row in rows:
        row.append(f"{float(row[4].replace(',', '')) / floor:.2f}")
    print(f"\nThrottling off: {orders:,} orders into SQLite")
    print_table(
        ["path", "orders", "requests", "ingest s", "orders/s", "recompute s", "vs floor"], rows
    )


def standard_bucket(seconds: float, bulk_orders: int, folder: Path) -> None:
    with FakeShopify(restore_rate=100, bucket=1000) as fake:
        fake.generate_orders(max(bulk_orders, 5000), seed=2, start=START, days=540)
        fake.reset_stats()
        fetched = 0
        started = time.perf_counter()
        with client_for(fake) as client:
            for page in client.order_pages():
                fetched += len(page.orders)
                if time.perf_counter() - started >= seconds:
                    break
            elapsed = time.perf_counter() - started
            throttled = client.stats.throttled
            paced = client.stats.paced_seconds
        capacity_share = fake.restore_share()
        # points that came from restoring, not from the bucket's starting reserve
        drawdown = 1000 - float(fake.throttle_status()["currentlyAvailable"])
        restore_share = (fake.stats.points_spent - drawdown) / (fake.restore_rate * elapsed)
        print(f"\nStandard bucket (1,000 points, 100/s): paged for {elapsed:.0f} s")
        print_table(
            [
                "orders",
                "orders/s",
                "restore share",
                "of bucket+restore",
                "THROTTLED",
                "paced s",
                "points spent",
            ],
            [
                [
                    f"{fetched:,}",
                    f"{fetched / elapsed:.1f}",
                    f"{restore_share:.1%}",
                    f"{capacity_share:.1%}" if capacity_share is not None else "-",
                    f"{throttled}",
                    f"{paced:.1f}",
                    f"{fake.stats.points_spent:,.0f}",
                ]
            ],
        )
        while len(fake.orders) > bulk_orders:
            fake.remove_order(next(iter(fake.orders)))
        fake.reset_stats()
        row = timed_sync(fake, folder, "standard-bulk.db", bulk=True)
        print(f"\nStandard bucket: bulk import of {bulk_orders:,} orders")
        print_table(["path", "orders", "requests", "ingest s", "orders/s", "recompute s"], [row])
        print(
            f"Paged at the rate above, the same {bulk_orders:,} orders would take "
            f"{bulk_orders / (fetched / elapsed) / 3600:.1f} h."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--bulk-orders", type=int, default=100_000)
    parser.add_argument("--skip-standard", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        unthrottled(args.orders, Path(folder))
        if not args.skip_standard:
            standard_bucket(args.seconds, args.bulk_orders, Path(folder))


if __name__ == "__main__":
    main()
