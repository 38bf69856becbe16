"""`/admin/customers`: the Customers page."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.state.admin_customers import AdminCustomersState


@admin_page("Customers", routes.ADMIN_CUSTOMERS)
def admin_customers_page() -> rx.Component:
    return rx.cond(
        AdminCustomersState.loaded, rx.text("Customers"), rx.center(rx.spinner(), padding="48px")
    )
