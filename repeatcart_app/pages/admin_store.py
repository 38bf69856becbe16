"""`/admin/store`: the Store page."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.state.admin_store import AdminStoreState


@admin_page("Store", routes.ADMIN_STORE)
def admin_store_page() -> rx.Component:
    return rx.cond(
        AdminStoreState.loaded, rx.text("Store"), rx.center(rx.spinner(), padding="48px")
    )
