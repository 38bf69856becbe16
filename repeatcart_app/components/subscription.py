"""The subscription cart's parts: Subscribe & save or One-time purchase, each line's plan and
price, and the note when a subscription could not be set up at checkout."""

from typing import Any

import reflex as rx

from repeatcart_app.state.cart import CartLine, CartState


def subscribes(line: CartLine) -> Any:
    """Whether this line checks out on its plan: chosen for the cart, or sold only that way."""
    return (line.plan_label != "") & (CartState.subscribe | line.subscription_only)


def purchase_options() -> rx.Component:
    """The cart-wide choice, shown only on a subscription cart (`?sub=1` with a plan)."""
    return rx.cond(
        CartState.subscription,
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("repeat", size=18, color=rx.color("accent", 11)),
                    rx.text("How would you like to buy?", weight="medium", size="3"),
                    align="center",
                    spacing="2",
                ),
                rx.segmented_control.root(
                    rx.segmented_control.item("Subscribe & save", value="subscribe"),
                    rx.segmented_control.item("One-time purchase", value="once"),
                    value=rx.cond(CartState.subscribe, "subscribe", "once"),
                    on_change=CartState.set_purchase_option,
                    size=rx.breakpoints(initial="2", sm="3"),
                    width="100%",
                    data_testid="purchase-option",
                ),
                rx.text(
                    rx.cond(
                        CartState.subscribe,
                        "Items with a plan are delivered on schedule at the subscription price. "
                        "Change or cancel anytime.",
                        "Buy once at the regular price.",
                    ),
                    size="2",
                    color_scheme="gray",
                ),
                spacing="3",
                width="100%",
            ),
            size="2",
            width="100%",
            data_testid="subscription-choice",
        ),
    )


def plan_row(line: CartLine, quiet: bool = False) -> rx.Component:
    """Under a line's names on a subscription cart: its delivery interval when it subscribes;
    else, on a product row, that it is bought once (`quiet`, the cart panel: nothing)."""
    interval = rx.hstack(
        rx.icon("repeat", size=14, color=rx.color("accent", 11)),
        rx.text(line.plan_label, size="2", color_scheme="grass", weight="medium"),
        spacing="1",
        align="center",
        data_testid="plan-label",
    )
    if quiet:
        return rx.cond(CartState.subscription & subscribes(line), interval)
    once = rx.text(
        rx.cond(line.plan_label != "", "One-time purchase", "Not available as a subscription"),
        size="2",
        color_scheme="gray",
        data_testid="one-time-label",
    )
    return rx.cond(
        CartState.subscription,
        rx.cond(
            subscribes(line),
            interval,
            # a product without a plan says so only while the cart is set to subscribe
            rx.cond((line.plan_label != "") | CartState.subscribe, once),
        ),
    )


def line_price(line: CartLine) -> rx.Component:
    """The price a line checks out at: the subscription price with the regular one struck."""
    return rx.cond(
        subscribes(line),
        rx.vstack(
            rx.text(
                line.sub_price_label,
                weight="bold",
                size="3",
                white_space="nowrap",
                color_scheme="grass",
                data_testid="line-price",
            ),
            rx.text(
                line.price_label,
                size="1",
                color_scheme="gray",
                white_space="nowrap",
                text_decoration="line-through",
            ),
            spacing="0",
            align="end",
        ),
        rx.text(
            line.price_label,
            weight="bold",
            size="3",
            white_space="nowrap",
            data_testid="line-price",
        ),
    )


def subscription_note() -> rx.Component:
    """Said after a Check Out whose subscription could not be set up (it went one-time)."""
    return rx.cond(
        CartState.subscription_note != "",
        rx.callout(
            CartState.subscription_note,
            icon="info",
            color_scheme="amber",
            size="1",
            width="100%",
            role="status",
            data_testid="subscription-note",
        ),
    )
