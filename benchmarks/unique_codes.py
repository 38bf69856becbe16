#!/usr/bin/env python
"""Benchmark: create 10,000 unique discount codes in the fake Shopify with a Standard bucket.

A fresh SQLite file gets `--codes` customers (default 10,000), each with a reserved code (the
due scan's `reserve_codes`, timed); then the worker's `unique-codes` job
(`create_pending_codes`) creates the discount and adds the codes 250 per
`discountRedeemCodeBulkAdd`, polling each creation (done on the fake's `--polls`-th poll, every
`--poll-seconds`), against a 1,000-point bucket restoring `--restore-rate` points/s (default
100, Shopify's Standard plan) with real waits. `--taken` codes already exist in the shop, so
they are drawn afresh and retried. Prints the time, calls, points and THROTTLED replies;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.core.clock import utcnow  # noqa: E402
from services.core.config import Settings, get_settings  # noqa: E402
from services.core.db import forget_engines, migrate, session_scope  # noqa: E402
from services.core.tables import Customer  # noqa: E402
from services.discounts.codes import reserve_codes  # noqa: E402
from services.discounts.creation import create_pending_codes  # noqa: E402
from services.shopify.client import ShopifyClient  # noqa: E402
from tests.fakes.shopify import FakeShopify  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codes", type=int, default=10_000)
    parser.add_argument("--restore-rate", type=float, default=100.0)
    parser.add_argument("--polls", type=int, default=2)
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    parser.add_argument("--taken", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'codes.db'}"
        os.environ["REPEATCART_DATABASE_URL"] = url
        get_settings.cache_clear()
        forget_engines()
        migrate(url)
        with session_scope() as session:
            session.add_all(Customer(email=f"c{i}@example.com") for i in range(args.codes))
        started = time.perf_counter()
        with session_scope() as session:
            ids = [
                int(cid)
                for (cid,) in session.connection().exec_driver_sql("SELECT id FROM customer")
            ]
            codes = reserve_codes(session, dict.fromkeys(ids), "RC-", utcnow())
        reserve_seconds = time.perf_counter() - started

        with FakeShopify(token="shpat_bench", restore_rate=args.restore_rate) as fake:
            fake.discounts.polls = args.polls
            fake.discounts.preexisting(*list(codes.values())[: args.taken])
            settings = Settings(unique_codes=True, database_url=url)
            client = ShopifyClient(fake.shop, "shpat_bench", "2026-10", fake.base_url)
            with client:
                started = time.perf_counter()
                summary = create_pending_codes(client, settings, poll_seconds=args.poll_seconds)
                seconds = time.perf_counter() - started
            calls = dict(fake.discounts.calls)
            stats = client.stats

    print(f"reserved {len(codes):,} codes in {reserve_seconds:.2f} s (the scan's part)")
    print(
        f"created {summary.created:,} codes ({summary.redrawn} taken, drawn afresh; "
        f"{summary.failed} failed) in {seconds:.1f} s = {summary.created / seconds:,.0f} codes/s"
    )
    print(
        f"bucket 1,000 points, restore {args.restore_rate:g}/s; calls: {calls['create']} create, "
        f"{calls['bulk_add']} bulk add, {calls['poll']} polls; points requested "
        f"{stats.points_requested:,.0f}, spent {stats.points_spent:,.0f}; paced "
        f"{stats.paced_seconds:.1f} s; THROTTLED {stats.throttled}"
    )
    print(f"poll every {args.poll_seconds:g} s, a creation done on poll {args.polls}")


if __name__ == "__main__":
    main()
