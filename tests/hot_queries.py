"""The queries that run most (a cart opened, a webhook, the worker's scans) and their plans.

Each hot query is run through the service function that issues it in production, and every
statement it sends is captured and EXPLAINed on the same database, so a plan is read for the
SQL the app really runs. `tests/integration/test_query_plans.py` asserts on the SQLite plans;
`benchmarks/query_plans.py` prints the plans and times on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session, SQLModel, col, select

from services.cart.page import load_cart
from services.cart.snoozes import active_snoozes
from services.core.config import Settings
from services.core.tables import (
    CartEvent,
    CartLink,
    Customer,
    DueItem,
    Order,
    OutboxMessage,
    Snooze,
    WebhookEvent,
)
from services.customers.directory import customer_page
from services.dispatch import PENDING, scan_due
from services.dispatch.delivery import CLAIM_BATCH, _claim_query
from services.dispatch.profiles import customers_to_check
from services.engine.recompute import buyers_of, customers_due_for, recompute_customers
from services.reporting.analytics.report import analytics_report
from services.reporting.insights import due_per_day, moment_outlook
from services.sync.webhook_intake import process_pending_webhooks

TABLES = frozenset(SQLModel.metadata.tables)
SMALL_TABLES = frozenset({"shop", "ymal_item", "app_setting", "integration_status", "sync_state"})
"""Tables a store keeps a handful of rows in (one shop, the merchant's few YMAL products, a
setting per name): reading them whole is what an index would cost, or less."""
_SQLITE_SCAN = re.compile(r"^SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?")
_POSTGRES_SEQ = re.compile(r"Seq Scan on (\w+)")
_POSTGRES_INDEX = re.compile(
    r"(?:Index (?:Only )?Scan(?: Backward)? using (\w+)|Bitmap Heap Scan) on (\w+)"
)


@dataclass(frozen=True, slots=True)
class Store:
    """What the hot queries are asked about: one customer with a cart, one product, a time."""

    now: datetime
    token: str
    customer_id: int
    product_id: int


@dataclass(frozen=True, slots=True)
class HotQuery:
    name: str
    run: Callable[[Session, Store], object]
    key: bool = True
    """Asserted not to scan a table on SQLite; False where reading every row is the point
    (sorting every customer by a computed date)."""


@dataclass(slots=True)
class Statement:
    sql: str
    parameters: Any
    plan: list[str] = field(default_factory=list)
    forced_plan: list[str] = field(default_factory=list)
    """PostgreSQL only: the plan with sequential scans disabled. A table still scanned then
    has no index the query can use; one scanned only in `plan` is the planner's choice (a
    table of a few pages, or a large share of its rows wanted)."""

    @property
    def scans(self) -> list[str]:
        """Tables this statement's plan reads whole: "t" (table) or "t (index i)"."""
        return _scans(self.plan)

    @property
    def large_scans(self) -> list[str]:
        """Scans of tables that grow with the store."""
        return [scan for scan in self.scans if scan.split()[0] not in SMALL_TABLES]

    @property
    def unindexed(self) -> list[str]:
        """Growing tables read whole even when the planner is told to avoid it (PostgreSQL)."""
        return [scan for scan in _scans(self.forced_plan) if scan.split()[0] not in SMALL_TABLES]


def _scans(plan: list[str]) -> list[str]:
    found = []
    for number, line in enumerate(plan):
        sqlite = _SQLITE_SCAN.match(line.strip())
        if sqlite and sqlite.group(1) in TABLES:
            table, index = sqlite.groups()
            found.append(f"{table} (index {index})" if index else table)
        postgres = _POSTGRES_SEQ.search(line)
        if postgres and postgres.group(1) in TABLES:
            found.append(postgres.group(1))
        whole = _POSTGRES_INDEX.search(line)
        if whole and whole.group(2) in TABLES and not _has_condition(plan, number):
            found.append(f"{whole.group(2)} (index {whole.group(1) or 'bitmap'})")
    return found


def _has_condition(plan: list[str], node: int) -> bool:
    """Whether a PostgreSQL index or bitmap scan node looks rows up by an Index Cond; without
    one it reads the whole index. Its subtree is the lines indented deeper, up to a subplan."""
    depth = len(plan[node]) - len(plan[node].lstrip())
    for line in plan[node + 1 :]:
        stripped = line.lstrip()
        if len(line) - len(stripped) <= depth or stripped.startswith(("SubPlan", "InitPlan")):
            return False
        if stripped.startswith("Index Cond:"):
            return True
    return False


def _scan_due(session: Session, store: Store) -> object:
    settings = Settings(database_url=str(session.get_bind().url))
    return scan_due(session, settings, store.now, integrations=["klaviyo"], full=True, commit=False)


def _outbox_claim(session: Session, store: Store) -> object:
    postgres = session.get_bind().dialect.name == "postgresql"
    params = {"integration": "klaviyo", "now": store.now, "limit": CLAIM_BATCH}
    return session.connection().execute(_claim_query(PENDING, "due", postgres), params).all()


def _privacy_export(session: Session, store: Store) -> object:
    """What `customers/data_request` reads about one customer (as the webhook intake does)."""
    cid = store.customer_id
    return [
        session.exec(select(CartLink).where(CartLink.customer_id == cid)).all(),
        session.exec(
            select(CartEvent)
            .where(CartEvent.customer_id == cid)
            .order_by(col(CartEvent.occurred_at))
        ).all(),
        session.exec(select(DueItem).where(DueItem.customer_id == cid)).all(),
        session.exec(select(Order).where(Order.customer_id == cid)).all(),
    ]


