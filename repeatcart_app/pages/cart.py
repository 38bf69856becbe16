"""The personalized cart at `/cart/[token]`: phone first, with a sidebar from 1024 px.

A featured product link (`/replenish`) draws the same page: its product in the first section,
no greeting by name and no reminders to snooze.
"""

from collections.abc import Callable

import reflex as rx
from reflex.vars.sequence import ArrayVar

from repeatcart_app.components.cart_panel import (
    cart_drawer_root,
    cart_drawer_trigger,
    cart_panel,
    checkout_bar,
)
from repeatcart_app.components.layout import DESKTOP_QUERY, desktop_only
from repeatcart_app.components.product import product_row, product_tile
from repeatcart_app.components.snooze import cart_snooze_menu, cart_snoozed_banner
from repeatcart_app.components.subscription import purchase_options
from repeatcart_app.state.cart import CartLine, CartState


def preview_marker() -> rx.Component:
    """A thin strip on the merchant's preview (`?preview=1`): nothing here is counted."""
    return rx.cond(
        CartState.preview,
        rx.text(
            "Preview · not counted",
            size="1",
            color_scheme="gray",
            text_align="center",
            padding_y="2px",
            background_color=rx.color("gray", 3),
            data_testid="preview-marker",
        ),
    )


def header() -> rx.Component:
    return rx.box(
        preview_marker(),
        rx.hstack(
            rx.cond(
                CartState.logo_url != "",
                rx.image(src=CartState.logo_url, alt=CartState.shop_name, height="32px"),
                rx.heading(CartState.shop_name, size="5", weight="bold"),
            ),
            rx.spacer(),
            cart_drawer_trigger(),
            align="center",
            max_width="1200px",
            margin="0 auto",
            padding_x="16px",
            height="64px",
        ),
        position="sticky",
        top="0",
        z_index="10",
        background_color=rx.color("gray", 1),
        border_bottom=f"1px solid {rx.color('gray', 4)}",
    )


def section(
    title: str | rx.Var,
    subtitle: str | rx.Var,
    lines: ArrayVar[list[CartLine]],
    render: Callable[[CartLine], rx.Component],
    testid: str,
    grid: bool = False,
    action: rx.Component | None = None,
) -> rx.Component:
    items = (
        rx.grid(
            rx.foreach(lines, render),
            columns=rx.breakpoints(initial="2", sm="3"),
            spacing="3",
            width="100%",
        )
        if grid
        else rx.vstack(rx.foreach(lines, render), spacing="0", width="100%")
    )
    return rx.cond(
        lines.length() > 0,
        rx.vstack(
            rx.hstack(
                rx.heading(title, as_="h2", size="5"),
                rx.spacer(),
                action if action is not None else rx.fragment(),
                align="center",
                width="100%",
            ),
            rx.text(subtitle, size="2", color_scheme="gray"),
            items,
            spacing="2",
            width="100%",
            data_testid=testid,
        ),
    )


def banner() -> rx.Component:
    return rx.cond(
        CartState.banner_text != "",
        rx.callout(
            CartState.banner_text,
            icon="tag",
            variant="soft",
            width="100%",
            size="2",
            data_testid="banner",
        ),
    )


def featured_greeting() -> rx.Component:
    return rx.vstack(
        rx.heading("Ready to reorder", as_="h1", size="7"),
        rx.text(
            "It's already in your cart. Choose how many, add anything else, and check out.",
            size="3",
            color_scheme="gray",
        ),
        spacing="1",
    )


def greeting() -> rx.Component:
    return rx.cond(CartState.featured, featured_greeting(), personal_greeting())


def personal_greeting() -> rx.Component:
    return rx.vstack(
        rx.heading(
            rx.cond(
                CartState.first_name != "", "Welcome back, " + CartState.first_name, "Welcome back"
            ),
            as_="h1",
            size="7",
        ),
        rx.text(
            rx.cond(
                CartState.due_lines.length() > 0,
                "We've added what you're due to reorder. Review and check out in seconds.",
                "Reorder your favourites whenever you're ready.",
            ),
            size="3",
            color_scheme="gray",
        ),
        spacing="1",
    )


