"""The blank page: the same route and the same load-then-increase flow as the cart page."""

import reflex as rx

from blank_app.state import CounterState


def cart_page() -> rx.Component:
    return rx.center(
        rx.hstack(
            rx.text(CounterState.count, data_testid="quantity"),
            rx.button("+", on_click=CounterState.increase("sku")),
        ),
        min_height="100dvh",
    )


app = rx.App()
app.add_page(cart_page, route="/cart/[token]", title="Blank cart", on_load=CounterState.load)
