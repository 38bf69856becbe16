"""The dashboard's Sync page: sync status, "Sync now", and order-export CSV imports.

Receiving the upload itself is `services.sync.uploads`; this module records and runs imports.

A dashboard import differs from `repeatcart import-orders` in one way: it commits in chunks and
records its progress on an `ImportRun` row, so the page can show it while it runs and a failure
keeps what was imported (orders are matched by gid, so importing the file again completes it
without duplicates). "Sync now" runs the worker's own job through `run_job`, under the job's
lease, so it never runs beside the worker's scheduled sync.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.config import Settings, get_settings
from services.core.db import session_scope
from services.core.leases import LeaseLost, confirm_held, lease
from services.core.tables import ImportRun, JobLease, SyncState
from services.discounts.status import CodesStatus, codes_status
from services.ingest.orders import refresh_due_dates_in_chunks, upsert_orders
from services.ingest.placeholder_merge import (
    ORDER_IMPORT_LEASE,
    MergeRecord,
    last_merge,
    merge_after_order_import,
)
from services.settings.effective import effective_settings, load_effective_settings
from services.shopify.order_export import (
    OrderExportError,
    RowError,
    open_order_export,
    read_order_export,
)
from services.shopify.records import OrderRecord
from services.sync.shop_record import ShopSetupError, ensure_shop
from services.sync.uploads import shown_filename
from services.worker import JOBS, run_job

__all__ = [
    "IMPORT_LEASE",
    "MAX_STORED_ERRORS",
    "ImportStatus",
    "StreamStatus",
    "SyncOverview",
    "import_status",
    "import_upload",
    "launch_import",
    "load_import_status",
    "load_sync_overview",
    "run_import",
    "start_import",
    "sync_now",
    "sync_overview",
    "wait_for_import",
    "wait_for_sync",
]

log = logging.getLogger(__name__)

MAX_STORED_ERRORS = 200
"""Row errors kept on the run for the report (all are counted): garbage must not bloat a row."""
CHUNK_ORDERS = 2000
"""Orders per committed transaction: what a failure can lose, and how often progress moves."""
PROGRESS_EVERY_ROWS = 1000
"""Rows between progress updates while reading rows that hold no complete order yet."""
IMPORT_LEASE = ORDER_IMPORT_LEASE
"""One dashboard import at a time: two would race on the same new customers and products."""
IMPORT_LEASE_TTL = timedelta(minutes=2)
LEASE_LOST_FAILURE = (
    "the import stopped when another process took it over; import the file again to complete "
    "it (the orders already imported are recognised, not doubled)"
)
INTERRUPTED_AFTER = timedelta(minutes=1)
"""A running import whose lease is free this long after its start has lost its process."""
SYNC_JOBS = {"orders": "order-sync", "products": "catalog-sync"}
SYNC_LABELS = {"orders": "Orders", "products": "Catalog"}
SyncOutcome = Literal["started", "already running", "not configured"]
_QUICK_SKIP_SECONDS = 0.5

_sync_threads: dict[str, threading.Thread] = {}
_import_threads: dict[int, threading.Thread] = {}


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """One sync stream (orders or catalog) as the page shows it."""

    kind: str
    label: str
    running: bool
    progress_done: int
    progress_total: int | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str  # ok | failed | "" (never ran)
    last_error: str
    summary: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ImportStatus:
    """One dashboard CSV import: progress while running, then its result and row errors."""

    id: int
    filename: str
    status: str  # running | done | failed | interrupted
    bytes_total: int
    bytes_done: int
    rows_done: int
    orders_imported: int
    error_count: int
    errors: list[dict[str, Any]]
    summary: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None
    failure: str


@dataclass(frozen=True, slots=True)
class SyncOverview:
    orders: StreamStatus
    products: StreamStatus
    imports: list[ImportStatus] = field(default_factory=list)
    shopify_configured: bool = False
    placeholders: MergeRecord | None = None
    """The last merge of order-export placeholders into the catalog."""
    discount_codes: CodesStatus = field(default_factory=CodesStatus)
    """The unique discount codes: how many of each state, and why creating them failed."""


def sync_overview(
    session: Session, *, imports: int = 5, settings: Settings | None = None
) -> SyncOverview:
    """Both sync streams and the latest imports; "running" comes from the leases, not flags.

    A process killed mid-sync leaves `SyncState.running` set, but its lease expires, so the
    lease says truthfully whether anything is running now.
    """
    now = utcnow()
    held = _held_leases(session, now)
    runs = session.exec(
        select(ImportRun)
        .order_by(col(ImportRun.started_at).desc(), col(ImportRun.id).desc())
        .limit(imports)
    ).all()
    effective = effective_settings(session, settings)
    return SyncOverview(
        orders=_stream(session, "orders", held),
        products=_stream(session, "products", held),
        imports=[_import(run, IMPORT_LEASE in held) for run in runs],
        shopify_configured=bool(effective.secret("shopify_token")),
        placeholders=last_merge(session),
        discount_codes=codes_status(session, effective.unique_codes),
    )


def load_sync_overview() -> SyncOverview:
    """`sync_overview` in a transaction of its own, for the Sync page."""
    with session_scope() as session:
        return sync_overview(session)


def import_status(session: Session, run_id: int) -> ImportStatus | None:
    run = session.get(ImportRun, run_id)
    if run is None:
        return None
    return _import(run, IMPORT_LEASE in _held_leases(session, utcnow()))


def load_import_status(run_id: int) -> ImportStatus | None:
    """`import_status` in a transaction of its own, for the Sync page following an import."""
    with session_scope() as session:
        return import_status(session, run_id)


def _held_leases(session: Session, now: datetime) -> set[str]:
    return set(session.exec(select(JobLease.name).where(JobLease.expires_at > now)))


def _stream(session: Session, kind: str, held: set[str]) -> StreamStatus:
    state = session.get(SyncState, kind) or SyncState(name=kind)
    running = SYNC_JOBS[kind] in held
    return StreamStatus(
        kind=kind,
        label=SYNC_LABELS[kind],
        running=running,
        progress_done=state.progress_done if running else 0,
        progress_total=state.progress_total if running else None,
        last_started_at=state.last_started_at,
        last_finished_at=state.last_finished_at,
        last_status=state.last_status,
        last_error=state.last_error,
        summary=dict(state.last_summary or {}),
    )


def _import(run: ImportRun, import_lease_held: bool) -> ImportStatus:
    status = run.status
    if (
        status == "running"
        and not import_lease_held
        and run.started_at < utcnow() - INTERRUPTED_AFTER
    ):
        status = "interrupted"  # its process died: nothing is importing it any more
    return ImportStatus(
        id=run.id or 0,
        filename=run.filename,
        status=status,
        bytes_total=run.bytes_total,
        bytes_done=run.bytes_done,
        rows_done=run.rows_done,
        orders_imported=run.orders_imported,
        error_count=run.error_count,
        errors=list(run.errors or []),
        summary=dict(run.summary or {}),
        started_at=run.started_at,
        finished_at=run.finished_at,
        failure=run.failure
        or ("the import stopped (the server restarted)" if status == "interrupted" else ""),
    )


# ---------------------------------------------------------------------------------------------
# Imports


def start_import(session: Session, path: Path, filename: str) -> ImportStatus:
    """Record an upload as an `ImportRun`, refusing at once a file that is no order export.

    An empty file or one without the export's columns becomes a failed run with a message that
    says what is wrong (and its file is deleted); otherwise the run is "running" and the caller
    starts `run_import` (or `launch_import`).
    """
    size = path.stat().st_size
    run = ImportRun(filename=shown_filename(filename), bytes_total=size, started_at=utcnow())
    problem = _header_problem(path) if size else "the file is empty"
    if problem is None:  # the file's orders belong to the configured shop: record it first
        try:
            ensure_shop(session, effective_settings(session), utcnow())
        except ShopSetupError as refusal:
            problem = str(refusal)
    if problem:
        run.status = "failed"
        run.failure = problem
        run.finished_at = utcnow()
        path.unlink(missing_ok=True)
    session.add(run)
    session.flush()
    return _import(run, import_lease_held=problem is None)


def _header_problem(path: Path) -> str | None:
    try:
        with open_order_export(path) as stream:
            read_order_export(stream)
    except OrderExportError as error:
        return str(error)
    except OSError as error:
        return f"cannot read the file: {error.strerror or error}"
    return None


def import_upload(path: Path, filename: str) -> ImportStatus:
    """Record a received upload (`start_import`, committed) and, when it is an order export,
    start importing it in a thread of its own; the page then follows the returned run."""
    with session_scope() as session:
        status = start_import(session, path, filename)
    if status.status == "running":
        launch_import(status.id, path)
    return status


def launch_import(run_id: int, path: Path) -> threading.Thread:
    """Run the import in a thread of its own, so the web process stays responsive."""
    thread = threading.Thread(
        target=run_import, args=(run_id, path), name=f"csv-import-{run_id}", daemon=True
    )
    _import_threads[run_id] = thread
    thread.start()
    return thread


@dataclass(slots=True)
class _ImportProgress:
    rows_done: int = 0
    bytes_done: int = 0
    orders: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    lines: int = 0
    customers_created: int = 0
    products_created: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    customers: set[int] = field(default_factory=set)
    products: set[int] = field(default_factory=set)

    def summary(self, phase: str) -> dict[str, Any]:
        return {
            "phase": phase,
            "orders_created": self.created,
            "orders_updated": self.updated,
            "orders_unchanged": self.unchanged,
            "lines": self.lines,
            "customers_created": self.customers_created,
            "products_created": self.products_created,
        }


def run_import(
    run_id: int,
    path: Path,
    *,
    now: datetime | None = None,
    chunk_orders: int = CHUNK_ORDERS,
    progress_every: int = PROGRESS_EVERY_ROWS,
    after_chunk: Callable[[int], None] | None = None,
    keep_file: bool = False,
) -> ImportStatus:
    """Import a saved upload for run `run_id` in committed chunks, recording progress.

    Each chunk of orders is written with the run's progress in one short transaction. Due dates
    are refreshed once at the end for everything touched. On any failure the run is marked
    failed with the message; the committed chunks stay, and the due dates of what they touched
    are still refreshed. `after_chunk(rows_done)` runs after each chunk (tests inject crashes).
    A run whose lease was taken over meanwhile writes nothing more: it stops at its next chunk,
    marked interrupted, and importing the file again completes it.
    """
    now = now or utcnow()
    progress = _ImportProgress()
    try:
        with lease(IMPORT_LEASE, IMPORT_LEASE_TTL) as held:
            if not held:
                _finish_run(
                    run_id,
                    progress,
                    "failed",
                    "another import is running; try again when it has finished",
                )
            else:
                _import_file(run_id, path, now, progress, chunk_orders, progress_every, after_chunk)
    except LeaseLost:
        log.warning("import %s stopped: another process took over its lease", run_id)
        _finish_run(run_id, progress, "interrupted", LEASE_LOST_FAILURE)
    except Exception as error:
        log.exception("import %s failed", run_id)
        message = (
            str(error)
            if isinstance(error, OrderExportError)
            else f"{type(error).__name__}: {error}"
        )
        _refresh_after_failure(progress, now)
        _finish_run(run_id, progress, "failed", message)
    finally:
        _import_threads.pop(run_id, None)
        if not keep_file:
            path.unlink(missing_ok=True)
    with session_scope() as session:
        status = import_status(session, run_id)
    assert status is not None
    return status


def _import_file(
    run_id: int,
    path: Path,
    now: datetime,
    progress: _ImportProgress,
    chunk_orders: int,
    progress_every: int,
    after_chunk: Callable[[int], None] | None,
) -> None:
    pending: list[OrderRecord] = []
    with open_order_export(path) as stream:
        reader = read_order_export(stream)
        raw = stream.buffer
        reported = 0
        for item in reader:
            if isinstance(item, RowError):
                progress.error_count += 1
                if len(progress.errors) < MAX_STORED_ERRORS:
                    progress.errors.append(
                        {"line": item.line, "order": item.order_name or "", "message": item.reason}
                    )
            else:
                pending.append(item)
            progress.rows_done = reader.rows_read
            progress.bytes_done = raw.tell()
            if len(pending) >= chunk_orders:
                _write_chunk(run_id, pending, now, progress)
                pending.clear()
                reported = progress.rows_done
                if after_chunk is not None:
                    after_chunk(progress.rows_done)
            elif progress.rows_done - reported >= progress_every:
                _record_progress(run_id, progress, "importing")
                reported = progress.rows_done
        progress.rows_done = reader.rows_read
    progress.bytes_done = path.stat().st_size
    if pending:
        _write_chunk(run_id, pending, now, progress)
        if after_chunk is not None:
            after_chunk(progress.rows_done)
    _record_progress(run_id, progress, "recomputing")
    with session_scope() as session:  # a run that was taken over stops before recomputing
        confirm_held(session)
    # here, not left to the worker: the merchant waits for the result, and there may be no
    # worker; in chunks, since this thread shares SQLite's writer with shoppers and webhooks
    refresh_due_dates_in_chunks(progress.customers, now, progress.products)
    merge_after_order_import(now)  # its report is recorded for the page
    if progress.rows_done == 0:
        _finish_run(
            run_id, progress, "failed", "the file has the export's columns but no order rows"
        )
    else:
        _finish_run(run_id, progress, "done", "")


def _write_chunk(
    run_id: int, orders: list[OrderRecord], now: datetime, progress: _ImportProgress
) -> None:
    with session_scope() as session:
        confirm_held(session)  # the chunk is written only while the import's lease is ours
        summary = upsert_orders(session, orders, source="csv", now=now, refresh=False)
        progress.orders += summary.orders
        progress.created += summary.orders_created
        progress.updated += summary.orders_updated
        progress.unchanged += summary.orders_unchanged
        progress.lines += summary.lines
        progress.customers_created += summary.customers_created
        progress.products_created += summary.products_created
        _store_progress(session, run_id, progress, "importing")
    # only once committed: these are what a failure later must still refresh
    progress.customers |= summary.affected_customer_ids
    progress.products |= summary.affected_product_ids


def _record_progress(run_id: int, progress: _ImportProgress, phase: str) -> None:
    with session_scope() as session:
        _store_progress(session, run_id, progress, phase)


def _store_progress(session: Session, run_id: int, progress: _ImportProgress, phase: str) -> None:
    run = session.get(ImportRun, run_id)
    if run is None:
        raise LookupError(f"import run {run_id} does not exist")
    run.rows_done = progress.rows_done
    run.bytes_done = progress.bytes_done
    run.orders_imported = progress.orders
    run.error_count = progress.error_count
    run.errors = list(progress.errors)
    run.summary = progress.summary(phase)


def _finish_run(run_id: int, progress: _ImportProgress, status: str, failure: str) -> None:
    try:
        with session_scope() as session:
            _store_progress(session, run_id, progress, status)
            run = session.get(ImportRun, run_id)
            assert run is not None
            run.status = status
            run.failure = failure[:1000]
            run.finished_at = utcnow()
    except Exception:  # the database may be what failed; the log still says why
        log.exception("could not record the end of import %s", run_id)


def _refresh_after_failure(progress: _ImportProgress, now: datetime) -> None:
    """Committed chunks changed orders: their customers' due dates must not stay stale."""
    if not progress.customers and not progress.products:
        return
    try:
        refresh_due_dates_in_chunks(progress.customers, now, progress.products)
    except Exception:
        log.exception("could not refresh due dates after a failed import")


