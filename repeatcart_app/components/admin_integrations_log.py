"""The delivery log of the Integrations page: one integration's outbox, a page at a time.

Rows are stacked lines (status, kind, customer, attempts, time, then the error), so the same
markup reads as a list on a desktop and wraps on a phone without a horizontal scroll.
"""

from __future__ import annotations

import reflex as rx

from repeatcart_app.components.admin_parts import TONES, status_badge
from repeatcart_app.state.admin_integrations import AdminIntegrationsState as State
from services.settings.integrations import INTEGRATIONS, LABELS


def _row(row: rx.Var) -> rx.Component:
    return rx.box(
        rx.flex(
            status_badge(row["color"], row["status"], TONES),
            rx.text(row["kind"], size="2", weight="medium"),
            rx.text(row["email"], size="2", word_break="break-all", flex="1 1 12rem"),
            rx.hstack(
                rx.text(row["attempts"], size="1", color_scheme="gray", white_space="nowrap"),
                rx.text(row["when"], size="1", color_scheme="gray", white_space="nowrap"),
                spacing="3",
                margin_left="auto",
            ),
            spacing="3",
            align="center",
            wrap="wrap",
            width="100%",
        ),
        rx.cond(
            row["error"] != "",
            rx.flex(
                rx.text(
                    row["error"],
                    size="1",
                    color_scheme=rx.cond(row["status"] == "failed", "red", "gray"),
                    word_break="break-word",
                    flex="1",
                    min_width="0",
                ),
                rx.cond(
                    row["status"] == "failed",
                    rx.button(
                        "Retry",
                        size="1",
                        variant="soft",
                        on_click=State.retry(row["id"]),
                        data_testid="retry-row",
                    ),
                ),
                spacing="3",
                align="start",
                width="100%",
                margin_top="6px",
            ),
        ),
        padding="10px 0",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        width="100%",
        data_testid="log-row",
    )


def delivery_log_section() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Delivery log", size="4", as_="h2"),
                rx.spacer(),
                rx.button(
                    rx.icon("refresh-cw", size=14),
                    "Refresh",
                    on_click=State.refresh,
                    variant="ghost",
                    color_scheme="gray",
                    data_testid="log-refresh",
                ),
                align="center",
                width="100%",
            ),
            rx.segmented_control.root(
                *(rx.segmented_control.item(LABELS[name], value=name) for name in INTEGRATIONS),
                value=State.log_integration,
                on_change=State.show_log,
                width="100%",
                data_testid="log-integration",
            ),
            rx.flex(
                rx.el.label(
                    rx.hstack(
                        rx.switch(
                            checked=State.failures_only,
                            on_change=State.show_failures,
                            data_testid="failures-only",
                        ),
                        rx.text("Failures only", size="2"),
                        spacing="2",
                        align="center",
                    ),
                ),
                rx.spacer(),
                rx.button(
                    rx.icon("rotate-ccw", size=14),
                    "Retry all failed",
                    on_click=State.retry(""),
                    disabled=State.log_failed == 0,
                    variant="soft",
                    data_testid="retry-all",
                ),
                align="center",
                spacing="3",
                wrap="wrap",
                width="100%",
            ),
            rx.cond(
                State.log_message != "",
                rx.text(State.log_message, size="2", color_scheme="grass", role="status"),
            ),
            rx.text(State.log_summary, size="2", color_scheme="gray", data_testid="log-summary"),
            rx.vstack(rx.foreach(State.log_rows, _row), spacing="0", width="100%"),
            rx.hstack(
                rx.button(
                    rx.icon("chevron-left", size=16),
                    "Newer",
                    on_click=State.turn_page(-1),
                    disabled=State.log_page <= 1,
                    variant="soft",
                    color_scheme="gray",
                    data_testid="log-prev",
                ),
                rx.button(
                    "Older",
                    rx.icon("chevron-right", size=16),
                    on_click=State.turn_page(1),
                    disabled=State.log_page >= State.log_pages,
                    variant="soft",
                    color_scheme="gray",
                    data_testid="log-next",
                ),
                justify="end",
                spacing="2",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        size=rx.breakpoints(initial="2", sm="3"),
        width="100%",
        data_testid="delivery-log",
    )
