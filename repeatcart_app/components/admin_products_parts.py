"""The Products page's two side panels: the replacement dialog and the bulk override upload."""

from __future__ import annotations

import reflex as rx

from repeatcart_app.components.admin_parts import rejection_codes
from repeatcart_app.state.admin_products import BULK_UPLOAD_ID
from repeatcart_app.state.admin_products import AdminProductsState as State
from services.products.bulk_overrides import MAX_CSV_BYTES


def _replacement_search() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="replacement_search",
                placeholder="Search title, handle or SKU",
                aria_label="Search the replacement product",
                flex="1",
                auto_focus=True,
                data_testid="replacement-search",
            ),
            rx.button("Search", type="submit"),
            spacing="2",
            width="100%",
        ),
        on_submit=State.search_replacement,
        reset_on_submit=False,
        margin_top="16px",
    )


def _result(result: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.text(result["title"], size="2", weight="medium"),
            rx.text(result["handle"], size="1", color_scheme="gray"),
            spacing="0",
            min_width="0",
        ),
        rx.spacer(),
        rx.button(
            "Choose",
            on_click=State.choose_replacement(result["id"]),
            size="1",
            data_testid="replacement-choose",
        ),
        align="center",
        width="100%",
        padding="8px 0",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
    )


def _replacement_results() -> rx.Component:
    return rx.vstack(
        rx.foreach(State.replacement_results, _result),
        spacing="0",
        width="100%",
        margin_top="8px",
        max_height="300px",
        overflow_y="auto",
    )


def replacement_dialog() -> rx.Component:
    """Pick the product carts show in place of the one being edited, or remove the mapping."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Replacement for " + State.replacing_title),
            rx.dialog.description(
                "Carts show the replacement wherever a customer bought this product "
                "(for a discontinued or renamed product).",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                State.replacing_current != "",
                rx.text(
                    "Now replaced by ",
                    rx.text.strong(State.replacing_current),
                    size="2",
                    margin_top="8px",
                ),
            ),
            _replacement_search(),
            rx.cond(
                State.replacement_error != "",
                rx.callout(
                    State.replacement_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    size="1",
                    margin_top="12px",
                    data_testid="replacement-error",
                ),
            ),
            _replacement_results(),
            rx.hstack(
                rx.cond(
                    State.replacing_current != "",
                    rx.button(
                        "Remove replacement",
                        on_click=State.remove_replacement,
                        variant="soft",
                        color_scheme="red",
                        data_testid="replacement-remove",
                    ),
                ),
                rx.spacer(),
                rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")),
                margin_top="16px",
                width="100%",
            ),
            max_width="480px",
        ),
        open=State.replacing_id != "",
        on_open_change=State.close_replacement,
    )


def bulk_card() -> rx.Component:
    """The CSV upload of overrides, and the report of the last one."""
    return rx.card(
        rx.vstack(
            rx.heading("Bulk override", size="4", as_="h2"),
            rx.text(
                "Upload a CSV with a header row: “handle” or “sku”, and “days” "
                "(1 to 730). Good rows are applied; each problem is listed by row.",
                size="2",
                color_scheme="gray",
            ),
            rx.code("handle,days\nhouse-blend-coffee,28", white_space="pre", size="1"),
            rx.upload(
                rx.vstack(
                    rx.icon("upload", size=20, color=rx.color("gray", 10)),
                    rx.text("Drop a CSV here, or click to choose one", size="2"),
                    align="center",
                    spacing="2",
                ),
                id=BULK_UPLOAD_ID,
                accept={"text/csv": [".csv"]},
                multiple=False,
                max_files=1,
                max_size=MAX_CSV_BYTES,
                on_drop=State.upload_bulk(rx.upload_files(upload_id=BULK_UPLOAD_ID)),
                on_drop_rejected=lambda rejections: State.bulk_rejected(
                    rejection_codes(rejections)
                ),
                border=f"1px dashed {rx.color('gray', 7)}",
                border_radius="12px",
                padding="20px",
                width="100%",
                cursor="pointer",
                data_testid="bulk-upload",
            ),
            rx.cond(State.bulk_done, _bulk_report()),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _bulk_report() -> rx.Component:
    return rx.vstack(
        rx.cond(
            State.bulk_file_error != "",
            rx.callout(
                State.bulk_file_error,
                icon="triangle-alert",
                color_scheme="red",
                width="100%",
                data_testid="bulk-file-error",
            ),
            rx.callout(
                State.bulk_file_name
                + ": "
                + State.bulk_applied
                + " of "
                + State.bulk_rows
                + " rows applied.",
                icon="circle-check",
                color_scheme=rx.cond(State.bulk_problems.length() > 0, "amber", "grass"),
                width="100%",
                data_testid="bulk-summary",
            ),
        ),
        rx.cond(
            State.bulk_problems.length() > 0,
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Row"),
                            rx.table.column_header_cell("Handle or SKU"),
                            rx.table.column_header_cell("Problem"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            State.bulk_problems,
                            lambda problem: rx.table.row(
                                rx.table.cell(problem["row"]),
                                rx.table.cell(problem["key"]),
                                rx.table.cell(problem["message"]),
                                data_testid="bulk-problem",
                            ),
                        )
                    ),
                    size="1",
                    width="100%",
                ),
                max_height="320px",
                overflow="auto",
                width="100%",
                data_testid="bulk-problems",
            ),
        ),
        spacing="3",
        width="100%",
    )
