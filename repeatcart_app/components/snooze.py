""" "Remind me later": the per-product and whole-cart snooze controls and what a snooze shows.

Quiet on purpose: a ghost button that opens a short menu, so a due row keeps its stepper as the
main action and a phone row does not grow a second line of buttons.
"""

from collections.abc import Callable

import reflex as rx
from reflex.event import EventSpec

from repeatcart_app.state.cart import CartLine, CartState

CHOICES = ((1, "In 1 week"), (2, "In 2 weeks"), (4, "In 4 weeks"))


def snooze_menu(
    label: rx.Var | str,
    pick: Callable[[int], EventSpec],
    heading: rx.Var | str,
    testid: str,
) -> rx.Component:
    """A small "Remind me later" button whose menu offers 1, 2 or 4 weeks."""
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.button(
                rx.icon("bell", size=14),
                "Remind me later",
                rx.icon("chevron-down", size=14),
                variant="ghost",
                color_scheme="gray",
                size="1",
                aria_label=label,
                white_space="nowrap",
                min_height="32px",
                data_testid=testid,
            ),
        ),
        rx.dropdown_menu.content(
            rx.text(heading, size="1", color_scheme="gray", padding="4px 12px 6px"),
            *(
                rx.dropdown_menu.item(text, on_select=pick(weeks), min_height="36px")
                for weeks, text in CHOICES
            ),
            align="end",
            size="2",
        ),
        modal=False,
    )


def product_snooze_menu(line: CartLine) -> rx.Component:
    return snooze_menu(
        "Remind me later about " + line.title,
        lambda weeks: CartState.snooze_product(line.product_id, weeks),
        "Remind me about it",
        "snooze-product",
    )


def product_snoozed(line: CartLine) -> rx.Component:
    """What a snoozed row says, with a way back."""
    return rx.hstack(
        rx.icon("bell-off", size=14, color=rx.color("gray", 10), flex_shrink="0"),
        rx.text(
            "Reminder paused until " + line.snoozed_until,
            size="1",
            color_scheme="gray",
            data_testid="snoozed-until",
        ),
        rx.button(
            "Undo",
            on_click=CartState.clear_product_snooze(line.product_id),
            variant="ghost",
            size="1",
            aria_label="Undo: remind me about " + line.title + " again",
            min_height="32px",
        ),
        align="center",
        spacing="2",
    )


def cart_snooze_menu() -> rx.Component:
    return rx.cond(
        (CartState.cart_snoozed_until == "") & ~CartState.featured,  # no one to remind
        snooze_menu(
            "Remind me later about my whole cart",
            CartState.snooze_cart,
            "Not now? Remind me about my cart",
            "snooze-cart",
        ),
    )


def cart_snoozed_banner() -> rx.Component:
    """Calm notice that reminders for the whole cart are paused, with a way to resume them."""
    return rx.cond(
        CartState.cart_snoozed_until != "",
        rx.hstack(
            rx.icon("bell-off", size=18, color=rx.color("gray", 11), flex_shrink="0"),
            rx.text(
                "Reminders are paused until ",
                rx.text.strong(CartState.cart_snoozed_until),
                ". You can still check out any time.",
                size="2",
                flex="1",
                min_width="200px",
            ),
            rx.button(
                "Resume reminders",
                on_click=CartState.clear_cart_snooze,
                variant="soft",
                color_scheme="gray",
                size="2",
                min_height="36px",
            ),
            align="center",
            spacing="3",
            wrap="wrap",
            width="100%",
            padding="12px 16px",
            border_radius="12px",
            background_color=rx.color("gray", 3),
            role="status",
            data_testid="cart-snoozed",
        ),
    )
