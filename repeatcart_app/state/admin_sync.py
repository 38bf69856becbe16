"""The dashboard's Sync page state: sync status cards, "Sync now", and CSV order imports.

The work runs in threads of the web process (`services.sync.runs`); this state only starts it
and follows it. Two background events poll the database: one while a sync runs, one while an
import runs; each stops when its work is done or when the browser has left the page.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.state.auth import AuthState, admin_event
from services.core.clock import utcnow
from services.ingest import placeholder_merge
from services.sync import runs as sync_runs
from services.sync import uploads

UPLOAD_ID = "order-export"
POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 6 * 3600
"""A poller gives up after this long even if the work has not ended (a stuck sync)."""
SHOWN_ROW_ERRORS = 200
SHOWN_PLACEHOLDERS = 50
SYNC_KINDS = ("orders", "products")


@dataclasses.dataclass
class SyncCard:
    """One sync stream (Orders or Catalog) as its card shows it."""

    kind: str = ""
    label: str = ""
    running: bool = False
    progress_known: bool = False
    progress_percent: int = 0
    progress_label: str = ""
    status: str = "never"  # never | ok | failed | running
    status_label: str = "Never run"
    finished_relative: str = ""
    finished_utc: str = ""
    started_relative: str = ""
    summary: str = ""
    error: str = ""
    message: str = ""
    message_tone: str = "gray"  # gray | green | amber | red


@dataclasses.dataclass
class ImportRowError:
    line: str = ""
    order: str = ""
    message: str = ""


@dataclasses.dataclass
class ImportHistoryRow:
    id: int = 0
    filename: str = ""
    status: str = ""
    status_label: str = ""
    status_color: str = "gray"
    started_utc: str = ""
    started_relative: str = ""
    rows: str = "0"
    orders: str = "0"
    errors: str = "0"
    failure: str = ""


@dataclasses.dataclass
class MergeSummary:
    """The last merge of order-export placeholders into the catalog, as its card shows it."""

    ran: bool = False
    headline: str = ""
    when: str = ""
    error: str = ""
    shown_note: str = ""


@dataclasses.dataclass
class LeftPlaceholderRow:
    title: str = ""
    sku: str = ""
    kind: str = ""  # unmatched | ambiguous
    kind_label: str = ""
    reason: str = ""


_MERGE_TRIGGERS = {"catalog sync": "After the catalog sync", "order import": "After an import"}


def merge_summary(
    record: placeholder_merge.MergeRecord | None, now: datetime
) -> tuple[MergeSummary, list[LeftPlaceholderRow]]:
    """The card's lines and the first `SHOWN_PLACEHOLDERS` placeholders left, with reasons."""
    if record is None:
        return MergeSummary(), []
    report = record.report
    headline = f"{report.merged:,} merged, {report.left_count:,} not in the catalog"
    if report.error:
        headline = "Nothing merged: the last run failed"
    elif report.ambiguous:
        headline += f" ({report.ambiguous:,} of them match several products)"
    trigger = _MERGE_TRIGGERS.get(report.trigger, "Last run")
    when = " · ".join(
        part
        for part in (trigger, _relative(record.finished_at, now), _utc_label(record.finished_at))
        if part
    )
    shown = report.left[:SHOWN_PLACEHOLDERS]
    note = (
        f"The first {len(shown):,} of {report.left_count:,} are listed."
        if report.left_count > len(shown)
        else ""
    )
    rows = [
        LeftPlaceholderRow(
            title=item.title,
            sku=item.sku or "—",
            kind=item.kind,
            kind_label="Several matches" if item.kind == "ambiguous" else "No match",
            reason=item.reason,
        )
        for item in shown
    ]
    return MergeSummary(True, headline, when, report.error, note), rows