# ---------------------------------------------------------------------------------------------
# Sync now


def sync_now(kind: str, settings: Settings | None = None) -> SyncOutcome:
    """Start the worker's sync job for `kind` in a thread, under the job's lease.

    "not configured" when no Shopify token is set (nothing starts); "already running" when the
    job's lease is held (by the worker or an earlier click).
    """
    if kind not in SYNC_JOBS:
        raise ValueError(f"unknown sync {kind!r}")
    settings = load_effective_settings(settings or get_settings())
    if not settings.secret("shopify_token"):
        return "not configured"
    job = next(job for job in JOBS if job.name == SYNC_JOBS[kind])
    with session_scope() as session:
        if job.name in _held_leases(session, utcnow()):
            return "already running"
    outcome: list[str] = []
    thread = threading.Thread(
        target=lambda: outcome.append(run_job(job, settings)),
        name=f"sync-now-{kind}",
        daemon=True,
    )
    _sync_threads[kind] = thread
    thread.start()
    thread.join(_QUICK_SKIP_SECONDS)  # someone may have taken the lease since the check
    if outcome == ["skipped"]:
        return "already running"
    return "started"


def wait_for_sync(kind: str, timeout: float = 60) -> None:
    """Block until the sync started by `sync_now(kind)` has finished (tests, CLI)."""
    thread = _sync_threads.get(kind)
    if thread is not None:
        thread.join(timeout)


def wait_for_import(run_id: int, timeout: float = 600) -> None:
    thread = _import_threads.get(run_id)
    if thread is not None:
        thread.join(timeout)
