"""`/admin/integrations`: the Integrations page."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.state.admin_integrations import AdminIntegrationsState


@admin_page("Integrations", routes.ADMIN_INTEGRATIONS)
def admin_integrations_page() -> rx.Component:
    return rx.cond(
        AdminIntegrationsState.loaded,
        rx.text("Integrations"),
        rx.center(rx.spinner(), padding="48px"),
    )
