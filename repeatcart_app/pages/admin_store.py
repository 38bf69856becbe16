"""`/admin/store`: the Shopify connection, the carts' public address, and Test connection."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.components.admin_parts import (
    result_callout,
    secret_note,
    section_card,
    when_loaded,
)
from repeatcart_app.state.admin_store import AdminStoreState


def _label(text: str, field_id: str) -> rx.Component:
    return rx.el.label(
        rx.text(text, size="2", weight="medium"),
        html_for=field_id,
    )


def _error(name: str) -> rx.Component:
    message = AdminStoreState.errors.get(name, "")
    return rx.cond(
        message != "",
        rx.text(message, size="2", color_scheme="red", data_testid=f"error-{name}"),
    )


def _text_field(
    label: str, name: str, value: rx.Var, hint: str, placeholder: str = ""
) -> rx.Component:
    field_id = f"store-{name}"
    return rx.vstack(
        _label(label, field_id),
        rx.input(
            id=field_id,
            name=name,
            default_value=value,
            placeholder=placeholder,
            size="3",
            width="100%",
            auto_complete="off",
            spell_check=False,
            data_testid=f"field-{name}",
        ),
        rx.text(hint, size="1", color_scheme="gray"),
        _error(name),
        spacing="1",
        width="100%",
    )


def _secret_field(
    label: str,
    name: str,
    note: rx.Var,
    saved: rx.Var,
    unreadable: rx.Var,
    hint: str,
) -> rx.Component:
    """A password input that starts empty: blank on save keeps the saved value."""
    field_id = f"store-{name}"
    return rx.vstack(
        _label(label, field_id),
        rx.input(
            id=field_id,
            name=name,
            type="password",
            placeholder="Blank keeps the saved value",
            size="3",
            width="100%",
            auto_complete="new-password",
            spell_check=False,
            data_testid=f"field-{name}",
        ),
        secret_note(
            note,
            unreadable=unreadable,
            saved=saved,
            remove_label="Remove",
            on_remove=AdminStoreState.remove_secret(name),
            note_testid=f"note-{name}",
            remove_testid=f"remove-{name}",
        ),
        rx.text(hint, size="1", color_scheme="gray"),
        _error(name),
        spacing="1",
        width="100%",
    )


def _switch_confirmation() -> rx.Component:
    """Shown after a save to another shop was refused: the explicit go-ahead to erase."""
    return rx.cond(
        AdminStoreState.switch_from != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("triangle-alert", size=16)),
            rx.el.label(
                rx.hstack(
                    rx.checkbox(name="replace_data", size="2", data_testid="replace-data"),
                    rx.text(
                        "Erase the orders, customers, products and carts of ",
                        rx.text.strong(AdminStoreState.switch_from),
                        " and connect the shop above.",
                        size="2",
                    ),
                    spacing="2",
                    align="start",
                ),
            ),
            color_scheme="amber",
            variant="surface",
            data_testid="switch-shop",
        ),
    )


def _connected_shop() -> rx.Component:
    """Which shop carts check out at: the one whose data this database holds."""
    return rx.cond(
        AdminStoreState.connected_domain != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("store", size=16)),
            rx.vstack(
                rx.text(
                    "Connected to ",
                    rx.text.strong(AdminStoreState.connected_name),
                    " (",
                    AdminStoreState.connected_domain,
                    ")",
                    size="2",
                ),
                rx.text(AdminStoreState.connected_details, size="1", color_scheme="gray"),
                spacing="1",
            ),
            color_scheme="grass",
            variant="surface",
            width="100%",
            data_testid="connected-shop",
        ),
    )


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            _connected_shop(),
            section_card(
                "Shopify",
                "The shop RepeatCart reads orders and products from, through a custom app's "
                "Admin API access token.",
                _text_field(
                    "Shop domain",
                    "shopify_shop",
                    AdminStoreState.shop,
                    "The myshopify domain, not your storefront's own domain.",
                    "your-shop.myshopify.com",
                ),
                _switch_confirmation(),
                _secret_field(
                    "Admin API access token",
                    "shopify_token",
                    AdminStoreState.token_note,
                    AdminStoreState.token_saved,
                    AdminStoreState.token_unreadable,
                    "From the custom app's API credentials (starts with shpat_).",
                ),
                _text_field(
                    "API version",
                    "shopify_api_version",
                    AdminStoreState.api_version,
                    "YYYY-MM, a version Shopify supports.",
                    "2026-10",
                ),
                _secret_field(
                    "Storefront API access token",
                    "shopify_storefront_token",
                    AdminStoreState.storefront_note,
                    AdminStoreState.storefront_saved,
                    AdminStoreState.storefront_unreadable,
                    "For subscription carts: a Storefront API token with the unauthenticated "
                    "checkout scopes. Without it they check out one-time.",
                ),
                _secret_field(
                    "Webhook secret",
                    "shopify_webhook_secret",
                    AdminStoreState.webhook_note,
                    AdminStoreState.webhook_saved,
                    AdminStoreState.webhook_unreadable,
                    "The app's client secret, which signs the webhooks Shopify sends.",
                ),
            ),
            section_card(
                "Carts",
                "Where shoppers open their carts; every cart link starts with it.",
                _text_field(
                    "Public base URL",
                    "public_url",
                    AdminStoreState.public_url,
                    "http:// or https:// and the address of this app.",
                    "https://carts.your-shop.com",
                ),
            ),
            rx.hstack(
                rx.button("Save", type="submit", size="3", data_testid="save-store"),
                rx.cond(
                    AdminStoreState.form_message != "",
                    rx.text(
                        AdminStoreState.form_message,
                        size="2",
                        color_scheme=rx.cond(AdminStoreState.form_ok, "grass", "red"),
                        role="status",
                        data_testid="store-message",
                    ),
                ),
                spacing="4",
                align="center",
                wrap="wrap",
            ),
            spacing="5",
            width="100%",
        ),
        on_submit=AdminStoreState.save,
        key=AdminStoreState.form_key,
        width="100%",
        data_testid="store-form",
    )


def _connection() -> rx.Component:
    return section_card(
        "Test connection",
        "Asks Shopify for the shop with the saved settings (save your changes first).",
        rx.hstack(
            rx.button(
                rx.cond(AdminStoreState.testing, rx.spinner(size="2"), rx.icon("plug", size=16)),
                "Test connection",
                on_click=AdminStoreState.test_connection,
                disabled=AdminStoreState.testing,
                variant="soft",
                size="3",
                data_testid="test-connection",
            ),
            align="center",
        ),
        result_callout(
            AdminStoreState.connection_message,
            AdminStoreState.connection_ok,
            "connection-result",
        ),
    )


@admin_page("Store", routes.ADMIN_STORE)
def admin_store_page() -> rx.Component:
    return when_loaded(
        AdminStoreState.loaded,
        rx.vstack(_form(), _connection(), spacing="5", width="100%", data_testid="admin-store"),
    )
