"""`/`: a plain landing for whoever opens the app's root (shoppers arrive on their cart links)."""

import reflex as rx

from repeatcart_app.state.home import HomeState


def home_page() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.heading("RepeatCart", size="8"),
            rx.text(
                "Personalized reorder carts for Shopify stores.", size="4", color_scheme="gray"
            ),
            rx.text(
                "Shoppers open their cart from the link in their email or text message.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(HomeState.ready, rx.box(data_testid="home-ready")),
            align="center",
            spacing="3",
        ),
        min_height="100dvh",
        padding="16px",
    )
