"""The Products page's featured links dialog: each variant's link to copy, and its QR code to
download as SVG (for print shops) or PNG (for anything else)."""

import reflex as rx

from repeatcart_app.state.admin_products import AdminProductsState as State


def _variant_row(row: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(
                rx.cond(row["variant"] != "", row["variant"], State.links_title),
                size="2",
                weight="medium",
            ),
            rx.cond(row["sku"] != "", rx.text(row["sku"], size="1", color_scheme="gray")),
            align="baseline",
            spacing="2",
            wrap="wrap",
        ),
        rx.code(row["url"], size="1", word_break="break-all", data_testid="featured-url"),
        rx.hstack(
            rx.button(
                rx.icon(rx.cond(State.copied_id == row["id"], "check", "copy"), size=14),
                rx.cond(State.copied_id == row["id"], "Copied", "Copy link"),
                on_click=[rx.set_clipboard(row["url"]), State.link_copied(row["id"])],
                variant="soft",
                size="2",
            ),
            rx.button(
                rx.icon("download", size=14),
                "QR SVG",
                on_click=State.download_qr(row["id"], "svg"),
                variant="soft",
                color_scheme="gray",
                size="2",
                aria_label="Download QR code (SVG)",
            ),
            rx.button(
                rx.icon("download", size=14),
                "QR PNG",
                on_click=State.download_qr(row["id"], "png"),
                variant="soft",
                color_scheme="gray",
                size="2",
                aria_label="Download QR code (PNG)",
            ),
            spacing="2",
            wrap="wrap",
        ),
        spacing="2",
        width="100%",
        padding_y="12px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        data_testid="featured-link",
        data_variant=row["id"],
    )


def featured_links_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Featured links: " + State.links_title),
            rx.dialog.description(
                "Anyone who opens a link gets a cart with that product in it, ready to check "
                "out. QR codes carry the channel “qr”, so Analytics shows what packaging and "
                "inserts bring in.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                State.link_rows.length() > 0,
                rx.vstack(rx.foreach(State.link_rows, _variant_row), spacing="0", width="100%"),
                rx.text("This product has no variant to link to.", size="2", margin_top="12px"),
            ),
            rx.hstack(
                rx.spacer(),
                rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")),
                margin_top="16px",
                width="100%",
            ),
            max_width="520px",
            data_testid="featured-links-dialog",
        ),
        open=State.links_id != "",
        on_open_change=State.close_links,
    )


def links_button(row: rx.Var) -> rx.Component:
    """Opens the dialog, for products that are for sale."""
    return rx.cond(
        row["linkable"] != "",
        rx.button(
            rx.icon("qr-code", size=14),
            "Links",
            on_click=State.open_links(row["id"]),
            variant="ghost",
            size="1",
            aria_label="Featured links for " + row["title"],
        ),
    )
