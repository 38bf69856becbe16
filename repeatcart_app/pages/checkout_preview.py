"""`/checkout-preview`: shows the permalink a real shop's checkout would receive.

The page exists only while the preview is on; otherwise it is the not-found page.
"""

import reflex as rx

from repeatcart_app.pages.not_found import nothing_here
from repeatcart_app.state.checkout_preview import CheckoutPreviewState, PreviewLine


def _line(line: PreviewLine) -> rx.Component:
    return rx.table.row(
        rx.table.cell(line.title, data_testid="preview-title"),
        rx.table.cell(line.variant_id, data_testid="preview-variant"),
        rx.table.cell(line.quantity, data_testid="preview-quantity"),
    )


def _described() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Item"),
                    rx.table.column_header_cell("Variant id"),
                    rx.table.column_header_cell("Qty"),
                )
            ),
            rx.table.body(rx.foreach(CheckoutPreviewState.lines, _line)),
            width="100%",
        ),
        rx.cond(
            CheckoutPreviewState.discount_code != "",
            rx.text("Discount: ", rx.code(CheckoutPreviewState.discount_code)),
        ),
        rx.text("Permalink", weight="bold", size="2"),
        rx.code(
            CheckoutPreviewState.permalink,
            data_testid="permalink",
            style={"word_break": "break-all", "white_space": "normal"},
        ),
        width="100%",
        spacing="3",
    )


def _preview() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.badge("Checkout preview", color_scheme="amber", size="2"),
                rx.heading("This is where Shopify checkout opens", as_="h1", size="6"),
                rx.text(
                    "The demo shop does not exist, so instead of leaving the app this page "
                    "shows the cart permalink a real shop would receive.",
                    color_scheme="gray",
                ),
                rx.cond(
                    CheckoutPreviewState.status == "ok",
                    _described(),
                    rx.callout(
                        CheckoutPreviewState.problem,
                        icon="triangle-alert",
                        color_scheme="red",
                        data_testid="preview-refused",
                    ),
                ),
                rx.button("Back", on_click=rx.call_script("history.back()"), variant="soft"),
                spacing="4",
            ),
            size="4",
            max_width="640px",
            width="100%",
        ),
        padding="16px",
        min_height="100dvh",
        background_color=rx.color("gray", 2),
    )


def checkout_preview_page() -> rx.Component:
    return rx.match(
        CheckoutPreviewState.status,
        ("loading", rx.box(min_height="100dvh", data_testid="preview-loading")),
        ("off", nothing_here()),
        _preview(),
    )
