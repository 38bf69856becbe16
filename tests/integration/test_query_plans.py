"""The hot queries read through indexes on SQLite: no plan scans a table that grows with the
store (`tests/hot_queries.py` runs each through its service function and EXPLAINs what it
sends; `benchmarks/query_plans.py` prints the same on SQLite and PostgreSQL, with times)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from services.core.clock import utcnow
from services.core.config import get_settings
from services.core.db import get_engine, migrate, session_scope
from services.demo import build_demo_store
from tests.hot_queries import (
    HOT_QUERIES,
    HotQuery,
    Statement,
    Store,
    add_queue_rows,
    explain,
    run_captured,
    store_for,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Store]]:
    """A demo store of 200 customers, with snoozes, outbox messages and processed webhooks."""
    url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'repeatcart.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPEATCART_DATABASE_URL", url)
        get_settings.cache_clear()
        migrate(url)
        now = utcnow()
        with session_scope(url) as session:
            build_demo_store(session, customers=200, now=now)
            add_queue_rows(session, now)
        with Session(get_engine(url)) as session:
            store = store_for(session, now)
        yield get_engine(url), store
        get_engine(url).dispose()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "query", [query for query in HOT_QUERIES if query.key], ids=lambda query: query.name
)
def test_a_hot_query_never_scans_a_growing_table(demo: tuple[Engine, Store], query: HotQuery):
    engine, store = demo
    statements = run_captured(engine, query, store)
    assert statements, "the query ran no SQL: the capture is broken"
    scanning = {}
    for statement in statements:
        explain(engine, statement)
        if statement.large_scans:
            scanning[" ".join(statement.sql.split())] = statement.plan
    assert scanning == {}


def test_the_plan_reader_sees_a_full_scan(demo: tuple[Engine, Store]):
    """The check above is not vacuous: a filter on an unindexed column is reported."""
    engine, _ = demo
    statement = Statement("SELECT customer_id FROM due_item WHERE interval_days > ?", (3.0,))
    explain(engine, statement)
    assert statement.large_scans == ["due_item"]
    covering = Statement("SELECT count(*) FROM customer", ())
    explain(engine, covering)
    assert covering.large_scans and covering.large_scans[0].startswith("customer")
