"""`/admin/products`: the Products page."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.state.admin_products import AdminProductsState


@admin_page("Products", routes.ADMIN_PRODUCTS)
def admin_products_page() -> rx.Component:
    return rx.cond(
        AdminProductsState.loaded, rx.text("Products"), rx.center(rx.spinner(), padding="48px")
    )
