"""`/admin/sync`: order and catalog sync status, "Sync now", and CSV order-export imports."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.components.admin_parts import rejection_codes, status_badge, when_loaded
from repeatcart_app.components.admin_sync_codes import codes_card
from repeatcart_app.state.admin_sync import (
    UPLOAD_ID,
    AdminSyncState,
    ImportHistoryRow,
    ImportRowError,
    LeftPlaceholderRow,
    SyncCard,
)
from services.sync.uploads import MAX_UPLOAD_BYTES

MAX_UPLOAD_MB = MAX_UPLOAD_BYTES // (1024 * 1024)


SYNC_COLOURS = {
    "ok": "green",
    "done": "green",
    "failed": "red",
    "interrupted": "amber",
    "running": "blue",
}


def _status_badge(status: rx.Var, label: rx.Var, testid: rx.Var | str) -> rx.Component:
    return status_badge(status, label, SYNC_COLOURS, data_testid=testid)


def _message(card: SyncCard) -> rx.Component:
    return rx.cond(
        card.message != "",
        rx.callout(
            card.message,
            icon=rx.match(
                card.message_tone, ("green", "check"), ("amber", "clock"), "triangle-alert"
            ),
            color_scheme=rx.match(
                card.message_tone, ("green", "green"), ("amber", "amber"), ("red", "red"), "gray"
            ),
            size="1",
            width="100%",
            data_testid=f"sync-message-{card.kind}",
        ),
    )


def _sync_card(card: SyncCard) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(card.label, size="4", weight="medium"),
                rx.spacer(),
                _status_badge(card.status, card.status_label, f"sync-status-{card.kind}"),
                align="center",
                width="100%",
            ),
            rx.cond(
                card.finished_utc != "",
                rx.vstack(
                    rx.text(
                        "Last finished ",
                        rx.text.strong(card.finished_relative),
                        size="2",
                        data_testid=f"sync-finished-{card.kind}",
                    ),
                    rx.text(card.finished_utc, size="1", color_scheme="gray"),
                    spacing="0",
                ),
                rx.text(
                    rx.cond(card.running, "First sync running.", "Not synced yet."),
                    size="2",
                    color_scheme="gray",
                ),
            ),
            rx.cond(
                card.summary != "",
                rx.text(card.summary, size="2", color_scheme="gray"),
            ),
            rx.cond(
                card.running,
                rx.vstack(
                    rx.cond(
                        card.progress_known,
                        rx.progress(value=card.progress_percent, max=100, width="100%"),
                        rx.progress(width="100%"),
                    ),
                    rx.text(
                        "Started ",
                        card.started_relative,
                        " · ",
                        card.progress_label,
                        size="1",
                        color_scheme="gray",
                    ),
                    spacing="1",
                    width="100%",
                    data_testid=f"sync-progress-{card.kind}",
                ),
            ),
            rx.cond(
                card.error != "",
                rx.callout(
                    card.error,
                    icon="circle-alert",
                    color_scheme="red",
                    size="1",
                    width="100%",
                    data_testid=f"sync-error-{card.kind}",
                ),
            ),
            _message(card),
            rx.spacer(),
            rx.button(
                rx.icon("refresh-cw", size=14),
                "Sync now",
                on_click=AdminSyncState.sync_now(card.kind),
                variant="soft",
                data_testid=f"sync-now-{card.kind}",
            ),
            spacing="3",
            height="100%",
            width="100%",
        ),
        size="2",
        data_testid=f"sync-card-{card.kind}",
    )


def _left_row(item: LeftPlaceholderRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(item.title, weight="medium"), word_break="break-word"),
        rx.table.cell(item.sku, white_space="nowrap"),
        rx.table.cell(
            status_badge(item.kind, item.kind_label, {"ambiguous": "amber", "unmatched": "gray"}),
            white_space="nowrap",
        ),
        rx.table.cell(item.reason),
        data_testid="placeholder-left-row",
    )


def _merge_card() -> rx.Component:
    """The last merge of order-export placeholders into the catalog, and what it left."""
    merge = AdminSyncState.merge
    return rx.card(
        rx.vstack(
            rx.heading("Imported products matched to the catalog", size="4", weight="medium"),
            rx.text(
                "A line of an order export that matches no product is kept on a placeholder, "
                "which carts show but cannot check out. After every catalog sync and import, a "
                "placeholder that matches exactly one catalog variant (by SKU, else by title or "
                "handle and variant title) joins it with its orders, due dates and settings.",
                size="2",
                color_scheme="gray",
            ),
            rx.text(merge.headline, size="3", weight="medium", data_testid="merge-headline"),
            rx.text(merge.when, size="1", color_scheme="gray"),
            rx.cond(
                merge.error != "",
                rx.callout(
                    "The last merge failed: " + merge.error,
                    icon="circle-alert",
                    color_scheme="red",
                    size="1",
                    width="100%",
                    data_testid="merge-error",
                ),
            ),
            rx.cond(
                AdminSyncState.merge_left.length() > 0,
                rx.vstack(
                    rx.box(
                        rx.table.root(
                            rx.table.header(
                                rx.table.row(
                                    rx.table.column_header_cell("Placeholder"),
                                    rx.table.column_header_cell("SKU"),
                                    rx.table.column_header_cell("Result"),
                                    rx.table.column_header_cell("Why it stayed apart"),
                                )
                            ),
                            rx.table.body(rx.foreach(AdminSyncState.merge_left, _left_row)),
                            size="1",
                            width="100%",
                        ),
                        max_height="360px",
                        overflow="auto",
                        width="100%",
                        border=f"1px solid {rx.color('gray', 5)}",
                        border_radius="8px",
                    ),
                    rx.cond(
                        merge.shown_note != "",
                        rx.text(merge.shown_note, size="1", color_scheme="gray"),
                    ),
                    rx.text(
                        "Give the product in Shopify the SKU or title the export uses (or a "
                        "unique one where several match); the next catalog sync merges it.",
                        size="1",
                        color_scheme="gray",
                    ),
                    spacing="2",
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        size="2",
        width="100%",
        data_testid="placeholder-merge",
    )


def _dropzone() -> rx.Component:
    selected = rx.selected_files(UPLOAD_ID)
    return rx.upload(
        rx.vstack(
            rx.icon("file-up", size=28, color=rx.color("gray", 10)),
            rx.cond(
                selected.length() > 0,
                rx.text(
                    selected[0],
                    size="2",
                    weight="medium",
                    text_align="center",
                    word_break="break-all",
                    data_testid="selected-file",
                ),
                rx.text(
                    "Drop the order export here, or click to choose it",
                    size="2",
                    text_align="center",
                ),
            ),
            rx.text(f"CSV, up to {MAX_UPLOAD_MB} MB", size="1", color_scheme="gray"),
            align="center",
            spacing="2",
            padding="24px 16px",
        ),
        id=UPLOAD_ID,
        multiple=False,
        max_files=1,
        max_size=MAX_UPLOAD_BYTES,
        disabled=AdminSyncState.import_busy,
        on_drop_rejected=lambda rejections: AdminSyncState.upload_rejected(
            rejection_codes(rejections)
        ),
        padding="0",
        border=f"1px dashed {rx.color('gray', 8)}",
        border_radius="12px",
        width="100%",
        cursor="pointer",
        _hover={"background": rx.color("gray", 2)},
        data_testid="upload-dropzone",
    )


def _error_row(error: ImportRowError) -> rx.Component:
    return rx.table.row(
        rx.table.cell(error.line, white_space="nowrap"),
        rx.table.cell(error.order, white_space="nowrap"),
        rx.table.cell(error.message),
        data_testid="import-error-row",
    )


def _error_report() -> rx.Component:
    return rx.cond(
        AdminSyncState.import_errors.length() > 0,
        rx.vstack(
            rx.text(
                "Rows not imported: ",
                AdminSyncState.import_error_count,
                rx.cond(
                    AdminSyncState.import_errors_shown != AdminSyncState.import_error_count,
                    rx.text.span(" (the first ", AdminSyncState.import_errors_shown, " shown)"),
                ),
                size="2",
                weight="medium",
            ),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Line"),
                            rx.table.column_header_cell("Order"),
                            rx.table.column_header_cell("Problem"),
                        )
                    ),
                    rx.table.body(rx.foreach(AdminSyncState.import_errors, _error_row)),
                    size="1",
                    width="100%",
                ),
                max_height="320px",
                overflow="auto",
                width="100%",
                border=f"1px solid {rx.color('gray', 5)}",
                border_radius="8px",
            ),
            rx.text(
                "Fix these rows in the file and import it again: orders already imported are "
                "recognised and not duplicated.",
                size="1",
                color_scheme="gray",
            ),
            spacing="2",
            width="100%",
            data_testid="import-errors",
        ),
    )


def _import_progress() -> rx.Component:
    phase = AdminSyncState.import_phase
    return rx.cond(
        phase != "",
        rx.vstack(
            rx.cond(
                AdminSyncState.import_status_label != "",
                rx.vstack(
                    rx.text(
                        AdminSyncState.import_status_label,
                        size="2",
                        data_testid="import-phase",
                    ),
                    rx.progress(
                        value=rx.cond(
                            phase == "uploading",
                            AdminSyncState.upload_percent,
                            AdminSyncState.import_percent,
                        ),
                        max=100,
                        width="100%",
                        data_testid="import-progress",
                    ),
                    spacing="2",
                    width="100%",
                ),
            ),
            rx.cond(
                phase == "done",
                rx.callout(
                    rx.text("Imported ", rx.text.strong(AdminSyncState.import_filename), "."),
                    icon="check",
                    color_scheme="green",
                    width="100%",
                    data_testid="import-done",
                ),
            ),
            rx.cond(
                AdminSyncState.import_message != "",
                rx.callout(
                    AdminSyncState.import_message,
                    icon="triangle-alert",
                    color_scheme="red",
                    width="100%",
                    data_testid="import-message",
                ),
            ),
            rx.cond(
                (AdminSyncState.import_result != "") & ~AdminSyncState.import_busy,
                rx.text(
                    AdminSyncState.import_result,
                    size="2",
                    color_scheme="gray",
                    data_testid="import-result",
                ),
            ),
            _error_report(),
            spacing="3",
            width="100%",
        ),
    )


def _import_section() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Import orders from a CSV file", size="4", weight="medium"),
            rx.text(
                "In Shopify, open Orders → Export and choose CSV. Importing a file again is "
                "safe: orders already imported are updated, never duplicated.",
                size="2",
                color_scheme="gray",
            ),
            _dropzone(),
            rx.button(
                rx.icon("upload", size=14),
                "Import",
                on_click=[
                    AdminSyncState.begin_upload,
                    AdminSyncState.upload_export(
                        rx.upload_files_chunk(
                            upload_id=UPLOAD_ID,
                            on_upload_progress=AdminSyncState.upload_progress,
                        )
                    ),
                    rx.clear_selected_files(UPLOAD_ID),
                ],
                disabled=AdminSyncState.import_busy | (rx.selected_files(UPLOAD_ID).length() == 0),
                loading=AdminSyncState.import_busy,
                data_testid="import-start",
            ),
            _import_progress(),
            spacing="4",
            width="100%",
        ),
        size="2",
        width="100%",
    )


def _history_row(run: ImportHistoryRow) -> rx.Component:
    return rx.box(
        rx.flex(
            rx.vstack(
                rx.text(run.filename, size="2", weight="medium", word_break="break-all"),
                rx.text(
                    run.started_relative, " · ", run.started_utc, size="1", color_scheme="gray"
                ),
                spacing="0",
                min_width="0",
                flex="1",
            ),
            rx.hstack(
                rx.text(
                    run.rows, " rows · ", run.orders, " orders · ", run.errors, " errors", size="1"
                ),
                _status_badge(run.status, run.status_label, "history-status"),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            direction=rx.breakpoints(initial="column", sm="row"),
            gap="2",
            justify="between",
            align=rx.breakpoints(initial="start", sm="center"),
            width="100%",
        ),
        rx.cond(
            run.failure != "",
            rx.text(run.failure, size="1", color_scheme="red", margin_top="4px"),
        ),
        padding="12px 0",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        width="100%",
        data_testid="history-row",
    )


def _history() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Recent imports", size="4", weight="medium"),
            rx.cond(
                AdminSyncState.history.length() > 0,
                rx.vstack(
                    rx.foreach(AdminSyncState.history, _history_row), spacing="0", width="100%"
                ),
                rx.text("No file imported yet.", size="2", color_scheme="gray"),
            ),
            spacing="2",
            width="100%",
        ),
        size="2",
        width="100%",
        data_testid="import-history",
    )


@admin_page("Sync", routes.ADMIN_SYNC)
def admin_sync_page() -> rx.Component:
    return when_loaded(
        AdminSyncState.loaded,
        rx.vstack(
            rx.hstack(
                rx.text(
                    "Orders and products come from Shopify on a schedule; sync now or import an "
                    "order export to catch up.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.spacer(),
                rx.button(
                    rx.icon("rotate-cw", size=14),
                    "Refresh",
                    on_click=AdminSyncState.refresh,
                    variant="ghost",
                    color_scheme="gray",
                    data_testid="refresh",
                ),
                align="start",
                width="100%",
            ),
            rx.cond(
                ~AdminSyncState.shopify_configured,
                rx.callout(
                    rx.text(
                        "Shopify is not connected, so nothing syncs. Add the shop and its access "
                        "token on the ",
                        rx.link("Store page", href=routes.ADMIN_STORE),
                        ". You can still import an order export below.",
                    ),
                    icon="info",
                    color_scheme="gray",
                    width="100%",
                    data_testid="not-configured",
                ),
            ),
            rx.grid(
                rx.foreach(AdminSyncState.cards, _sync_card),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            rx.cond(AdminSyncState.codes_shown, codes_card()),
            rx.cond(AdminSyncState.merge.ran, _merge_card()),
            _import_section(),
            _history(),
            spacing="5",
            width="100%",
            data_testid="admin-sync",
        ),
    )
