"""The Cart page's "One code per customer" card: unique discount codes, off by default."""

from __future__ import annotations

import reflex as rx

from repeatcart_app.components.admin_cart_parts import (
    checkbox_with_hint,
    field,
    saved_note,
    text_input,
)
from repeatcart_app.components.admin_parts import section_card
from repeatcart_app.state.admin_cart import AdminCartState
from services.settings.unique_codes import DAYS_RANGE, PREFIX_MAX


def _switch() -> rx.Component:
    return checkbox_with_hint(
        "unique_codes",
        AdminCartState.unique_codes,
        "Give each customer their own code",
        "When a reminder is queued, the customer gets a single-use code made in Shopify. Their "
        "cart, checkout link and message carry it; if Shopify can't make it, the discount code "
        "above is used instead. Needs the app's write_discounts access.",
    )


def _kind() -> rx.Component:
    return rx.select.root(
        rx.select.trigger(width="100%", data_testid="input-unique_code_kind"),
        rx.select.content(
            rx.select.item("Percentage off", value="percentage"),
            rx.select.item("Fixed amount off", value="fixed"),
        ),
        name="unique_code_kind",
        value=AdminCartState.unique_code_kind,
        on_change=AdminCartState.pick_code_kind,
        size="3",
    )


def codes_card() -> rx.Component:
    return section_card(
        "One code per customer",
        "Optional: a unique discount code for each reminder instead of one shared code.",
        rx.form(
            rx.vstack(
                _switch(),
                rx.grid(
                    field("unique_code_kind", "Discount", "Off the whole order.", _kind()),
                    field(
                        "unique_code_value",
                        rx.cond(
                            AdminCartState.unique_code_kind == "percentage",
                            "Percent off",
                            "Amount off",
                        ),
                        rx.cond(
                            AdminCartState.unique_code_kind == "percentage",
                            "A whole number from 1 to 100.",
                            "In your store's currency, like 5 or 4.50.",
                        ),
                        text_input(
                            "unique_code_value",
                            AdminCartState.unique_code_value,
                            input_mode="decimal",
                            placeholder="10",
                        ),
                    ),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="4",
                    width="100%",
                ),
                rx.grid(
                    field(
                        "unique_code_prefix",
                        "Code prefix",
                        f"Letters, digits, - and _ (up to {PREFIX_MAX}); 8 random characters "
                        "follow.",
                        text_input(
                            "unique_code_prefix",
                            AdminCartState.unique_code_prefix,
                            placeholder="RC-",
                            auto_complete="off",
                            spell_check=False,
                        ),
                    ),
                    field(
                        "unique_code_days",
                        "Days valid",
                        f"At least this long ({DAYS_RANGE[0]} to {DAYS_RANGE[1]} days).",
                        text_input(
                            "unique_code_days",
                            AdminCartState.unique_code_days,
                            input_mode="numeric",
                            placeholder="14",
                        ),
                    ),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="4",
                    width="100%",
                ),
                rx.hstack(
                    rx.button("Save", type="submit", size="3", data_testid="save-codes"),
                    saved_note("codes", "Saved: applies to the next reminders"),
                    align="center",
                    spacing="3",
                    wrap="wrap",
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=AdminCartState.save_codes,
            data_testid="form-codes",
            key=AdminCartState.form_versions["codes"],
        ),
        testid="card-codes",
    )