def _profile_sync_tick(session: Session, store: Store) -> object:
    """Who the Klaviyo profile sync looks at between full sweeps: changed in the last 15 min."""
    return customers_to_check(session, store.now, store.now - timedelta(minutes=15))


def _relearn_targets(session: Session, store: Store) -> object:
    return buyers_of(session, [store.product_id]) | customers_due_for(session, [store.product_id])


HOT_QUERIES: tuple[HotQuery, ...] = (
    HotQuery("cart page (one customer)", lambda s, st: load_cart(s, st.token, st.now)),
    HotQuery("snoozes of one customer", lambda s, st: active_snoozes(s, st.customer_id, st.now)),
    HotQuery(
        "order webhook: re-date its customer",
        lambda s, st: recompute_customers(s, [st.customer_id], st.now),
    ),
    HotQuery("webhook queue claim", lambda _s, st: process_pending_webhooks(st.now)),
    HotQuery("due scan (remind_at, late_at, snoozes ended)", _scan_due),
    HotQuery("outbox claim", _outbox_claim),
    HotQuery("relearn: a product's buyers", _relearn_targets),
    HotQuery("insights: due per day ahead", lambda s, st: due_per_day(s, st.now)),
    HotQuery("insights: customers per Moment", lambda s, st: moment_outlook(s, st.now)),
    HotQuery("klaviyo profile sync tick", _profile_sync_tick),
    HotQuery(
        "analytics, last 30 days",
        lambda s, st: analytics_report(s, st.now - timedelta(days=30), st.now, now=st.now),
    ),
    HotQuery("privacy export of one customer", _privacy_export),
    HotQuery(
        "customers page by next due",
        lambda s, st: customer_page(s, None, "next_due", 1, 25, st.now),
        key=False,
    ),
    HotQuery(
        "customers page by last order",
        lambda s, st: customer_page(s, None, "last_order", 1, 25, st.now),
        key=False,
    ),
)


@contextmanager
def captured(engine: Engine) -> Iterator[list[Statement]]:
    """Every statement sent to `engine` inside the block (reads and writes, not bulk inserts)."""
    statements: list[Statement] = []

    def record(_conn: Any, _cursor: Any, sql: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if not many and not sql.lstrip().upper().startswith(("INSERT", "PRAGMA", "SAVEPOINT")):
            statements.append(Statement(sql, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def run_captured(engine: Engine, query: HotQuery, store: Store) -> list[Statement]:
    """Run a hot query once (its writes rolled back) and return its distinct statements."""
    with captured(engine) as statements, Session(engine) as session:
        query.run(session, store)
        session.rollback()
    distinct: dict[str, Statement] = {}
    for statement in statements:
        distinct.setdefault(statement.sql, statement)
    return list(distinct.values())


def explain(engine: Engine, statement: Statement) -> list[str]:
    """The plan of one captured statement, as the database prints it (never executed); on
    PostgreSQL also `forced_plan`, with sequential scans disabled."""
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + statement.sql, statement.parameters).all()
        statement.plan = [str(row[3]) if sqlite else str(row[0]) for row in rows]
        if not sqlite:
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = connection.exec_driver_sql(prefix + statement.sql, statement.parameters).all()
            statement.forced_plan = [str(row[0]) for row in rows]
        connection.rollback()
    return statement.plan


def store_for(session: Session, now: datetime) -> Store:
    """The first demo customer with a cart and a due row, and the product most customers hold."""
    customer_id, product_id = session.exec(
        select(DueItem.customer_id, DueItem.product_id).order_by(DueItem.customer_id)
    ).first()  # type: ignore[misc]
    token = session.exec(
        select(CartLink.token).where(
            CartLink.customer_id == customer_id, col(CartLink.revoked_at).is_(None)
        )
    ).first()
    assert token is not None
    return Store(now=now, token=token, customer_id=customer_id, product_id=product_id)


def add_queue_rows(session: Session, now: datetime, seed: int = 3) -> None:
    """What the demo store lacks but a running one has: snoozes, outbox messages (most sent)
    and processed webhook events, so those tables are not empty when their plans are read."""
    rng = random.Random(seed)
    customers = [int(cid) for cid in session.exec(select(Customer.id))]
    for cid in rng.sample(customers, max(1, len(customers) // 10)):
        until = now + timedelta(days=rng.randint(-30, 30))
        session.add(Snooze(customer_id=cid, until=until, created_at=now - timedelta(days=40)))
    for number, cid in enumerate(customers):
        sent = number % 20 != 0
        session.add(
            OutboxMessage(
                integration="klaviyo",
                kind="due",
                customer_id=cid,
                idempotency_key=f"due:{cid}:seeded",
                status="sent" if sent else "pending",
                attempts=1 if sent else 0,
                next_attempt_at=now - timedelta(minutes=number % 90),
                created_at=now - timedelta(days=1),
                sent_at=now - timedelta(hours=1) if sent else None,
            )
        )
        session.add(
            WebhookEvent(
                event_id=f"seeded-{number}",
                topic="orders/create",
                shop_domain="demo-repeatcart.myshopify.com",
                received_at=now - timedelta(minutes=number),
                status="done",
                attempts=1,
                processed_at=now - timedelta(minutes=number),
            )
        )
    session.flush()
