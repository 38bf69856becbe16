"""`/admin/cart`: what every customer's cart shows, and when reminders go out.

Six settings cards (each saved on its own, messages next to the fields) and a preview of any
customer's cart in a new tab. Saved changes show on the next cart load.
"""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_cart_codes import codes_card
from repeatcart_app.components.admin_cart_parts import (
    checkbox_with_hint,
    field,
    product_thumb,
    saved_note,
    search_form,
    text_input,
)
from repeatcart_app.components.admin_cart_preview import preview_card
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.components.admin_parts import section_card, when_loaded
from repeatcart_app.state.admin_cart import AdminCartState, ProductRow
from services.settings.cart import (
    ACCENT_COLORS,
    BANNER_MAX,
    CROSS_SELL_DAYS_RANGE,
    DEFAULT_INTERVAL_RANGE,
    LAPSE_FACTOR_RANGE,
    LEAD_DAYS_RANGE,
    MIN_CHECKOUT_RANGE,
    MIN_REORDER_RANGE,
    YMAL_MAX,
)


def _save_row(section: str, note: str = "Saved: shows on the next cart load") -> rx.Component:
    return rx.hstack(
        rx.button("Save", type="submit", size="3", data_testid=f"save-{section}"),
        saved_note(section, note),
        align="center",
        spacing="3",
        wrap="wrap",
    )


def banner_card() -> rx.Component:
    return section_card(
        "Banner, discount & checkout",
        "A short message at the top of every cart, a code Shopify applies at checkout, and "
        "an optional minimum number of items.",
        rx.form(
            rx.vstack(
                field(
                    "banner_text",
                    "Banner text",
                    f"Plain text, up to {BANNER_MAX} characters. Leave empty for no banner.",
                    text_input(
                        "banner_text",
                        AdminCartState.banner_text,
                        placeholder="10% off your reorder — applied at checkout",
                    ),
                ),
                field(
                    "discount_code",
                    "Discount code",
                    "Must match a code in your Shopify admin. No spaces; letters in any "
                    "language are fine. Leave empty for none.",
                    text_input(
                        "discount_code",
                        AdminCartState.discount_code,
                        placeholder="REORDER10",
                        auto_complete="off",
                        spell_check=False,
                    ),
                ),
                field(
                    "min_checkout_quantity",
                    "Minimum checkout quantity",
                    f"Check Out stays off until the cart holds this many items, and the cart "
                    f"says how many more are needed (0 for no minimum, up to "
                    f"{MIN_CHECKOUT_RANGE[1]}).",
                    text_input(
                        "min_checkout_quantity",
                        AdminCartState.min_checkout_quantity,
                        input_mode="numeric",
                        placeholder="0",
                    ),
                ),
                _save_row("banner"),
                spacing="4",
                width="100%",
            ),
            on_submit=AdminCartState.save_banner,
            data_testid="form-banner",
            key=AdminCartState.form_versions["banner"],
        ),
        testid="card-banner",
    )


def _recompute_note(section: str) -> rx.Component:
    """How the re-dating after a timing or lapse factor change is going (in the saved card)."""
    return rx.cond(
        (AdminCartState.recompute_note != "") & (AdminCartState.recompute_section == section),
        rx.callout(
            AdminCartState.recompute_note,
            icon=rx.cond(AdminCartState.recomputing, "loader", "circle-check"),
            color_scheme=rx.cond(AdminCartState.recomputing, "blue", "gray"),
            size="1",
            width="100%",
            data_testid="recompute-note",
            data_running=rx.cond(AdminCartState.recomputing, "true", "false"),
            data_runs=AdminCartState.recompute_runs,
        ),
    )


def timing_card() -> rx.Component:
    return section_card(
        "Reminders timing",
        "How due dates are worked out. Saving re-dates every customer's due items.",
        rx.form(
            rx.vstack(
                rx.grid(
                    field(
                        "lead_days",
                        "Lead days",
                        f"Remind this many days before an item runs out "
                        f"({LEAD_DAYS_RANGE[0]}–{LEAD_DAYS_RANGE[1]}).",
                        text_input("lead_days", AdminCartState.lead_days, input_mode="numeric"),
                    ),
                    field(
                        "default_interval_days",
                        "Default interval (days)",
                        f"Used until the store has learned its own reorder pace "
                        f"({DEFAULT_INTERVAL_RANGE[0]:g}–{DEFAULT_INTERVAL_RANGE[1]:g}).",
                        text_input(
                            "default_interval_days",
                            AdminCartState.default_interval_days,
                            input_mode="decimal",
                        ),
                    ),
                    field(
                        "min_reorder_customers",
                        "Minimum reorder customers",
                        f"A product's own interval is used once this many customers have "
                        f"reordered it ({MIN_REORDER_RANGE[0]}–{MIN_REORDER_RANGE[1]:,}).",
                        text_input(
                            "min_reorder_customers",
                            AdminCartState.min_reorder_customers,
                            input_mode="numeric",
                        ),
                    ),
                    columns=rx.breakpoints(initial="1", sm="3"),
                    spacing="4",
                    width="100%",
                ),
                _save_row("timing", "Saved"),
                _recompute_note("timing"),
                spacing="4",
                width="100%",
            ),
            on_submit=AdminCartState.save_timing,
            data_testid="form-timing",
            key=AdminCartState.form_versions["timing"],
        ),
        testid="card-timing",
    )


