"""Order and catalog sync from Shopify: the first import in bulk, then incremental pages.

Each page (or bulk batch) is written in its own transaction together with the stream's cursor,
so a sync killed at any point resumes from the last stored page: nothing is skipped, and what is
fetched again is recognised by gid and `updatedAt` and changes nothing. Due dates are refreshed
once at the end; a run that died before that leaves `recompute_pending`, and the next run
recomputes everything, so a crash never leaves stale due dates behind for long.

Under a job's lease every write transaction first confirms the lease (`confirm_held`): a run
that lost it (its process stalled past the lease and another run took over) stops with
`LeaseLost` at its next write, leaving the stream's state to the run that goes on from the cursor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sqlmodel import Session

from services.core.clock import utcnow
from services.core.config import Settings, get_settings
from services.core.db import session_scope
from services.core.leases import LeaseLost, confirm_held
from services.core.provider_http import ProviderError
from services.core.shutdown import Stopping, stop_requested
from services.core.tables import SyncState
from services.engine.recompute import recompute_all, recompute_store
from services.ingest.catalog import mark_missing_products_deleted, upsert_products
from services.ingest.orders import refresh_due_dates, upsert_orders
from services.ingest.placeholder_merge import PlaceholderMergeReport, merge_after_catalog_sync
from services.shopify.client import ShopifyClient
from services.shopify.parse import order_record
from services.shopify.records import OrderRecord
from services.sync.shop_record import ShopSetupError, refresh_before_sync

__all__ = [
    "ORDERS",
    "PRODUCTS",
    "SyncReport",
    "recompute_nightly",
    "sync_orders",
    "sync_products",
    "sync_state",
]

ORDERS = "orders"
PRODUCTS = "products"
BULK_BATCH = 500
log = logging.getLogger(__name__)


@dataclass(slots=True)
class SyncReport:
    """What one sync run did; `line()` is the one log/CLI line per run."""

    stream: str
    mode: str  # bulk | incremental | full
    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    follow_ups: int = 0
    orphan_lines: int = 0
    recompute: str = "none"
    requests: int = 0
    throttled: int = 0
    paced_seconds: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    placeholders: PlaceholderMergeReport | None = None
    """The merge of order-export placeholders into the catalog that ends a catalog sync."""

    @property
    def records(self) -> int:
        return self.created + self.updated + self.unchanged

    def line(self) -> str:
        parts = [
            f"{self.stream} sync ({self.mode}): {self.records} seen",
            f"{self.created} new",
            f"{self.updated} updated",
            f"{self.unchanged} unchanged",
        ]
        if self.stream == PRODUCTS:
            parts.append(f"{self.deleted} marked deleted")
        parts += [
            f"{self.pages} pages",
            f"{self.requests} requests",
            f"{self.throttled} throttled",
            f"due dates: {self.recompute}",
            f"{self.seconds:.1f} s",
        ]
        notes = [*self.notes, *([self.placeholders.line()] if self.placeholders else [])]
        return ", ".join(parts) + "".join(f"; {note}" for note in notes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync_state(session: Session, name: str) -> SyncState:
    state = session.get(SyncState, name)
    if state is None:
        state = SyncState(name=name)
        session.add(state)
        session.flush()
    return state


def sync_orders(
    client: ShopifyClient,
    *,
    full: bool = False,
    bulk: bool | None = None,
    settings: Settings | None = None,
    clock: Callable[[], datetime] = utcnow,
    poll_seconds: float = 2.0,
) -> SyncReport:
    """Bring orders up to date. `bulk=None` means: in bulk when the store was never imported.

    `full=True` pages through every order regardless of the cursor (a repair, not routine).
    """
    settings = settings or get_settings()
    overlap = timedelta(minutes=settings.sync_overlap_minutes)
    started = time.perf_counter()
    with session_scope() as session:
        confirm_held(session)
        state = sync_state(session, ORDERS)
        cursor, resume_bulk = state.cursor, state.bulk_operation_id
        crashed_before_recompute = state.recompute_pending
        use_bulk = resume_bulk is not None or (
            (cursor is None if bulk is None else bulk) and not full
        )
        mode = "bulk" if use_bulk else ("full" if full or cursor is None else "incremental")
        _start(state, clock())
    report = SyncReport(ORDERS, mode)
    affected: set[int] = set()
    products: set[int] = set()
    try:
        refresh_before_sync(client, settings, clock())
        if use_bulk:
            done = _bulk_import(client, report, affected, products, clock, poll_seconds)
            if not done:  # the operation failed or expired: page through everything instead
                report.mode = "full"
                _paged_orders(client, None, report, affected, products, clock)
        else:
            search = None if mode == "full" else _since(cursor, overlap)
            _paged_orders(client, search, report, affected, products, clock)
        with session_scope() as session:
            confirm_held(session)
            if report.mode in ("bulk", "full") or crashed_before_recompute:
                recompute_all(session, clock())
                report.recompute = "all"
            else:
                report.recompute = refresh_due_dates(session, affected, clock(), products)
            _finish(sync_state(session, ORDERS), report, client, started, clock())
    except LeaseLost:
        raise  # the stream's state belongs to the run that took over
    except Exception as exc:
        _fail(ORDERS, exc, clock())
        raise
    return report


def _paged_orders(
    client: ShopifyClient,
    search: str | None,
    report: SyncReport,
    affected: set[int],
    products: set[int],
    clock: Callable[[], datetime],
) -> None:
    for page in client.order_pages(search):
        report.pages += 1
        report.follow_ups += page.follow_ups
        _store_orders(page.orders, report, affected, products, clock)


def _store_orders(
    orders: list[OrderRecord],
    report: SyncReport,
    affected: set[int],
    products: set[int],
    clock: Callable[[], datetime],
) -> None:
    """One transaction: the orders, the cursor past them, and the pending-recompute mark."""
    if not orders:
        return
    if stop_requested():  # between pages: the cursor marks where the next run goes on
        raise Stopping("the order sync stopped with the process; the next run resumes it")
    with session_scope() as session:
        confirm_held(session)
        summary = upsert_orders(session, orders, source="shopify", now=clock(), refresh=False)
        state = sync_state(session, ORDERS)
        newest = max(order.updated_at for order in orders)
        if state.bulk_operation_id is None:
            state.cursor = max(state.cursor, newest) if state.cursor else newest
        if summary.orders_created or summary.orders_updated:
            state.recompute_pending = True
        state.progress_done += len(orders)
    report.created += summary.orders_created
    report.updated += summary.orders_updated
    report.unchanged += summary.orders_unchanged
    affected |= summary.affected_customer_ids
    products |= summary.affected_product_ids


def _bulk_import(
    client: ShopifyClient,
    report: SyncReport,
    affected: set[int],
    products: set[int],
    clock: Callable[[], datetime],
    poll_seconds: float,
) -> bool:
    """Run (or resume) a bulk export of all orders and import it; False if Shopify failed it."""
    with session_scope() as session:
        state = sync_state(session, ORDERS)
        operation_id, bulk_started = state.bulk_operation_id, state.bulk_started_at
    if operation_id is None:
        bulk_started = clock()
        operation = client.start_bulk_orders()
        operation_id = operation.id
        with session_scope() as session:
            confirm_held(session)
            state = sync_state(session, ORDERS)
            state.bulk_operation_id, state.bulk_started_at = operation_id, bulk_started
    else:
        report.notes.append(f"resumed bulk operation {operation_id}")
    operation = client.wait_for_bulk(operation_id, poll_seconds=poll_seconds)
    if operation.status != "COMPLETED":
        report.notes.append(
            f"bulk operation {operation.status.lower()}"
            + (f" ({operation.error_code})" if operation.error_code else "")
            + ", paged instead"
        )
        _clear_bulk(None)
        return False
    with session_scope() as session:
        confirm_held(session)
        sync_state(session, ORDERS).progress_total = operation.object_count
    if operation.url:
        orders = _orders_from_bulk(client.bulk_lines(operation.url), report)
        while batch := list(islice(orders, BULK_BATCH)):
            report.pages += 1
            _store_orders(batch, report, affected, products, clock)
    # everything updated before the export began is in the file; later changes come next run
    _clear_bulk(bulk_started)
    return True


def _clear_bulk(cursor: datetime | None) -> None:
    with session_scope() as session:
        confirm_held(session)
        state = sync_state(session, ORDERS)
        state.bulk_operation_id = None
        state.bulk_started_at = None
        if cursor is not None:
            state.cursor = cursor


def _orders_from_bulk(lines: Iterable[dict[str, Any]], report: SyncReport) -> Iterator[OrderRecord]:
    """Group JSONL lines into orders: each order's line items follow it as `__parentId` lines."""
    current: dict[str, Any] | None = None
    children: list[dict[str, Any]] = []
    for item in lines:
        parent = item.get("__parentId")
        if parent is None:
            if current is not None:
                yield order_record(current, children)
            current, children = item, []
        elif current is not None and parent == current.get("id"):
            children.append(item)
        else:
            report.orphan_lines += 1
    if current is not None:
        yield order_record(current, children)
    if report.orphan_lines:
        report.notes.append(f"{report.orphan_lines} line items arrived apart from their order")


