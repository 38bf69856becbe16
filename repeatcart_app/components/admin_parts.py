"""Small building blocks the admin pages share, so the same thing looks the same everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import reflex as rx
from reflex.event import EventSpec


def pagination(
    state: type[rx.State],
    *,
    range_testid: str,
    previous_testid: str,
    next_testid: str,
    empty_label: str = "",
    page_count: bool = False,
) -> rx.Component:
    """The range shown ("26–50 of 200") and Previous/Next for a `PagedList` state.

    The test ids stay each page's own: the pages' browser tests find the controls by them.
    """

    def button(*children: rx.Component | str, on_click, disabled, testid: str) -> rx.Component:
        return rx.button(
            *children,
            on_click=on_click,
            disabled=disabled,
            variant="soft",
            color_scheme="gray",
            data_testid=testid,
        )

    label = (
        state.range_label
        if not empty_label
        else rx.cond(state.total > 0, state.range_label, empty_label)
    )
    controls = [
        button(
            rx.icon("chevron-left", size=16),
            "Previous",
            on_click=state.previous_page,
            disabled=~state.has_previous,
            testid=previous_testid,
        ),
        button(
            "Next",
            rx.icon("chevron-right", size=16),
            on_click=state.next_page,
            disabled=~state.has_next,
            testid=next_testid,
        ),
    ]
    if page_count:
        controls.insert(
            1,
            rx.text(
                "Page " + state.page.to_string() + " of " + state.pages.to_string(),
                size="2",
                color_scheme="gray",
                white_space="nowrap",
            ),
        )
    return rx.flex(
        rx.text(label, size="2", color_scheme="gray", data_testid=range_testid),
        rx.hstack(*controls, spacing="2", align="center"),
        justify="between",
        align="center",
        gap="12px",
        wrap="wrap",
        width="100%",
    )


def section_card(
    title: str, description: str, *children: rx.Component, testid: str | None = None
) -> rx.Component:
    """A card for one part of a settings page: a heading, a line on what it is for, the rest."""
    return rx.card(
        rx.vstack(
            rx.vstack(
                rx.heading(title, as_="h2", size="4"),
                rx.text(description, size="2", color_scheme="gray"),
                spacing="1",
            ),
            *children,
            spacing="4",
            width="100%",
        ),
        size=rx.breakpoints(initial="2", sm="3"),
        width="100%",
        data_testid=testid,
    )


# for states that already name the colour: a Radix colour passes through, anything else is gray
TONES = {tone: tone for tone in ("grass", "amber", "red", "blue")}


def status_badge(
    value: rx.Var, label: rx.Var, colours: Mapping[str, str], **props: Any
) -> rx.Component:
    """A badge coloured by `value` (one of `colours`' keys; any other is gray): the colour
    says the kind at a glance, the label says the rest."""
    return rx.match(
        value,
        *((key, rx.badge(label, color_scheme=colour, **props)) for key, colour in colours.items()),
        rx.badge(label, color_scheme="gray", **props),
    )


def secret_note(
    note: rx.Var,
    *,
    unreadable: rx.Var,
    saved: rx.Var,
    remove_label: str,
    on_remove: EventSpec,
    note_testid: str,
    remove_testid: str,
) -> rx.Component:
    """Under a password field: which secret is saved (its last four characters at most), in red
    when it can no longer be decrypted, and a button that removes it."""
    return rx.hstack(
        rx.text(
            note,
            size="1",
            color_scheme=rx.cond(unreadable, "red", "gray"),
            data_testid=note_testid,
        ),
        rx.cond(
            saved,
            rx.button(
                remove_label,
                type="button",
                size="1",
                variant="ghost",
                color_scheme="red",
                on_click=on_remove,
                data_testid=remove_testid,
            ),
        ),
        spacing="3",
        align="center",
        wrap="wrap",
    )


def result_callout(message: rx.Var, ok: rx.Var, testid: str) -> rx.Component:
    """The outcome of an action the merchant started: green when it worked, red when not."""
    return rx.cond(
        message != "",
        rx.cond(
            ok,
            rx.callout(
                message, icon="circle-check", color_scheme="grass", width="100%", data_testid=testid
            ),
            rx.callout(
                message, icon="triangle-alert", color_scheme="red", width="100%", data_testid=testid
            ),
        ),
    )


def when_loaded(loaded: rx.Var, content: rx.Component) -> rx.Component:
    """A page's content once its `load` handler ran on this visit; a spinner until then.

    `loaded` alone stays true from an earlier visit (state outlives a reload), and the load runs
    off the event loop, so a button pressed on the stale page could race it. Reflex's
    `is_hydrated` turns true only after this visit's on_load handlers finished.
    """
    ready = rx.State.is_hydrated & loaded
    return rx.cond(ready, content, rx.center(rx.spinner(), padding="48px"))


def rejection_codes(rejections: rx.Var) -> rx.Var:
    """react-dropzone's error codes of rejected files, computed in the browser (no File sent)."""
    return rx.Var(
        f"({rejections!s}).flatMap((rejection) => rejection.errors.map((error) => error.code))",
        _var_type=list[str],
    )
