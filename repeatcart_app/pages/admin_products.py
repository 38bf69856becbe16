"""`/admin/products`: every product with its learned interval, the merchant's override and
replacement, searched, sorted and paged on the server; plus a bulk override upload."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_cross_sell import cross_sell_card
from repeatcart_app.components.admin_featured_links import featured_links_dialog, links_button
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.components.admin_parts import TONES, pagination, status_badge, when_loaded
from repeatcart_app.components.admin_products_parts import bulk_card, replacement_dialog
from repeatcart_app.components.layout import desktop_only, phone_only
from repeatcart_app.state.admin_products import AdminProductsState

State = AdminProductsState

SORT_OPTIONS = (
    ("title", "Name"),
    ("median", "Median interval"),
    ("n", "Customers who reordered"),
    ("status", "Status"),
)


def _thumb(row: rx.Var, size: str = "40px") -> rx.Component:
    return rx.cond(
        row["image"] != "",
        rx.image(
            src=row["image"],
            alt="",
            width=size,
            height=size,
            loading="lazy",
            style={"object_fit": "cover", "border_radius": "8px", "flex_shrink": "0"},
        ),
        rx.center(
            rx.icon("package", size=18, color=rx.color("gray", 9)),
            width=size,
            height=size,
            flex_shrink="0",
            border_radius="8px",
            background=rx.color("gray", 3),
        ),
    )


def _plans(row: rx.Var) -> rx.Component:
    """The product's selling plans, when it has any (Primed For Subscription offers one)."""
    return rx.cond(
        row["plans"] != "",
        rx.text(row["plans"], size="1", color_scheme="grass", data_testid="plans"),
    )


def _status_badge(row: rx.Var) -> rx.Component:
    return status_badge(
        row["status_color"],
        row["status"],
        TONES,
        variant="soft",
        title=row["status_hint"],
        data_testid="status",
    )


def _override_editor(row: rx.Var) -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.hstack(
                rx.input(
                    name="days",
                    default_value=State.override_input,
                    placeholder="days",
                    input_mode="decimal",
                    aria_label="Override interval in days for " + row["title"],
                    auto_focus=True,
                    width="80px",
                    data_testid="override-input",
                ),
                rx.button("Save", type="submit", size="2", data_testid="override-save"),
                rx.button(
                    "Cancel",
                    type="button",
                    variant="soft",
                    color_scheme="gray",
                    size="2",
                    on_click=State.cancel_override,
                ),
                spacing="2",
                align="center",
            ),
            rx.cond(
                State.override_error != "",
                rx.text(
                    State.override_error,
                    color_scheme="red",
                    size="1",
                    max_width="260px",
                    role="alert",
                    data_testid="override-error",
                ),
                rx.text("1 to 730 days", size="1", color_scheme="gray"),
            ),
            spacing="1",
        ),
        on_submit=State.save_override,
        reset_on_submit=False,
    )


def _override_cell(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["id"] == State.editing_id,
        _override_editor(row),
        rx.hstack(
            rx.text(
                rx.cond(row["override"] != "", row["override"] + " d", "—"),
                size="2",
                white_space="nowrap",
                data_testid="override-value",
            ),
            rx.button(
                rx.icon("pencil", size=14),
                rx.cond(row["override"] != "", "Edit", "Set"),
                on_click=State.edit_override(row["id"]),
                variant="soft",
                size="1",
                aria_label="Edit the override of " + row["title"],
                data_testid="override-edit",
            ),
            rx.cond(
                row["override"] != "",
                rx.button(
                    "Clear",
                    on_click=State.remove_override(row["id"]),
                    variant="ghost",
                    color_scheme="gray",
                    size="1",
                    aria_label="Clear the override of " + row["title"],
                    data_testid="override-clear",
                ),
            ),
            spacing="2",
            align="center",
        ),
    )


def _replacement_cell(row: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.text(
            rx.cond(row["replacement"] != "", "→ " + row["replacement"], "None"),
            size="2",
            color_scheme=rx.cond(row["replacement"] != "", "gray", "gray"),
            data_testid="replacement-value",
            max_width="160px",
            trim="both",
        ),
        rx.button(
            rx.cond(row["replacement"] != "", "Change", "Set"),
            on_click=State.open_replacement(row["id"]),
            variant="soft",
            color_scheme="gray",
            size="1",
            aria_label="Set a replacement for " + row["title"],
            data_testid="replacement-edit",
        ),
        spacing="2",
        align="center",
    )


def _learned(row: rx.Var) -> rx.Component:
    return rx.cond(
        row["median"] != "—",
        rx.vstack(
            rx.text(row["median"] + " d median", size="2", weight="medium"),
            rx.text(
                "P25 " + row["p25"] + " · P75 " + row["p75"] + " · mean " + row["mean"],
                size="1",
                color_scheme="gray",
                white_space="nowrap",
            ),
            spacing="0",
        ),
        rx.text("Not learned yet", size="2", color_scheme="gray"),
    )


def _effective(row: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.text(row["effective"] + " d", size="2", weight="medium", data_testid="effective"),
        rx.text(row["source"], size="1", color_scheme="gray", data_testid="effective-source"),
        spacing="0",
    )


def _table_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                _thumb(row),
                rx.vstack(
                    rx.text(row["title"], size="2", weight="medium"),
                    rx.text(row["handle"], size="1", color_scheme="gray"),
                    _plans(row),
                    links_button(row),
                    spacing="0",
                    min_width="0",
                ),
                spacing="3",
                align="center",
            ),
        ),
        rx.table.cell(_status_badge(row)),
        rx.table.cell(_learned(row)),
        rx.table.cell(rx.text(row["n"], size="2", data_testid="n"), text_align="right"),
        rx.table.cell(_effective(row)),
        rx.table.cell(_override_cell(row)),
        rx.table.cell(_replacement_cell(row)),
        align="center",
        data_testid="product-row",
        data_product=row["handle"],
    )