def _utc_label(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _relative(moment: datetime | None, now: datetime) -> str:
    """ "3 min ago": what a merchant reads at a glance; the UTC time is shown beside it."""
    if moment is None:
        return ""
    seconds = int((now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    days = seconds // 86400
    return f"{days:,} day{'s' if days != 1 else ''} ago"


def _summary_line(kind: str, summary: dict) -> str:
    if not summary:
        return ""
    noun = "orders" if kind == "orders" else "products"
    parts = [
        f"{int(summary.get('created', 0)):,} new {noun}",
        f"{int(summary.get('updated', 0)):,} updated",
        f"{int(summary.get('unchanged', 0)):,} unchanged",
    ]
    if kind == "products":
        parts.append(f"{int(summary.get('deleted', 0)):,} marked deleted")
    seconds = summary.get("seconds")
    if isinstance(seconds, int | float):
        parts.append(f"took {seconds:,.1f} s")
    return " · ".join(parts)


def _card(stream: sync_runs.StreamStatus, now: datetime, message: str, tone: str) -> SyncCard:
    noun = "orders" if stream.kind == "orders" else "products"
    total = stream.progress_total
    if stream.running:
        status, label = "running", "Running"
    elif stream.last_status == "ok":
        status, label = "ok", "Succeeded"
    elif stream.last_status == "failed":
        status, label = "failed", "Failed"
    else:
        status, label = "never", "Never run"
    if total:
        percent = min(100, round(100 * stream.progress_done / total))
        progress = f"{stream.progress_done:,} of {total:,} {noun}"
    else:
        percent = 0
        progress = f"{stream.progress_done:,} {noun} so far"
    return SyncCard(
        kind=stream.kind,
        label=stream.label,
        running=stream.running,
        progress_known=bool(total),
        progress_percent=percent,
        progress_label=progress,
        status=status,
        status_label=label,
        finished_relative=_relative(stream.last_finished_at, now),
        finished_utc=_utc_label(stream.last_finished_at),
        started_relative=_relative(stream.last_started_at, now),
        summary=_summary_line(stream.kind, stream.summary),
        error=stream.last_error if stream.last_status == "failed" else "",
        message=message,
        message_tone=tone,
    )


_IMPORT_STATUS = {
    "running": ("Importing", "blue"),
    "done": ("Imported", "green"),
    "failed": ("Failed", "red"),
    "interrupted": ("Interrupted", "amber"),
}


def _history_row(run: sync_runs.ImportStatus, now: datetime) -> ImportHistoryRow:
    label, color = _IMPORT_STATUS.get(run.status, (run.status, "gray"))
    return ImportHistoryRow(
        id=run.id,
        filename=run.filename,
        status=run.status,
        status_label=label,
        status_color=color,
        started_utc=_utc_label(run.started_at),
        started_relative=_relative(run.started_at, now),
        rows=f"{run.rows_done:,}",
        orders=f"{run.orders_imported:,}",
        errors=f"{run.error_count:,}",
        failure=run.failure,
    )


_SYNC_MESSAGES = {
    "started": ("Sync started.", "green"),
    "already running": ("A sync is already running; its progress is shown below.", "amber"),
    "not configured": (
        "Shopify is not connected: add the shop domain and Admin API access token on the Store "
        "page, then sync.",
        "red",
    ),
}


class AdminSyncState(AuthState):
    loaded: bool = False
    shopify_configured: bool = False
    cards: list[SyncCard] = []
    history: list[ImportHistoryRow] = []
    merge: MergeSummary = MergeSummary()
    merge_left: list[LeftPlaceholderRow] = []
    # unique discount codes: shown while switched on, or while any exist
    codes_shown: bool = False
    codes_line: str = ""
    codes_error: str = ""

    # the import this browser follows: "" | uploading | importing | done | failed
    import_phase: str = ""
    import_filename: str = ""
    upload_percent: int = 0
    import_percent: int = 0
    import_status_label: str = ""
    import_message: str = ""
    import_result: str = ""
    import_error_count: str = "0"
    import_errors_shown: str = "0"
    import_errors: list[ImportRowError] = []

    _sync_messages: dict[str, tuple[str, str]] = {}
    _sync_polling: bool = False
    _import_polling: bool = False
    _followed_run_id: int = 0
    _running_run_id: int = 0

    @rx.var
    def import_busy(self) -> bool:
        return self.import_phase in ("uploading", "importing")

    def _show_overview(self, overview: sync_runs.SyncOverview) -> bool:
        """Show everything the page shows; True when a sync is running."""
        now = utcnow()
        self.shopify_configured = overview.shopify_configured
        streams = {"orders": overview.orders, "products": overview.products}
        self.cards = [
            _card(streams[kind], now, *self._sync_messages.get(kind, ("", "gray")))
            for kind in SYNC_KINDS
        ]
        self.history = [_history_row(run, now) for run in overview.imports]
        self.merge, self.merge_left = merge_summary(overview.placeholders, now)
        codes = overview.discount_codes
        self.codes_shown = codes.enabled or bool(codes.created + codes.pending + codes.failed)
        ran = _relative(codes.last_run_at, now)
        self.codes_line = (
            f"{codes.created:,} created · {codes.pending:,} waiting · {codes.failed:,} failed "
            "(their reminders use the shared code) · "
            + (f"last run {ran}" if ran else "not run yet")
        )
        self.codes_error = codes.error or codes.last_failure
        latest = overview.imports[0] if overview.imports else None
        self._running_run_id = latest.id if latest and latest.status == "running" else 0
        return overview.orders.running or overview.products.running

    def _refresh(self) -> bool:
        """Read and show the page (in a handler already off the event loop)."""
        return self._show_overview(sync_runs.load_sync_overview())

    async def _refresh_async(self) -> bool:
        """Read the page in a thread, then show it under the state's lock (background events)."""
        overview = await asyncio.to_thread(sync_runs.load_sync_overview)
        async with self:
            return self._show_overview(overview)

    @admin_event
    def load(self):
        self._sync_messages = {}
        running = self._refresh()
        self.loaded = True
        events = []
        if running:
            events.append(AdminSyncState.poll_sync)
        if not self._import_polling:
            if self._running_run_id:
                events.append(AdminSyncState.follow_import(self._running_run_id))
            elif self.import_busy:
                self._show_last_import()  # it ended while the page was away
        return events or None

    def _show_last_import(self) -> None:
        status = (
            sync_runs.load_import_status(self._followed_run_id) if self._followed_run_id else None
        )
        if status is None:
            self.import_phase = ""
            self.import_status_label = ""
        else:
            self._show_import(status)

    @admin_event
    def refresh(self):
        if self._refresh():
            return AdminSyncState.poll_sync
        return None

    @admin_event
    def sync_now(self, kind: str):
        if kind not in SYNC_KINDS:
            return rx.toast.error("Unknown sync.")
        # starting the job waits a moment for a lease race to show (off the event loop)
        outcome = sync_runs.sync_now(kind)
        self._sync_messages = {**self._sync_messages, kind: _SYNC_MESSAGES[outcome]}
        running = self._refresh()
        if running or outcome == "started":
            return AdminSyncState.poll_sync
        return None

    @admin_event(background=True)
    async def poll_sync(self):
        """Follows running syncs once a second; stops when none runs or the page was left."""
        async with self:
            if self._sync_polling:
                return
            self._sync_polling = True
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + MAX_POLL_SECONDS
            while loop.time() < deadline:
                await asyncio.sleep(POLL_SECONDS)
                async with self:
                    if self._left_page():
                        break
                if not await self._refresh_async():
                    async with self:
                        # done: the card's status and time tell how it went, not "started"
                        self._sync_messages = {
                            kind: message
                            for kind, message in self._sync_messages.items()
                            if message != _SYNC_MESSAGES["started"]
                        }
                    await self._refresh_async()
                    break
        finally:
            async with self:
                self._sync_polling = False

    def _left_page(self) -> bool:
        """A poll stops once the tab shows another page, or signed out (its data was reset)."""
        return self.router.page.path != routes.ADMIN_SYNC or not self.session_token

    @admin_event
    def begin_upload(self):
        """Runs before the upload: resets the report, so a previous result is not mistaken."""
        if self.import_busy:
            return
        self.import_phase = "uploading"
        self.upload_percent = 0
        self.import_percent = 0
        self.import_status_label = "Uploading 0%"
        self.import_message = ""
        self.import_result = ""
        self.import_error_count = "0"
        self.import_errors_shown = "0"
        self.import_errors = []

    @admin_event
    def upload_progress(self, progress: dict):
        if self.import_phase != "uploading":
            return  # a late browser report after the server already has the file
        fraction = progress.get("progress")
        if isinstance(fraction, int | float) and 0 <= fraction <= 1:
            self.upload_percent = int(fraction * 100)
            self.import_status_label = f"Uploading {self.upload_percent}%"

    @admin_event
    def upload_rejected(self, codes: list[str]):
        """The browser refused the file before sending it (too large, or not one file).

        Only react-dropzone's error codes come here: the rejected File itself would be sent
        along as a socket attachment, which for a huge file breaks the connection.
        """
        refused = {str(code) for code in codes} if isinstance(codes, list) else set()
        self.import_phase = "failed"
        self.import_status_label = ""
        self.import_result = ""
        self.import_errors = []
        if "file-too-large" in refused:
            self.import_message = (
                f"The file is larger than {uploads.MAX_UPLOAD_BYTES // (1024 * 1024)} MB; "
                "export a shorter date range from Shopify and import the parts one after another."
            )
        elif "too-many-files" in refused:
            self.import_message = "Choose one file at a time."
        else:
            self.import_message = "This file cannot be imported: choose a CSV order export."

    @admin_event(background=True)
    async def upload_export(self, chunks: rx.UploadChunkIterator):
        """Receives the upload as a stream (the size limit holds as the bytes arrive)."""
        async with self:
            if self._import_polling:
                self.import_message = "An import is running: wait for it to finish."
                return
            self._import_polling = True
            self.import_phase = "uploading"
        run_id: int | None = None
        try:
            run_id = await self._receive(chunks)
        finally:
            if run_id is None:
                async with self:
                    self._import_polling = False
        if run_id is not None:
            await self._follow(run_id)

    async def _receive(self, chunks: rx.UploadChunkIterator) -> int | None:
        """Save the upload and start its import; None (with a message shown) when refused."""
        sink = uploads.UploadSink(await asyncio.to_thread(uploads.upload_dir))
        filename: str | None = None
        try:
            async for chunk in chunks:
                if filename is None:
                    filename = chunk.filename
                elif chunk.filename != filename:
                    raise uploads.UploadRefused("choose one file at a time")
                sink.write(chunk.data)
            sink.close()
        except uploads.UploadRefused as refusal:  # too large, or more than one file
            sink.discard()
            await self._show_refusal(str(refusal))
            return None
        except BaseException:
            sink.discard()
            raise
        if filename is None:
            sink.discard()
            await self._show_refusal("no file was received; choose a file and try again")
            return None
        status = await asyncio.to_thread(sync_runs.import_upload, sink.path, filename)
        if status.status == "failed":
            await self._show_refusal(status.failure)
            return None
        async with self:
            self.import_filename = status.filename
            self.upload_percent = 100
            self._show_import(status)
        return status.id

    async def _show_refusal(self, message: str) -> None:
        async with self:
            self.import_phase = "failed"
            self.import_message = f"Not imported: {message}."
            self.import_status_label = ""
        await self._refresh_async()

    @admin_event(background=True)
    async def follow_import(self, run_id: int):
        """Resumes following an import that was running when the page was opened."""
        async with self:
            if self._import_polling or not isinstance(run_id, int):
                return
            self._import_polling = True
            self.import_phase = "importing"
        await self._follow(run_id)

    async def _follow(self, run_id: int) -> None:
        """Poll the run until it ends (or the page is left), then show its report."""
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + MAX_POLL_SECONDS
            while loop.time() < deadline:
                status = await asyncio.to_thread(sync_runs.load_import_status, run_id)
                async with self:
                    if status is None or self._left_page():
                        break
                    self._show_import(status)
                if status.status != "running":
                    await self._refresh_async()
                    break
                await asyncio.sleep(POLL_SECONDS / 2)
        finally:
            async with self:
                self._import_polling = False

    def _show_import(self, status: sync_runs.ImportStatus) -> None:
        self._followed_run_id = status.id
        self.import_filename = status.filename
        if status.bytes_total:
            self.import_percent = min(100, round(100 * status.bytes_done / status.bytes_total))
        phase = status.summary.get("phase", "")
        if status.status == "running":
            self.import_phase = "importing"
            if phase == "recomputing":
                self.import_status_label = (
                    f"Imported {status.rows_done:,} rows; updating due dates…"
                )
            else:
                self.import_status_label = f"Importing {status.rows_done:,} rows…"
        else:
            self.import_phase = "done" if status.status == "done" else "failed"
            if status.status == "done":
                self.import_percent = 100
                self.import_status_label = f"Done: {status.rows_done:,} rows read"
            else:
                self.import_status_label = f"Stopped after {status.rows_done:,} rows"
            self.import_message = (
                f"Not finished: {status.failure}. What was imported is kept; import the file "
                "again to complete it (orders already imported are not duplicated)."
                if status.status != "done"
                else ""
            )
        created = status.summary.get("orders_created", 0)
        updated = status.summary.get("orders_updated", 0)
        unchanged = status.summary.get("orders_unchanged", 0)
        self.import_result = (
            f"{status.rows_done:,} rows read · {status.orders_imported:,} orders "
            f"({created:,} new, {updated:,} updated, {unchanged:,} unchanged) · "
            f"{status.error_count:,} rows with errors"
        )
        self.import_error_count = f"{status.error_count:,}"
        self.import_errors_shown = f"{min(len(status.errors), SHOWN_ROW_ERRORS):,}"
        self.import_errors = [
            ImportRowError(
                line=f"{error.get('line', '')}",
                order=str(error.get("order") or "—"),
                message=str(error.get("message", "")),
            )
            for error in status.errors[:SHOWN_ROW_ERRORS]
        ]