def moments_card() -> rx.Component:
    return section_card(
        "Moments",
        "About To Lapse: a repeat customer (2+ orders) who has not ordered for this many times "
        "the late interval of what they reorder most is sent one event per lapse. Primed For "
        "Cross-sell: some days after an order, a customer is offered the product most bought "
        "with what they buy. A new lapse factor or minimum support recomputes the store.",
        rx.form(
            rx.vstack(
                field(
                    "lapse_factor",
                    "Lapse factor",
                    f"Times the product's late interval (P75 × quantity) after the last order "
                    f"({LAPSE_FACTOR_RANGE[0]:g}–{LAPSE_FACTOR_RANGE[1]:g}; 2 by default).",
                    text_input("lapse_factor", AdminCartState.lapse_factor, input_mode="decimal"),
                ),
                rx.grid(
                    field(
                        "cross_sell_days",
                        "Cross-sell days",
                        f"Days after an order the offer goes out "
                        f"({CROSS_SELL_DAYS_RANGE[0]}–{CROSS_SELL_DAYS_RANGE[1]}; 7 by default).",
                        text_input(
                            "cross_sell_days", AdminCartState.cross_sell_days, input_mode="numeric"
                        ),
                    ),
                    field(
                        "cross_sell_min_support",
                        "Minimum support",
                        "Customers who must have bought both products before a pair is "
                        "learned (5 by default).",
                        text_input(
                            "cross_sell_min_support",
                            AdminCartState.cross_sell_min_support,
                            input_mode="numeric",
                        ),
                    ),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="4",
                    width="100%",
                ),
                _save_row("moments", "Saved"),
                _recompute_note("moments"),
                spacing="4",
                width="100%",
            ),
            on_submit=AdminCartState.save_moments,
            data_testid="form-moments",
            key=AdminCartState.form_versions["moments"],
        ),
        testid="card-moments",
    )


def _swatch(name: str, size: str = "16px") -> rx.Component:
    return rx.box(
        width=size,
        height=size,
        border_radius="50%",
        background=f"var(--{name}-9)",
        flex_shrink="0",
        aria_hidden="true",
    )


def _colour_picker() -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(width="200px", data_testid="accent-trigger", id="accent_color"),
            rx.select.content(
                *[
                    rx.select.item(
                        rx.hstack(
                            _swatch(name, "14px"), rx.text(name.capitalize()), align="center"
                        ),
                        value=name,
                        data_testid=f"accent-{name}",
                    )
                    for name in ACCENT_COLORS
                ],
                position="popper",
            ),
            value=AdminCartState.accent_color,
            on_change=AdminCartState.pick_accent,
            name="accent_color",
            size="3",
        ),
        rx.button(
            "Check Out",
            type="button",
            color_scheme=AdminCartState.accent_color,
            size="2",
            tab_index=-1,
            aria_hidden="true",
            data_testid="accent-sample",
        ),
        align="center",
        spacing="3",
        wrap="wrap",
    )


def appearance_card() -> rx.Component:
    return section_card(
        "Appearance",
        "Your cart's colour and logo, and whether sold-out items are listed.",
        rx.form(
            rx.vstack(
                field(
                    "accent_color",
                    "Accent colour",
                    "Buttons and highlights on the cart. The sample shows the Check Out button.",
                    _colour_picker(),
                ),
                field(
                    "logo_url",
                    "Logo URL",
                    "An https:// address of an image (about 32 px tall shows best). "
                    "Leave empty to show the shop name.",
                    rx.vstack(
                        text_input(
                            "logo_url",
                            AdminCartState.logo_url,
                            placeholder="https://cdn.shopify.com/…/logo.png",
                            type="url",
                            on_blur=AdminCartState.preview_logo,
                        ),
                        rx.cond(
                            AdminCartState.logo_preview != "",
                            rx.box(
                                rx.image(
                                    src=AdminCartState.logo_preview,
                                    alt="Logo preview",
                                    height="32px",
                                    max_width="200px",
                                    object_fit="contain",
                                ),
                                padding="8px 12px",
                                border=f"1px solid {rx.color('gray', 5)}",
                                border_radius="8px",
                                background=rx.color("gray", 1),
                                data_testid="logo-preview",
                            ),
                        ),
                        spacing="2",
                        width="100%",
                    ),
                ),
                checkbox_with_hint(
                    "hide_unavailable",
                    AdminCartState.hide_unavailable,
                    "Hide unavailable items",
                    "When off, sold-out items stay listed (marked Unavailable) so customers know "
                    "they're coming back.",
                ),
                _save_row("appearance"),
                spacing="4",
                width="100%",
            ),
            on_submit=AdminCartState.save_appearance,
            data_testid="form-appearance",
            key=AdminCartState.form_versions["appearance"],
        ),
        testid="card-appearance",
    )


