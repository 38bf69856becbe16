"""`/admin/analytics`: the Analytics page."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.state.admin_analytics import AdminAnalyticsState


@admin_page("Analytics", routes.ADMIN_ANALYTICS)
def admin_analytics_page() -> rx.Component:
    return rx.cond(
        AdminAnalyticsState.loaded, rx.text("Analytics"), rx.center(rx.spinner(), padding="48px")
    )
