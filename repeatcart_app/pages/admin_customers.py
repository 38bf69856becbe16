"""`/admin/customers`: find a customer, see when they are due, hand out or rotate their cart link.

The list is one page of rows the server searched, sorted and cut: a table on desktop, stacked
cards on a phone.
"""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_customers_detail import customer_detail_dialog, status_badge
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.components.admin_parts import pagination, when_loaded
from repeatcart_app.components.layout import desktop_only, phone_only
from repeatcart_app.state.admin_customers import AdminCustomersState as State

SEARCH_INPUT_ID = "customer-search"


def _toolbar() -> rx.Component:
    search = rx.form(
        rx.input(
            rx.input.slot(rx.icon("search", size=16)),
            id=SEARCH_INPUT_ID,
            name="query",
            placeholder="Search by email, name or phone",
            default_value=State.query,
            on_change=State.set_query.debounce(400),
            type="search",
            size="3",
            max_length=100,
            width="100%",
            aria_label="Search customers",
            data_testid="customer-search",
        ),
        on_submit=State.search,
        flex="1 1 260px",
        min_width="0",
    )
    sort = rx.hstack(
        rx.text("Sort", size="2", color_scheme="gray"),
        rx.select.root(
            rx.select.trigger(aria_label="Sort customers", data_testid="customer-sort"),
            rx.select.content(
                rx.select.item("Name", value="name"),
                rx.select.item("Next due date", value="next_due"),
                rx.select.item("Last order", value="last_order"),
            ),
            value=State.sort,
            on_change=State.change_sort,
            size="3",
        ),
        spacing="2",
        align="center",
    )
    return rx.flex(search, sort, gap="12px", wrap="wrap", align="center", width="100%")


def _name_link(item: rx.Var) -> rx.Component:
    """Opens the customer's panel; the row or card around it opens it too, so stop there."""
    return rx.link(
        item["name"],
        href="#",
        on_click=State.open_customer(item["id"]).prevent_default.stop_propagation,
        weight="medium",
        high_contrast=True,
        underline="hover",
        data_testid="customer-open",
    )


def _desktop_table() -> rx.Component:
    header = rx.table.header(
        rx.table.row(
            rx.table.column_header_cell("Customer"),
            rx.table.column_header_cell("Phone"),
            rx.table.column_header_cell("Orders", justify="end"),
            rx.table.column_header_cell("Last order"),
            rx.table.column_header_cell("Next due"),
            rx.table.column_header_cell("Status"),
        )
    )

    def row(item: rx.Var) -> rx.Component:
        return rx.table.row(
            rx.table.cell(
                rx.vstack(
                    _name_link(item),
                    rx.text(item["email"], size="1", color_scheme="gray", word_break="break-all"),
                    spacing="0",
                ),
            ),
            rx.table.cell(rx.text(item["phone"], size="2", white_space="nowrap")),
            rx.table.cell(item["orders"], justify="end"),
            rx.table.cell(rx.text(item["last_order"], size="2", white_space="nowrap")),
            rx.table.cell(rx.text(item["next_due"], size="2", white_space="nowrap")),
            rx.table.cell(status_badge(item["status_kind"], item["status"])),
            on_click=State.open_customer(item["id"]),
            cursor="pointer",
            _hover={"background": rx.color("gray", 2)},
            align="center",
            data_testid="customer-row",
        )

    return rx.box(
        rx.table.root(
            header,
            rx.table.body(rx.foreach(State.rows, row)),
            variant="surface",
            size="2",
            width="100%",
        ),
        width="100%",
        overflow_x="auto",
        style=desktop_only("block"),
        data_testid="customer-table",
    )


def _phone_cards() -> rx.Component:
    def card(item: rx.Var) -> rx.Component:
        return rx.card(
            rx.vstack(
                rx.flex(
                    _name_link(item),
                    status_badge(item["status_kind"], item["status"]),
                    justify="between",
                    align="center",
                    gap="8px",
                    width="100%",
                ),
                rx.text(item["email"], size="2", color_scheme="gray", word_break="break-all"),
                rx.cond(item["phone"] != "", rx.text(item["phone"], size="2", color_scheme="gray")),
                rx.text(
                    item["orders"]
                    + " orders · last "
                    + item["last_order"]
                    + " · next due "
                    + item["next_due"],
                    size="1",
                    color_scheme="gray",
                ),
                spacing="1",
                width="100%",
            ),
            on_click=State.open_customer(item["id"]),
            cursor="pointer",
            width="100%",
            data_testid="customer-card",
        )

    return rx.vstack(
        rx.foreach(State.rows, card),
        spacing="2",
        width="100%",
        style=phone_only(),
        data_testid="customer-cards",
    )


def _empty() -> rx.Component:
    return rx.cond(
        State.searched != "",
        rx.vstack(
            rx.callout(
                rx.text(
                    "No customer matches “",
                    State.searched,
                    "”. Try part of an email, a name or a phone number.",
                ),
                icon="search",
                color_scheme="gray",
                width="100%",
                data_testid="no-match",
            ),
            rx.button(
                "Clear search",
                on_click=[rx.set_value(SEARCH_INPUT_ID, ""), State.clear_search],
                variant="soft",
                color_scheme="gray",
                data_testid="clear-search",
            ),
            spacing="3",
            width="100%",
        ),
        rx.callout(
            "No customers yet. They appear after the first order sync or order-export import.",
            icon="info",
            color_scheme="gray",
            data_testid="no-customers",
        ),
    )


@admin_page("Customers", routes.ADMIN_CUSTOMERS)
def admin_customers_page() -> rx.Component:
    return when_loaded(
        State.loaded,
        rx.vstack(
            _toolbar(),
            rx.cond(
                State.detail_error != "",
                rx.callout(State.detail_error, icon="info", color_scheme="orange"),
            ),
            rx.cond(
                State.total > 0,
                rx.vstack(
                    _desktop_table(),
                    _phone_cards(),
                    pagination(
                        State,
                        range_testid="range-label",
                        previous_testid="previous-page",
                        next_testid="next-page",
                        page_count=True,
                    ),
                    spacing="4",
                    width="100%",
                ),
                _empty(),
            ),
            customer_detail_dialog(),
            spacing="4",
            width="100%",
            data_testid="admin-customers",
        ),
    )
