"""Unknown paths. A mangled cart link (`/cart/a/b`) gets the same expired view as a bad token."""

import reflex as rx

from repeatcart_app.pages.cart import expired
from repeatcart_app.state.cart import CartState


class NotFoundState(rx.State):
    is_cart_path: bool = False

    @rx.event
    def load(self):
        self.is_cart_path = self.router.url.path.startswith("/cart")
        if self.is_cart_path:
            return CartState.show_expired


def nothing_here() -> rx.Component:
    """The not-found view, also shown by pages that exist only in some setups."""
    return rx.center(
        rx.vstack(
            rx.heading("Page not found", as_="h1", size="6"),
            rx.text("There is nothing at this address.", color_scheme="gray"),
            align="center",
        ),
        min_height="100dvh",
        data_testid="not-found",
    )


def not_found_page() -> rx.Component:
    return rx.cond(
        NotFoundState.is_cart_path,
        rx.box(expired(), background_color=rx.color("gray", 2)),
        nothing_here(),
    )
