"""The Products page's cross-sell card: what the store learned, the merchant's pins, a pin form.

On a phone the pairs read as short lines ("Soap → Towel"), not a table: two product names and a
figure fit a 390 px screen without sideways scrolling.
"""

from __future__ import annotations

import reflex as rx

from repeatcart_app.components.admin_parts import section_card
from repeatcart_app.state.admin_products import AdminProductsState as State


def _pair_line(pair: rx.Var, *trailing: rx.Component, testid: str) -> rx.Component:
    return rx.hstack(
        rx.text(
            pair["product"],
            rx.text.span(" → ", color_scheme="gray"),
            rx.text.span(pair["paired"], weight="medium"),
            size="2",
            min_width="0",
            flex="1",
        ),
        *trailing,
        align="center",
        width="100%",
        padding="8px 0",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        data_testid=testid,
    )


def _pins() -> rx.Component:
    return rx.vstack(
        rx.text("Pinned by you", size="2", weight="medium"),
        rx.cond(
            State.xsell_pins.length() > 0,
            rx.vstack(
                rx.foreach(
                    State.xsell_pins,
                    lambda pin: _pair_line(
                        pin,
                        rx.button(
                            "Unpin",
                            on_click=State.unpin_cross_sell(pin["product_id"]),
                            variant="soft",
                            color_scheme="gray",
                            size="1",
                            aria_label="Unpin " + pin["product"],
                            data_testid="xsell-unpin",
                        ),
                        testid="xsell-pin",
                    ),
                ),
                spacing="0",
                width="100%",
            ),
            rx.text("No pins yet.", size="2", color_scheme="gray"),
        ),
        spacing="1",
        width="100%",
    )


def _learned() -> rx.Component:
    return rx.cond(
        State.xsell_learned.length() > 0,
        rx.vstack(
            rx.text("Strongest learned pairs", size="2", weight="medium"),
            rx.foreach(
                State.xsell_learned,
                lambda pair: _pair_line(
                    pair,
                    rx.text(
                        pair["lift"] + " · " + pair["support"],
                        size="1",
                        color_scheme="gray",
                        white_space="nowrap",
                    ),
                    testid="xsell-learned",
                ),
            ),
            spacing="1",
            width="100%",
        ),
    )


def _pin_form() -> rx.Component:
    def box(name: str, label: str, hint: str) -> rx.Component:
        return rx.vstack(
            rx.el.label(rx.text(label, size="2", weight="medium"), html_for=name),
            rx.input(name=name, id=name, placeholder=hint, size="3", width="100%"),
            spacing="1",
            width="100%",
        )

    return rx.form(
        rx.vstack(
            rx.grid(
                box("xsell_product", "Buyers of", "Title, handle or SKU"),
                box("xsell_offer", "are offered", "Title, handle or SKU"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            rx.hstack(
                rx.button("Pin pair", type="submit", data_testid="xsell-pin-save"),
                justify="end",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=State.pin_cross_sell,
        key=State.xsell_form,
        data_testid="xsell-pin-form",
        width="100%",
    )


def cross_sell_card() -> rx.Component:
    """Learned and pinned cross-sell pairs; a pin replaces its product's learned partners."""
    return section_card(
        "Cross-sell pairs",
        "Some days after an order (7 unless the Cart page says otherwise), a customer is "
        "offered the product most bought by customers who buy what they buy, if they never "
        "bought it. Pin a pair to choose the offer yourself: it replaces that product's "
        "learned partners.",
        rx.callout(
            State.xsell_status,
            icon=rx.cond(State.xsell_too_little, "info", "sparkles"),
            color_scheme=rx.cond(State.xsell_too_little, "amber", "gray"),
            size="1",
            width="100%",
            data_testid="xsell-status",
            data_too_little=rx.cond(State.xsell_too_little, "true", "false"),
        ),
        _pins(),
        _pin_form(),
        rx.cond(
            State.xsell_error != "",
            rx.callout(
                State.xsell_error,
                icon="triangle-alert",
                color_scheme="red",
                size="1",
                width="100%",
                data_testid="xsell-error",
            ),
        ),
        rx.cond(
            State.xsell_notice != "",
            rx.callout(
                State.xsell_notice,
                icon="circle-check",
                color_scheme="grass",
                size="1",
                width="100%",
                data_testid="xsell-notice",
            ),
        ),
        _learned(),
        testid="card-cross-sell",
    )
