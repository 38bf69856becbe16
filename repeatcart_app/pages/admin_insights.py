"""`/admin/insights`: the Insights page."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.state.admin_insights import AdminInsightsState


@admin_page("Insights", routes.ADMIN_INSIGHTS)
def admin_insights_page() -> rx.Component:
    return rx.cond(
        AdminInsightsState.loaded, rx.text("Insights"), rx.center(rx.spinner(), padding="48px")
    )
