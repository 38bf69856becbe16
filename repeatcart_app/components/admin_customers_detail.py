"""Pieces of the Customers page: the status badge and the customer's detail panel (a dialog)
with the cart link (copy, preview, rotate), due products, snoozes and recent orders."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from repeatcart_app.components import admin_parts
from repeatcart_app.state.admin_customers import AdminCustomersState as State

STATUS_COLOURS = {
    "late": "orange",
    "due": "grass",
    "upcoming": "blue",
    "snoozed": "purple",
    "nothing": "gray",
}


def status_badge(kind: rx.Var, label: rx.Var, testid: str = "status") -> rx.Component:
    """Calm, soft badges; the colour says the kind, the words say the rest."""
    return admin_parts.status_badge(
        kind, label, STATUS_COLOURS, variant="soft", radius="full", data_testid=testid
    )


def _section(title: str, *children: rx.Component, testid: str) -> rx.Component:
    return rx.vstack(
        rx.text(title, size="2", weight="bold", color_scheme="gray"),
        *children,
        spacing="2",
        width="100%",
        data_testid=testid,
    )


def _rotate_button() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                rx.icon("refresh-cw", size=14),
                "Rotate",
                variant="soft",
                color_scheme="gray",
                data_testid="rotate-link",
            ),
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Rotate this cart link?"),
            rx.alert_dialog.description(
                "A new link is made. The current link stops working at once: anyone who opens "
                "it (an old email or text message) sees the expired page instead of the cart.",
                size="2",
            ),
            rx.flex(
                rx.alert_dialog.cancel(
                    rx.button("Cancel", variant="soft", color_scheme="gray"),
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "Rotate link",
                        color_scheme="orange",
                        on_click=State.rotate_link,
                        data_testid="confirm-rotate",
                    ),
                ),
                spacing="3",
                justify="end",
                margin_top="16px",
            ),
            max_width="440px",
        ),
    )


def _link_section() -> rx.Component:
    copy = rx.button(
        rx.cond(State.copied, rx.icon("check", size=14), rx.icon("copy", size=14)),
        rx.cond(State.copied, "Copied", "Copy"),
        on_click=State.copy_link,
        variant="soft",
        data_testid="copy-link",
    )
    preview = rx.cond(
        State.link_preview_url != "",
        rx.button(
            rx.icon("external-link", size=14),
            "Preview",
            on_click=rx.redirect(State.link_preview_url, is_external=True),
            variant="soft",
            color_scheme="gray",
            data_testid="preview-link",
        ),
        rx.button(
            rx.icon("external-link", size=14),
            "Preview",
            on_click=State.preview_link,
            variant="soft",
            color_scheme="gray",
            data_testid="preview-link",
        ),
    )
    return _section(
        "Cart link",
        rx.cond(
            State.link_url != "",
            rx.code(
                State.link_url,
                variant="ghost",
                size="2",
                word_break="break-all",
                data_testid="link-url",
            ),
            rx.text(
                "No link yet: Copy or Preview makes one.",
                size="2",
                color_scheme="gray",
                data_testid="link-url-none",
            ),
        ),
        rx.flex(copy, preview, _rotate_button(), spacing="2", wrap="wrap"),
        rx.cond(
            State.link_notice != "",
            rx.callout(
                State.link_notice,
                icon="info",
                color_scheme="gray",
                size="1",
                data_testid="link-notice",
            ),
        ),
        testid="detail-link",
    )


def _list_or_note(
    items: rx.Var, render: Callable[[rx.Var], rx.Component], empty: str
) -> rx.Component:
    """The items one under another, or a quiet line saying there are none."""
    return rx.cond(
        items.length() > 0,
        rx.vstack(rx.foreach(items, render), spacing="2", width="100%"),
        rx.text(empty, size="2", color_scheme="gray"),
    )


def _due_section() -> rx.Component:
    return _section(
        "Due products",
        _list_or_note(
            State.due_products,
            lambda item: rx.flex(
                rx.vstack(
                    rx.text(item["title"], size="2", weight="medium"),
                    rx.text(
                        "Due " + item["due"] + " · " + item["source"],
                        size="1",
                        color_scheme="gray",
                    ),
                    spacing="0",
                    min_width="0",
                ),
                status_badge(item["status_kind"], item["status"], "due-status"),
                justify="between",
                align="center",
                gap="8px",
                width="100%",
                data_testid="due-product",
            ),
            "Nothing is due for this customer.",
        ),
        testid="detail-due",
    )


def _snooze_section() -> rx.Component:
    return rx.cond(
        State.snoozes.length() > 0,
        _section(
            "Snoozed by the customer",
            rx.foreach(
                State.snoozes,
                lambda item: rx.text(
                    item["title"] + " until " + item["until"], size="2", data_testid="snooze"
                ),
            ),
            testid="detail-snoozes",
        ),
    )


def _orders_section() -> rx.Component:
    return _section(
        "Recent orders",
        _list_or_note(
            State.recent_orders,
            lambda order: rx.vstack(
                rx.flex(
                    rx.hstack(
                        rx.text(order["name"], size="2", weight="medium"),
                        rx.text(order["date"], size="2", color_scheme="gray"),
                        rx.cond(
                            order["note"] != "",
                            rx.badge(order["note"], color_scheme="gray", variant="soft"),
                        ),
                        spacing="2",
                        align="center",
                        wrap="wrap",
                    ),
                    rx.text(order["total"], size="2", weight="medium"),
                    justify="between",
                    align="center",
                    gap="8px",
                    width="100%",
                ),
                rx.text(order["lines"], size="1", color_scheme="gray"),
                spacing="0",
                width="100%",
                padding_bottom="8px",
                border_bottom=f"1px solid {rx.color('gray', 4)}",
                data_testid="recent-order",
            ),
            "No orders yet.",
        ),
        testid="detail-orders",
    )


def customer_detail_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.vstack(
                rx.flex(
                    rx.vstack(
                        rx.dialog.title(State.detail_name, margin="0", data_testid="detail-name"),
                        rx.dialog.description(
                            rx.vstack(
                                rx.text(State.detail_email, word_break="break-all"),
                                rx.cond(State.detail_phone != "", rx.text(State.detail_phone)),
                                spacing="0",
                            ),
                            size="2",
                            color_scheme="gray",
                        ),
                        spacing="1",
                        min_width="0",
                    ),
                    rx.dialog.close(
                        rx.icon_button(
                            rx.icon("x", size=18),
                            variant="ghost",
                            color_scheme="gray",
                            aria_label="Close",
                            data_testid="detail-close",
                        ),
                    ),
                    justify="between",
                    align="start",
                    gap="12px",
                    width="100%",
                ),
                rx.hstack(
                    status_badge(State.detail_status_kind, State.detail_status, "detail-status"),
                    rx.text(State.detail_orders, size="2", color_scheme="gray"),
                    spacing="3",
                    align="center",
                ),
                rx.separator(size="4"),
                _link_section(),
                rx.separator(size="4"),
                _due_section(),
                _snooze_section(),
                rx.separator(size="4"),
                _orders_section(),
                spacing="4",
                width="100%",
            ),
            max_width="600px",
            width="calc(100vw - 24px)",
            data_testid="customer-detail",
        ),
        open=State.detail_open,
        on_open_change=State.set_detail_open,
    )