def cart_content() -> rx.Component:
    return rx.box(
        rx.vstack(
            greeting(),
            banner(),
            purchase_options(),
            cart_snoozed_banner(),
            section(
                rx.cond(CartState.featured, "Your pick", "Due to Reorder"),
                rx.cond(
                    CartState.featured,
                    "Already in your cart.",
                    "Likely running low: already in your cart.",
                ),
                CartState.due_lines,
                product_row,
                "section-due",
                action=cart_snooze_menu(),
            ),
            section(
                "Previously Purchased",
                "Add anything else you'd like.",
                CartState.previous_lines,
                product_row,
                "section-previous",
            ),
            section(
                "You Might Also Like",
                "Picked by the shop for you.",
                CartState.ymal_lines,
                product_tile,
                "section-ymal",
                grid=True,
            ),
            spacing="6",
            width="100%",
            padding_bottom="96px",
        ),
        rx.box(
            rx.card(cart_panel(), size="3"),
            position="sticky",
            top="88px",
            data_testid="cart-sidebar",
            style=desktop_only("block"),
        ),
        display="grid",
        grid_template_columns="minmax(0, 1fr)",
        gap="40px",
        max_width="1200px",
        margin="0 auto",
        padding="24px 16px",
        align_items="start",
        style={DESKTOP_QUERY: {"grid_template_columns": "minmax(0, 1fr) 380px"}},
    )


def _store_notice(icon: str, heading: str, text: str, testid: str) -> rx.Component:
    """A card saying why there is no cart here, with the way on: the shop's storefront."""
    return rx.center(
        rx.card(
            rx.vstack(
                rx.icon(icon, size=40, color=rx.color("gray", 9)),
                rx.heading(heading, as_="h1", size="6", text_align="center"),
                rx.text(text, size="3", color_scheme="gray", text_align="center"),
                rx.link(
                    rx.button("Visit the store", size="3"),
                    href=CartState.store_url,
                    is_external=False,
                ),
                align="center",
                spacing="4",
                padding="16px",
            ),
            max_width="440px",
            size="4",
        ),
        min_height="100dvh",
        padding="16px",
        data_testid=testid,
    )


def expired() -> rx.Component:
    """Same view for every bad token: no hint whether a customer exists."""
    return _store_notice(
        "link-2-off",
        "This link has expired",
        "Cart links are personal and may be replaced by a newer one. Check your latest email "
        "or text from the shop, or visit the store to shop as usual.",
        "expired",
    )


def unavailable() -> rx.Component:
    """Every featured link that cannot open a cart: unknown, archived, sold out or malformed."""
    return _store_notice(
        "package-x",
        "This product is no longer available",
        "The item behind this link can't be ordered right now. Visit the store to see what's "
        "available today.",
        "unavailable",
    )


def failed() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.heading("We couldn't load your cart", as_="h1", size="6"),
            rx.text("Please try again in a moment.", color_scheme="gray"),
            rx.button("Try again", on_click=CartState.retry, size="3"),
            align="center",
            spacing="3",
        ),
        min_height="100dvh",
    )


def loading() -> rx.Component:
    return rx.center(rx.spinner(size="3"), min_height="100dvh", aria_label="Loading your cart")


def cart_page() -> rx.Component:
    return rx.box(
        rx.match(
            CartState.status,
            (
                "ready",
                # the shop's accent colour (Shop.accent_color, a Radix colour name)
                rx.theme(
                    cart_drawer_root(header(), cart_content(), checkout_bar()),
                    accent_color=CartState.accent_color,
                    has_background=False,
                ),
            ),
            ("expired", expired()),
            ("unavailable", unavailable()),
            ("error", failed()),
            loading(),
        ),
        min_height="100dvh",
        background_color=rx.color("gray", 2),
    )


__all__ = ["cart_page", "CartLine"]
