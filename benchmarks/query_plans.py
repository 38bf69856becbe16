#!/usr/bin/env python
"""Benchmark: the plan and the time of each hot query, on SQLite and PostgreSQL.

What is measured: a demo store (`build_demo_store`, `--customers`, default 3,000) with a tenth
of its customers snoozed, an outbox message per customer (one in twenty pending) and a processed
webhook per customer, built in a fresh SQLite file and a fresh PostgreSQL database (on the
server of `REPEATCART_TEST_POSTGRES_URL`, dropped after; `--no-postgres` skips it). PostgreSQL
is ANALYZEd, as autovacuum would have done; SQLite is not, since the app never runs ANALYZE.

Each hot query of `tests/hot_queries.py` runs through the service function that issues it in
production; every statement it sends is captured and EXPLAINed (EXPLAIN QUERY PLAN on SQLite).
A plan is "index" when no table is read whole, "+small" when only a table of a handful of rows
is (the shop row, the YMAL list), and "SCAN t (rows)" names each table that grows with the store
and is read whole (also through a covering index). PostgreSQL reads small tables, or a large
share of one, sequentially by choice: its plan is read again with `enable_seqscan = off`, and
only a table scanned even then has no usable index ("SCAN"); the others show as "seq by
choice". Then the query runs `--runs` times (its writes rolled back): median and p95 in ms,
and the median over the cart page's.

`--drop-index NAME` (repeatable) drops an index after migrating, to see what it buys: e.g. the
indexes of migration 0010 are ix_due_item_due_at, ix_cart_event_customer_id, ix_snooze_until.
Prints figures and the plans of the statements that scan; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from benchmarks.report import print_table  # noqa: E402
from services.core.clock import utcnow
from services.core.config import get_settings  # noqa: E402
from services.core.db import forget_engines, get_engine, migrate, session_scope  # noqa: E402
from services.demo import build_demo_store  # noqa: E402
from services.engine import percentile  # noqa: E402
from tests.hot_queries import (  # noqa: E402
    HOT_QUERIES,
    TABLES,
    Statement,
    Store,
    add_queue_rows,
    explain,
    run_captured,
    store_for,
)

DEFAULT_POSTGRES = "postgresql+psycopg://root@127.0.0.1:5432/test"


@dataclass(slots=True)
class Result:
    verdict: str
    median_ms: float
    p95_ms: float
    scanning: list[Statement] = field(default_factory=list)


def _verdict(statements: list[Statement], rows: dict[str, int]) -> str:
    def named(scans: set[str]) -> str:
        return ", ".join(f"{scan} {_count(rows.get(scan.split()[0], 0))}" for scan in sorted(scans))

    postgres = any(s.forced_plan for s in statements)
    missing = {scan for s in statements for scan in (s.unindexed if postgres else s.large_scans)}
    if missing:
        return "SCAN " + named(missing)
    chosen = {scan for s in statements for scan in s.large_scans}
    if chosen:
        return "index; seq by choice: " + named(chosen)
    return "index +small" if any(s.scans for s in statements) else "index"


def _count(rows: int) -> str:
    return f"({rows / 1000:.0f}k)" if rows >= 10_000 else f"({rows})"


def table_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in sorted(TABLES)
        }


def measure(engine: Engine, store: Store, runs: int) -> dict[str, Result]:
    rows = table_rows(engine)
    results: dict[str, Result] = {}
    for query in HOT_QUERIES:
        statements = run_captured(engine, query, store)
        for statement in statements:
            explain(engine, statement)
        times = []
        for _ in range(runs):
            with Session(engine) as session:
                started = time.perf_counter()
                query.run(session, store)
                times.append((time.perf_counter() - started) * 1000)
                session.rollback()
        results[query.name] = Result(
            _verdict(statements, rows),
            statistics.median(times),
            percentile(times, 95),
            [s for s in statements if s.large_scans or s.unindexed],
        )
    return results


def build(url: str, customers: int, drop: list[str]) -> tuple[Engine, Store, float]:
    os.environ["REPEATCART_DATABASE_URL"] = url
    get_settings.cache_clear()
    migrate(url)
    engine = get_engine(url)
    with engine.begin() as connection:
        for name in drop:
            connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
    now = utcnow()
    started = time.perf_counter()
    with session_scope(url) as session:
        build_demo_store(session, customers=customers, now=now, force=True)
        add_queue_rows(session, now)
    built = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    with Session(engine) as session:
        store = store_for(session, now)
    return engine, store, built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--drop-index", action="append", default=[], metavar="NAME")
    args = parser.parse_args()

    results: dict[str, dict[str, Result]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'plans.db'}"
        engine, store, built = build(url, args.customers, args.drop_index)
        print(f"sqlite: demo store of {args.customers} customers built in {built:.1f} s")
        results["sqlite"] = measure(engine, store, args.runs)
        forget_engines()

    if not args.no_postgres:
        server = os.environ.get("REPEATCART_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
        name = f"repeatcart_plans_{uuid.uuid4().hex[:8]}"
        admin = get_engine(server).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            engine, store, built = build(url, args.customers, args.drop_index)
            print(f"postgres: demo store of {args.customers} customers built in {built:.1f} s")
            results["postgres"] = measure(engine, store, args.runs)
        finally:
            forget_engines()
            with get_engine(server).execution_options(isolation_level="AUTOCOMMIT").connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            forget_engines()

    databases = list(results)
    cart = {db: results[db][HOT_QUERIES[0].name].median_ms for db in databases}
    headers = ["hot query"]
    for db in databases:
        headers += [f"{db} plan", "median ms", "p95 ms", "x cart"]
    rows = []
    for query in HOT_QUERIES:
        row = [query.name]
        for db in databases:
            found = results[db][query.name]
            row += [
                found.verdict,
                f"{found.median_ms:.1f}",
                f"{found.p95_ms:.1f}",
                f"{found.median_ms / cart[db]:.2f}",
            ]
        rows.append(row)
    print()
    print_table(headers, rows)
    for db in databases:
        for query in HOT_QUERIES:
            for statement in results[db][query.name].scanning:
                print(f"\n[{db}] {query.name}: {' '.join(statement.sql.split())[:200]}")
                for line in statement.plan:
                    print(f"    {line}")


if __name__ == "__main__":
    main()