def _product_line(
    row: ProductRow, detail: rx.Component, action: rx.Component, testid: str
) -> rx.Component:
    """One product in the list or in the search results: thumbnail, title, a line, an action."""
    return rx.hstack(
        product_thumb(row.image_url),
        rx.vstack(
            rx.text(row.title, size="2", weight="medium"),
            detail,
            spacing="0",
            min_width="0",
            flex="1",
        ),
        action,
        align="center",
        spacing="3",
        width="100%",
        padding_y="8px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        data_testid=testid,
        data_product=row.product_id,
    )


def product_row(row: ProductRow, index: rx.Var) -> rx.Component:
    last = AdminCartState.ymal.length() - 1
    return _product_line(
        row,
        rx.text(
            rx.cond(row.sold, row.detail, "Not for sale now: hidden on carts"),
            size="1",
            color_scheme=rx.cond(row.sold, "gray", "amber"),
        ),
        rx.hstack(
            rx.icon_button(
                rx.icon("arrow-up", size=16),
                variant="soft",
                color_scheme="gray",
                disabled=index == 0,
                on_click=AdminCartState.move_ymal(row.product_id, -1),
                aria_label="Move up: " + row.title,
            ),
            rx.icon_button(
                rx.icon("arrow-down", size=16),
                variant="soft",
                color_scheme="gray",
                disabled=index == last,
                on_click=AdminCartState.move_ymal(row.product_id, 1),
                aria_label="Move down: " + row.title,
            ),
            rx.icon_button(
                rx.icon("x", size=16),
                variant="soft",
                color_scheme="red",
                on_click=AdminCartState.remove_ymal(row.product_id),
                aria_label="Remove: " + row.title,
            ),
            spacing="1",
            flex_shrink="0",
        ),
        "ymal-item",
    )


def search_hit(row: ProductRow) -> rx.Component:
    return _product_line(
        row,
        rx.text(row.detail, size="1", color_scheme="gray"),
        rx.cond(
            row.in_ymal,
            rx.badge("In the list", color_scheme="gray", size="2"),
            rx.button(
                rx.icon("plus", size=14),
                "Add",
                size="2",
                variant="soft",
                on_click=AdminCartState.add_ymal(row.product_id),
                aria_label="Add: " + row.title,
            ),
        ),
        "ymal-hit",
    )


def ymal_card() -> rx.Component:
    return section_card(
        "You might also like",
        f"Up to {YMAL_MAX} products suggested on every cart, in this order (products a customer "
        "already has in their cart are skipped). Changes apply at once.",
        rx.vstack(
            rx.cond(
                AdminCartState.ymal.length() > 0,
                rx.vstack(
                    rx.foreach(AdminCartState.ymal, product_row),
                    spacing="0",
                    width="100%",
                    data_testid="ymal-list",
                ),
                rx.text(
                    "No suggestions yet: search the catalog below and add some.",
                    size="2",
                    color_scheme="gray",
                    data_testid="ymal-empty",
                ),
            ),
            rx.text("Add products", size="2", weight="medium", padding_top="8px"),
            search_form(
                "Title, handle or SKU",
                AdminCartState.search_products,
                "Search products",
                "ymal-search",
            ),
            rx.cond(
                AdminCartState.ymal_message != "",
                rx.text(AdminCartState.ymal_message, size="2", color_scheme="red", role="alert"),
            ),
            rx.vstack(
                rx.foreach(AdminCartState.ymal_hits, search_hit),
                spacing="0",
                width="100%",
                data_testid="ymal-hits",
            ),
            spacing="3",
            width="100%",
        ),
        testid="card-ymal",
    )


@admin_page("Cart", routes.ADMIN_CART)
def admin_cart_page() -> rx.Component:
    return when_loaded(
        AdminCartState.loaded,
        rx.vstack(
            rx.text(
                "What every customer's cart shows. Saved changes appear on the next cart load.",
                size="3",
                color_scheme="gray",
            ),
            banner_card(),
            codes_card(),
            timing_card(),
            moments_card(),
            appearance_card(),
            ymal_card(),
            preview_card(),
            spacing="5",
            width="100%",
            data_testid="admin-cart",
        ),
    )