def _table() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Product"),
                    rx.table.column_header_cell("Status"),
                    rx.table.column_header_cell("Learned interval"),
                    rx.table.column_header_cell(
                        "N", title="Customers who reordered", text_align="right"
                    ),
                    rx.table.column_header_cell("Interval used"),
                    rx.table.column_header_cell("Override"),
                    rx.table.column_header_cell("Replacement"),
                ),
            ),
            rx.table.body(rx.foreach(State.rows, _table_row)),
            size="1",
            variant="surface",
            width="100%",
        ),
        overflow_x="auto",
        width="100%",
        style=desktop_only("block"),
        data_testid="products-table",
    )


def _figure(label: str, value: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="2", weight="medium"),
        spacing="0",
    )


def _card(row: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                _thumb(row, "48px"),
                rx.vstack(
                    rx.text(row["title"], size="3", weight="medium"),
                    rx.text(row["handle"], size="1", color_scheme="gray", word_break="break-all"),
                    _plans(row),
                    links_button(row),
                    spacing="0",
                    min_width="0",
                    flex="1",
                ),
                _status_badge(row),
                spacing="3",
                align="center",
                width="100%",
            ),
            rx.grid(
                _figure("Median", row["median"]),
                _figure("P25–P75", row["p25"] + "–" + row["p75"]),
                _figure("Mean", row["mean"]),
                _figure("Customers", row["n"]),
                columns="4",
                spacing="2",
                width="100%",
            ),
            rx.text(
                "Uses ",
                rx.text.strong(row["effective"] + " days"),
                " (" + row["source"] + ")",
                size="2",
                data_testid="effective",
            ),
            rx.hstack(
                rx.text("Override", size="2", color_scheme="gray", min_width="88px"),
                _override_cell(row),
                align="start",
                width="100%",
                wrap="wrap",
            ),
            rx.hstack(
                rx.text("Replacement", size="2", color_scheme="gray", min_width="88px"),
                _replacement_cell(row),
                align="center",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        data_testid="product-row",
        data_product=row["handle"],
    )


def _cards() -> rx.Component:
    return rx.vstack(
        rx.foreach(State.rows, _card),
        spacing="3",
        width="100%",
        style=phone_only(),
        data_testid="products-cards",
    )


SEARCH_INPUT_ID = "product-search"


def _toolbar() -> rx.Component:
    return rx.flex(
        rx.form(
            rx.hstack(
                rx.input(
                    rx.input.slot(rx.icon("search", size=16)),
                    name="query",
                    id=SEARCH_INPUT_ID,
                    default_value=State.query,
                    placeholder="Search title, handle or SKU",
                    aria_label="Search products",
                    flex="1",
                    min_width="0",
                    data_testid="product-search",
                ),
                rx.button("Search", type="submit", data_testid="product-search-submit"),
                rx.cond(
                    State.query != "",
                    rx.button(
                        "Clear",
                        type="button",
                        variant="soft",
                        color_scheme="gray",
                        on_click=[rx.set_value(SEARCH_INPUT_ID, ""), State.clear_search],
                    ),
                ),
                spacing="2",
                width="100%",
            ),
            on_submit=State.search,
            reset_on_submit=False,
            flex="1",
            min_width="0",
        ),
        rx.hstack(
            rx.select.root(
                rx.select.trigger(aria_label="Sort by", data_testid="product-sort"),
                rx.select.content(
                    *(rx.select.item(label, value=value) for value, label in SORT_OPTIONS)
                ),
                value=State.sort,
                on_change=State.change_sort,
            ),
            rx.icon_button(
                rx.cond(
                    State.descending,
                    rx.icon("arrow-down-wide-narrow", size=16),
                    rx.icon("arrow-up-narrow-wide", size=16),
                ),
                on_click=State.flip_direction,
                variant="soft",
                color_scheme="gray",
                aria_label=rx.cond(State.descending, "Sorted descending", "Sorted ascending"),
                data_testid="product-sort-direction",
            ),
            spacing="2",
            align="center",
        ),
        direction=rx.breakpoints(initial="column", md="row"),
        gap="3",
        width="100%",
    )


def _pagination() -> rx.Component:
    return pagination(
        State,
        range_testid="product-range",
        previous_testid="page-previous",
        next_testid="page-next",
        empty_label="No products",
    )


@admin_page("Products", routes.ADMIN_PRODUCTS)
def admin_products_page() -> rx.Component:
    return when_loaded(
        State.loaded,
        rx.vstack(
            _toolbar(),
            rx.cond(
                State.notice != "",
                rx.callout(
                    State.notice,
                    icon="circle-check",
                    color_scheme="grass",
                    width="100%",
                    data_testid="products-notice",
                ),
            ),
            rx.cond(
                State.error != "",
                rx.callout(State.error, icon="triangle-alert", color_scheme="red", width="100%"),
            ),
            _pagination(),
            rx.cond(
                State.total > 0,
                rx.fragment(_table(), _cards()),
                rx.callout(
                    rx.cond(
                        State.query != "",
                        "No product matches that search.",
                        "No products yet: sync from Shopify or import an order export.",
                    ),
                    icon="info",
                    color_scheme="gray",
                    width="100%",
                ),
            ),
            rx.cond(State.total > 50, _pagination()),
            cross_sell_card(),
            bulk_card(),
            replacement_dialog(),
            featured_links_dialog(),
            spacing="4",
            width="100%",
            data_testid="admin-products",
        ),
    )
