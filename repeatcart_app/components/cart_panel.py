"""The selection: one panel, shown in the phone drawer and in the desktop sidebar."""

import reflex as rx

from repeatcart_app.components.layout import phone_only
from repeatcart_app.components.product import selection_row
from repeatcart_app.components.subscription import subscription_note
from repeatcart_app.state.cart import CartState


def items_short() -> rx.Var:
    """Items still to add before the shop's minimum checkout quantity, worked out in the
    browser from vars it already has."""
    return CartState.min_checkout_quantity - CartState.item_count


def checkout_button() -> rx.Component:
    return rx.button(
        rx.cond(CartState.checking_out, rx.spinner(size="2"), rx.icon("lock", size=16)),
        "Check Out",
        on_click=CartState.checkout,
        disabled=~CartState.can_checkout | CartState.checking_out,
        size="4",
        width="100%",
        height="52px",
    )


def cart_panel() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Your cart", size="5"),
            rx.spacer(),
            rx.text(
                CartState.cart_label.replace("Cart, ", ""),
                size="2",
                color_scheme="gray",
                data_testid="item-count",
            ),
            width="100%",
            align="center",
        ),
        rx.cond(
            CartState.item_count > 0,
            rx.vstack(
                rx.foreach(CartState.due_lines, selection_row),
                rx.foreach(CartState.previous_lines, selection_row),
                rx.foreach(CartState.ymal_lines, selection_row),
                spacing="0",
                width="100%",
                max_height="calc(100dvh - 320px)",
                overflow_y="auto",
            ),
            rx.callout(
                "Your cart is empty. Add an item to check out.",
                icon="shopping-basket",
                color_scheme="gray",
                width="100%",
                data_testid="empty-cart-message",
            ),
        ),
        rx.separator(),
        rx.hstack(
            rx.text("Subtotal", size="3"),
            rx.spacer(),
            rx.text(CartState.subtotal_label, size="4", weight="bold", data_testid="subtotal"),
            width="100%",
        ),
        rx.cond(
            CartState.discount_code != "",
            rx.text(
                "Code ",
                rx.code(CartState.discount_code),
                " is applied at checkout.",
                size="2",
                color_scheme="grass",
            ),
        ),
        rx.cond(
            (CartState.item_count > 0) & (items_short() > 0),
            rx.callout(
                rx.cond(
                    items_short() == 1,
                    "Add 1 more item to check out",
                    "Add " + items_short().to_string() + " more items to check out",
                ),
                icon="shopping-basket",
                color_scheme="amber",
                size="1",
                width="100%",
                role="status",
                data_testid="min-checkout-message",
            ),
        ),
        subscription_note(),
        checkout_button(),
        rx.cond(
            CartState.checkout_available,
            rx.text(
                "Shipping and taxes are calculated at checkout.", size="1", color_scheme="gray"
            ),
            rx.callout(
                "Checkout is unavailable right now. Please try again later.",
                icon="circle-alert",
                color_scheme="amber",
                size="1",
                width="100%",
                data_testid="checkout-unavailable",
            ),
        ),
        spacing="3",
        width="100%",
    )


def cart_button() -> rx.Component:
    """Header button that opens the drawer on phones; its name says how many items."""
    return rx.box(
        rx.icon_button(
            rx.icon("shopping-bag", size=22),
            variant="soft",
            size="3",
            radius="full",
            aria_label=CartState.cart_label,
            width="48px",
            height="48px",
        ),
        rx.cond(
            CartState.item_count > 0,
            rx.badge(
                CartState.item_count,
                variant="solid",
                radius="full",
                position="absolute",
                top="-4px",
                right="-4px",
                aria_hidden="true",
                data_testid="cart-count",
            ),
        ),
        position="relative",
    )


def cart_drawer_trigger() -> rx.Component:
    return rx.box(rx.drawer.trigger(cart_button()), style=phone_only("block"))


def checkout_bar() -> rx.Component:
    """Phones: the subtotal and a way into the cart stay in reach at the bottom of the screen."""
    return rx.cond(
        CartState.item_count > 0,
        rx.box(
            rx.hstack(
                rx.vstack(
                    rx.text(
                        CartState.cart_label.replace("Cart, ", ""), size="1", color_scheme="gray"
                    ),
                    rx.text(CartState.subtotal_label, size="4", weight="bold"),
                    spacing="0",
                ),
                rx.spacer(),
                rx.drawer.trigger(
                    rx.button(
                        "Review and check out",
                        size="3",
                        height="48px",
                        aria_label="Review cart and check out",
                    ),
                ),
                align="center",
                width="100%",
            ),
            position="fixed",
            bottom="0",
            left="0",
            right="0",
            z_index="20",
            padding="12px 16px calc(12px + env(safe-area-inset-bottom))",
            background_color=rx.color("gray", 1),
            border_top=f"1px solid {rx.color('gray', 5)}",
            box_shadow="0 -4px 16px rgba(0, 0, 0, 0.06)",
            style=phone_only("block"),
            data_testid="checkout-bar",
        ),
    )


def cart_drawer_root(*children: rx.Component) -> rx.Component:
    """Wraps the page so the header button and the bottom bar both open the one drawer."""
    return rx.drawer.root(
        *children,
        rx.drawer.portal(
            rx.drawer.overlay(z_index="50"),
            rx.drawer.content(
                rx.vstack(
                    rx.hstack(
                        rx.drawer.title(
                            "Cart", size="2", color_scheme="gray", style={"font_size": "0"}
                        ),
                        rx.spacer(),
                        rx.drawer.close(
                            rx.icon_button(
                                rx.icon("x", size=20),
                                variant="ghost",
                                color_scheme="gray",
                                size="3",
                                aria_label="Close cart",
                            )
                        ),
                        width="100%",
                    ),
                    cart_panel(),
                    width="100%",
                    spacing="2",
                ),
                top="0",
                left="auto",
                right="0",
                height="100%",
                width="min(420px, 92vw)",
                padding="20px",
                background_color=rx.color("gray", 1),
                z_index="60",
                role="dialog",
                aria_label="Cart",
                data_testid="cart-drawer",
            ),
        ),
        direction="right",
    )
