"""The Sync page's unique discount codes card: how many were made, and why any were not."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.state.admin_sync import AdminSyncState


def codes_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("ticket-percent", size=18),
                rx.heading("Unique discount codes", size="3"),
                rx.spacer(),
                rx.link("Settings", href=routes.ADMIN_CART, size="2"),
                align="center",
                width="100%",
            ),
            rx.text(AdminSyncState.codes_line, size="2", data_testid="codes-line"),
            rx.cond(
                AdminSyncState.codes_error != "",
                rx.callout(
                    AdminSyncState.codes_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    size="1",
                    width="100%",
                    data_testid="codes-error",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        data_testid="card-codes",
    )
