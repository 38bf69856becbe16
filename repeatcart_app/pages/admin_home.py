"""`/admin`: a calm overview of the store, the first page after signing in."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.state.admin_home import AdminHomeState


def _figure(label: str, value: rx.Var, note: str, testid: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.text(value, size="7", weight="bold", data_testid=testid),
            rx.text(note, size="1", color_scheme="gray"),
            spacing="1",
        ),
        size="2",
    )


@admin_page("Overview", routes.ADMIN_HOME)
def admin_home_page() -> rx.Component:
    return rx.cond(
        AdminHomeState.loaded,
        rx.vstack(
            rx.hstack(
                rx.cond(
                    AdminHomeState.shop_domain != "",
                    rx.vstack(
                        rx.text(
                            AdminHomeState.shop_name,
                            size="5",
                            weight="medium",
                            data_testid="shop-name",
                        ),
                        rx.text(AdminHomeState.shop_domain, size="2", color_scheme="gray"),
                        spacing="1",
                    ),
                    rx.callout(
                        "No store yet: import an order export or sync from Shopify.",
                        icon="info",
                        color_scheme="gray",
                    ),
                ),
                rx.spacer(),
                rx.button(
                    rx.icon("refresh-cw", size=14),
                    "Refresh",
                    on_click=AdminHomeState.load,
                    variant="ghost",
                    color_scheme="gray",
                    data_testid="refresh",
                ),
                align="start",
                width="100%",
            ),
            rx.grid(
                _figure(
                    "Customers",
                    AdminHomeState.customers,
                    "in the store",
                    "count-customers",
                ),
                _figure("Orders", AdminHomeState.orders, "test orders left out", "count-orders"),
                _figure(
                    "Due now", AdminHomeState.due_customers, "customers to remind", "count-due"
                ),
                columns=rx.breakpoints(initial="1", sm="3"),
                spacing="4",
                width="100%",
            ),
            spacing="5",
            width="100%",
            data_testid="admin-home",
        ),
        rx.center(rx.spinner(), padding="48px"),
    )
