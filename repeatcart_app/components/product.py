"""Product rows and tiles of the cart page, with their quantity steppers."""

import reflex as rx

from repeatcart_app.components.snooze import product_snooze_menu, product_snoozed
from repeatcart_app.components.subscription import line_price, plan_row
from repeatcart_app.state.cart import CartLine, CartState

TOUCH = "44px"


def is_selected(line: CartLine) -> rx.Var:
    """Whether the shopper has this line in the cart: read from `quantities`, the one var a
    press changes, so the lines themselves are sent once."""
    return CartState.quantities.contains(line.key)


def quantity_of(line: CartLine) -> rx.Var:
    return CartState.quantities[line.key].to(int)


def product_image(line: CartLine, size: str) -> rx.Component:
    return rx.cond(
        line.image_url != "",
        rx.image(
            src=line.image_url,
            alt=line.title,
            width=size,
            height=size,
            loading="lazy",
            style={"object_fit": "cover", "border_radius": "12px", "flex_shrink": "0"},
        ),
        rx.center(
            rx.icon("package", size=24, color=rx.color("gray", 9)),
            width=size,
            height=size,
            flex_shrink="0",
            border_radius="12px",
            background=rx.color("gray", 3),
        ),
    )


def quantity_stepper(line: CartLine) -> rx.Component:
    quantity = quantity_of(line)
    return rx.hstack(
        rx.icon_button(
            rx.icon("minus", size=16),
            on_click=CartState.decrease(line.key),
            disabled=quantity <= 1,
            variant="soft",
            color_scheme="gray",
            aria_label="Decrease quantity of " + line.title,
            width=TOUCH,
            height=TOUCH,
            radius="full",
        ),
        rx.text(
            quantity,
            weight="bold",
            size="3",
            min_width="2ch",
            text_align="center",
            aria_label="Quantity",
            data_testid="quantity",
        ),
        rx.icon_button(
            rx.icon("plus", size=16),
            on_click=CartState.increase(line.key),
            disabled=quantity >= 99,
            variant="soft",
            color_scheme="gray",
            aria_label="Increase quantity of " + line.title,
            width=TOUCH,
            height=TOUCH,
            radius="full",
        ),
        align="center",
        spacing="2",
    )


def remove_button(line: CartLine) -> rx.Component:
    return rx.button(
        "Remove",
        on_click=CartState.remove(line.key),
        variant="ghost",
        color_scheme="gray",
        size="2",
        aria_label="Remove " + line.title,
        height=TOUCH,
    )


def line_actions(line: CartLine, compact: bool = False) -> rx.Component:
    return rx.cond(
        line.available,
        rx.cond(
            is_selected(line),
            rx.hstack(
                quantity_stepper(line),
                remove_button(line),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            rx.button(
                rx.icon("plus", size=16),
                "Add to cart",
                on_click=CartState.add(line.key),
                variant="outline",
                size="2" if compact else "3",
                aria_label="Add to cart: " + line.title,
                height=TOUCH,
                width="100%" if compact else "auto",
                white_space="nowrap",
            ),
        ),
        rx.badge("Unavailable", color_scheme="gray", variant="surface", size="2"),
    )


def titles(line: CartLine) -> rx.Component:
    return rx.vstack(
        rx.text(line.title, weight="medium", size="3", line_height="1.3"),
        rx.cond(
            line.variant_title != "", rx.text(line.variant_title, size="2", color_scheme="gray")
        ),
        spacing="1",
    )


def note_row(line: CartLine) -> rx.Component:
    """When it is due and, on a due row not yet snoozed, the quiet "Remind me later" menu."""
    return rx.hstack(
        rx.cond(line.note != "", rx.text(line.note, size="1", color_scheme="gray")),
        rx.spacer(),
        rx.cond((line.section == "due") & (line.snoozed_until == ""), product_snooze_menu(line)),
        align="center",
        width="100%",
        min_height="20px",
    )


def product_row(line: CartLine) -> rx.Component:
    """A Due or Previously Purchased item: image, names, price and its actions."""
    return rx.hstack(
        product_image(line, "84px"),
        rx.vstack(
            rx.hstack(
                titles(line),
                rx.spacer(),
                line_price(line),
                width="100%",
                align="start",
            ),
            plan_row(line),
            note_row(line),
            rx.cond(line.snoozed_until != "", product_snoozed(line)),
            line_actions(line),
            spacing="2",
            width="100%",
        ),
        spacing="3",
        width="100%",
        padding_y="14px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        opacity=rx.cond(line.available, "1", "0.6"),
        data_testid="cart-item",
        data_key=line.key,
        data_selected=rx.cond(is_selected(line), "true", "false"),
        data_available=rx.cond(line.available, "true", "false"),
        data_snoozed=rx.cond(line.snoozed_until != "", "true", "false"),
    )


def product_tile(line: CartLine) -> rx.Component:
    """A You Might Also Like item: a compact card in a grid."""
    return rx.card(
        rx.vstack(
            rx.box(
                product_image(line, "100%"),
                width="100%",
                aspect_ratio="1",
                style={"& img": {"width": "100%", "height": "100%"}},
            ),
            titles(line),
            line_price(line),
            plan_row(line),
            rx.spacer(),
            line_actions(line, compact=True),
            spacing="2",
            height="100%",
        ),
        size="2",
        data_testid="cart-item",
        data_key=line.key,
        data_selected=rx.cond(is_selected(line), "true", "false"),
        data_available=rx.cond(line.available, "true", "false"),
    )


def selection_row(line: CartLine) -> rx.Component:
    """A selected item in the drawer or sidebar (nothing for a line not in the cart)."""
    return rx.cond(is_selected(line), _selection_row(line))


def _selection_row(line: CartLine) -> rx.Component:
    return rx.hstack(
        product_image(line, "56px"),
        rx.vstack(
            rx.hstack(
                rx.text(line.title, size="2", weight="medium", line_height="1.3"),
                rx.spacer(),
                rx.text(
                    CartState.line_totals[line.key], size="2", weight="bold", white_space="nowrap"
                ),
                width="100%",
                align="start",
            ),
            plan_row(line, quiet=True),
            rx.hstack(quantity_stepper(line), remove_button(line), align="center", spacing="2"),
            spacing="1",
            width="100%",
        ),
        spacing="3",
        width="100%",
        padding_y="10px",
        data_testid="selected-item",
        data_key=line.key,
    )
