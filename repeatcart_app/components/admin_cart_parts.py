"""Small building blocks of the dashboard's Cart page: labelled fields, saved notes, thumbnails."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventHandler

from repeatcart_app.state.admin_cart import AdminCartState


def field(
    name: str, label: str | rx.Var, help_text: str | rx.Var, control: rx.Component
) -> rx.Component:
    """A label, the control, its help and, after a refused save, the server's message."""
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=name),
        control,
        rx.cond(
            AdminCartState.errors.contains(name),
            rx.text(
                rx.icon("circle-alert", size=14, display="inline", vertical_align="-2px"),
                " ",
                AdminCartState.errors[name],
                size="2",
                color_scheme="red",
                role="alert",
                data_testid=f"error-{name}",
            ),
            rx.text(help_text, size="1", color_scheme="gray"),
        ),
        spacing="1",
        width="100%",
        min_width="0",
    )


def text_input(name: str, value: rx.Var, **props) -> rx.Component:
    """A Cart-page form input, marked invalid while its field has an error."""
    return rx.input(
        name=name,
        id=name,
        default_value=value,
        size="3",
        width="100%",
        data_testid=f"input-{name}",
        aria_invalid=rx.cond(AdminCartState.errors.contains(name), "true", "false"),
        **props,
    )


def checkbox_with_hint(name: str, checked: rx.Var, title: str, hint: str) -> rx.Component:
    """A Cart-page switch: the checkbox, its name and a line saying what it does."""
    return rx.el.label(
        rx.hstack(
            rx.checkbox(
                name=name,
                id=name,
                default_checked=checked,
                size="3",
                aria_label=title,  # its name is the title alone, not the hint beside it
                data_testid=f"input-{name}",
            ),
            rx.vstack(
                rx.text(title, size="2", weight="medium"),
                rx.text(hint, size="1", color_scheme="gray"),
                spacing="1",
            ),
            align="start",
            spacing="3",
        ),
        html_for=name,
        cursor="pointer",
    )


def saved_note(section: str, message: str = "Saved: shows on the next cart load") -> rx.Component:
    return rx.cond(
        AdminCartState.saved_section == section,
        rx.text(
            rx.icon("check", size=14, display="inline", vertical_align="-2px"),
            " " + message,
            size="2",
            color_scheme="grass",
            role="status",
            data_testid=f"saved-{section}",
        ),
    )


def product_thumb(src: rx.Var) -> rx.Component:
    return rx.box(
        rx.cond(
            src != "",
            rx.image(src=src, alt="", width="40px", height="40px", object_fit="cover"),
            rx.icon("package", size=20, color=rx.color("gray", 8)),
        ),
        width="40px",
        height="40px",
        border_radius="6px",
        overflow="hidden",
        background=rx.color("gray", 3),
        display="flex",
        align_items="center",
        justify_content="center",
        flex_shrink="0",
    )


def search_form(placeholder: str, handler: EventHandler, label: str, testid: str) -> rx.Component:
    """A one-field search form: the YMAL picker's and the preview's customer search."""
    return rx.form(
        rx.hstack(
            rx.input(
                name="query",
                placeholder=placeholder,
                size="3",
                flex="1",
                min_width="0",
                aria_label=label,
                data_testid=f"{testid}-query",
                auto_complete="off",
            ),
            rx.button(rx.icon("search", size=16), "Search", size="3", type="submit"),
            spacing="2",
            width="100%",
        ),
        on_submit=handler,
        data_testid=f"{testid}-form",
        width="100%",
    )
