"""The Cart page's Preview card: find a customer and open their cart as they would see it."""

from __future__ import annotations

import reflex as rx

from repeatcart_app.components.admin_cart_parts import search_form
from repeatcart_app.components.admin_parts import section_card
from repeatcart_app.state.admin_cart import AdminCartState, CustomerRow


def customer_hit(row: CustomerRow) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.text(row.name, size="2", weight="medium"),
            rx.text(row.email, size="1", color_scheme="gray", word_break="break-all"),
            spacing="0",
            min_width="0",
            flex="1",
        ),
        rx.button(
            rx.icon("eye", size=14),
            "Preview",
            size="2",
            variant="soft",
            on_click=AdminCartState.prepare_preview(row.customer_id),
            aria_label="Preview the cart of " + row.name,
        ),
        align="center",
        spacing="3",
        width="100%",
        padding_y="8px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        data_testid="customer-hit",
    )


def preview_card() -> rx.Component:
    return section_card(
        "Preview",
        "See any customer's cart as they would. A preview is marked as such and is not counted "
        "in analytics.",
        rx.vstack(
            search_form(
                "Email or name", AdminCartState.search_customers, "Search customers", "customer"
            ),
            rx.cond(
                AdminCartState.preview_href != "",
                rx.callout(
                    rx.link(
                        "Open " + AdminCartState.preview_name + "'s cart in a new tab",
                        rx.icon(
                            "external-link",
                            size=14,
                            display="inline-block",
                            vertical_align="-2px",
                            margin_left="4px",
                        ),
                        href=AdminCartState.preview_href,
                        is_external=True,
                        weight="medium",
                        data_testid="open-preview",
                    ),
                    icon="eye",
                    size="1",
                    width="100%",
                ),
            ),
            rx.cond(
                AdminCartState.customer_hits.length() > 0,
                rx.vstack(
                    rx.foreach(AdminCartState.customer_hits, customer_hit),
                    spacing="0",
                    width="100%",
                    data_testid="customer-hits",
                ),
                rx.cond(
                    AdminCartState.customer_searched,
                    rx.text("No customer matches.", size="2", color_scheme="gray"),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        testid="card-preview",
    )