def sync_products(
    client: ShopifyClient,
    *,
    full: bool = False,
    settings: Settings | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> SyncReport:
    """Bring the catalog up to date; a full pass also marks products gone from Shopify deleted."""
    settings = settings or get_settings()
    overlap = timedelta(minutes=settings.sync_overlap_minutes)
    started = time.perf_counter()
    with session_scope() as session:
        confirm_held(session)
        state = sync_state(session, PRODUCTS)
        cursor = state.cursor
        full = full or cursor is None
        _start(state, clock())
    report = SyncReport(PRODUCTS, "full" if full else "incremental")
    seen: set[str] = set()
    try:
        refresh_before_sync(client, settings, clock())
        for page in client.product_pages(None if full else _since(cursor, overlap)):
            if stop_requested():
                raise Stopping("the catalog sync stopped with the process; the next run resumes it")
            report.pages += 1
            with session_scope() as session:
                confirm_held(session)
                summary = upsert_products(session, page.products, clock())
                state = sync_state(session, PRODUCTS)
                if page.products:
                    newest = max(product.updated_at for product in page.products)
                    state.cursor = max(state.cursor, newest) if state.cursor else newest
                state.progress_done += len(page.products)
            report.created += summary.created
            report.updated += summary.updated
            report.unchanged += summary.unchanged
            seen.update(product.gid for product in page.products)
        report.placeholders = merge_after_catalog_sync(clock())
        with session_scope() as session:
            confirm_held(session)
            if full:
                report.deleted = mark_missing_products_deleted(session, seen, clock())
            _finish(sync_state(session, PRODUCTS), report, client, started, clock())
    except LeaseLost:
        raise  # the stream's state belongs to the run that took over
    except Exception as exc:
        _fail(PRODUCTS, exc, clock())
        raise
    return report


def recompute_nightly(clock: Callable[[], datetime] = utcnow) -> str:
    """Relearn every interval and due date: catches whatever incremental refreshes missed.

    Committed a few hundred customers at a time: the worker must not hold SQLite's writer from
    the web process (webhooks, cart events) for the whole store's rewrite."""
    return f"recompute: {recompute_store(clock())}"


def _since(cursor: datetime | None, overlap: timedelta) -> str | None:
    if cursor is None:
        return None
    since = (cursor - overlap).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"updated_at:>='{since}'"


def _start(state: SyncState, now: datetime) -> None:
    state.running = True
    state.last_started_at = now
    state.progress_done = 0
    state.progress_total = None


def _finish(
    state: SyncState, report: SyncReport, client: ShopifyClient, started: float, now: datetime
) -> None:
    report.requests = client.stats.requests
    report.throttled = client.stats.throttled
    report.paced_seconds = round(client.stats.paced_seconds, 3)
    report.seconds = time.perf_counter() - started
    state.running = False
    state.recompute_pending = False
    state.last_finished_at = now
    state.last_status = "ok"
    state.last_error = ""
    state.last_summary = report.as_dict()


def _fail(name: str, exc: Exception, now: datetime) -> None:
    explained = isinstance(exc, ProviderError | ShopSetupError | Stopping)
    message = str(exc) if explained else f"{type(exc).__name__}: {exc}"
    try:
        with session_scope() as session:
            state = sync_state(session, name)
            state.running = False
            state.last_finished_at = now
            state.last_status = "failed"
            state.last_error = message[:1000]
    except Exception:  # the database itself may be what failed; the log still says why
        log.exception("could not record the failed %s sync", name)
