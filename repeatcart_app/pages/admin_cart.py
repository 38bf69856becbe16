"""`/admin/cart`: the Cart page."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.state.admin_cart import AdminCartState


@admin_page("Cart", routes.ADMIN_CART)
def admin_cart_page() -> rx.Component:
    return rx.cond(AdminCartState.loaded, rx.text("Cart"), rx.center(rx.spinner(), padding="48px"))
