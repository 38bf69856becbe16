"""`/admin/sync`: the Sync page."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.state.admin_sync import AdminSyncState


@admin_page("Sync", routes.ADMIN_SYNC)
def admin_sync_page() -> rx.Component:
    return rx.cond(AdminSyncState.loaded, rx.text("Sync"), rx.center(rx.spinner(), padding="48px"))
