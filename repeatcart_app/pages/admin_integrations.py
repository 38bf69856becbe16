"""`/admin/integrations`: Klaviyo, Postscript and Attentive keys, on/off, a test event, and the
delivery log with failures and Retry."""

from __future__ import annotations

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.admin_frame import admin_page
from repeatcart_app.components.admin_integrations_log import delivery_log_section
from repeatcart_app.components.admin_parts import TONES, secret_note, status_badge, when_loaded
from repeatcart_app.state.admin_integrations import AdminIntegrationsState as State
from repeatcart_app.state.admin_integrations import moment_switch
from services.core.moments import MOMENT_LABELS, MOMENTS
from services.settings.integrations import INTEGRATIONS, KEY_HELP, LABELS, RECIPIENT_KIND


def _badge(name: str) -> rx.Component:
    return status_badge(State.status_color[name], State.status_label[name], TONES, size="2")


def _feedback(message: rx.Var, ok: rx.Var, testid: str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.cond(
            ok,
            rx.text(message, size="2", color_scheme="grass", role="status", data_testid=testid),
            rx.text(message, size="2", color_scheme="red", role="alert", data_testid=testid),
        ),
    )


def _key_form(name: str) -> rx.Component:
    field_id = f"{name}-api-key"
    return rx.form(
        rx.vstack(
            rx.el.label(rx.text("API key", size="2", weight="medium"), html_for=field_id),
            rx.flex(
                rx.input(
                    id=field_id,
                    name="api_key",
                    type="password",
                    placeholder="Blank keeps the saved key",
                    auto_complete="new-password",
                    spell_check=False,
                    size="3",
                    flex="1 1 auto",
                    width="100%",
                    min_width="0",
                    data_testid=f"{name}-key-input",
                ),
                rx.button("Save key", type="submit", size="3", data_testid=f"{name}-save-key"),
                spacing="2",
                width="100%",
                direction=rx.breakpoints(initial="column", sm="row"),
            ),
            secret_note(
                State.key_note[name],
                unreadable=State.key_unreadable[name],
                saved=State.key_saved[name],
                remove_label="Remove key",
                on_remove=State.remove_key(name),
                note_testid=f"{name}-key-note",
                remove_testid=f"{name}-remove-key",
            ),
            _feedback(State.key_message[name], State.key_ok[name], f"{name}-key-message"),
            spacing="2",
            width="100%",
        ),
        on_submit=lambda form_data: State.save_key(name, form_data),
        key=State.form_key,
        width="100%",
    )


def _test_form(name: str) -> rx.Component:
    field_id = f"{name}-recipient"
    email = RECIPIENT_KIND[name] == "email"
    return rx.form(
        rx.vstack(
            rx.el.label(
                rx.text(
                    "Send a test event to " + ("this email" if email else "this mobile number"),
                    size="2",
                    weight="medium",
                ),
                html_for=field_id,
            ),
            rx.flex(
                rx.input(
                    id=field_id,
                    name="recipient",
                    type="email" if email else "tel",
                    placeholder="you@your-shop.com" if email else "+1 415 555 2671",
                    size="3",
                    flex="1 1 auto",
                    width="100%",
                    min_width="0",
                    data_testid=f"{name}-recipient",
                ),
                rx.button(
                    rx.cond(State.testing[name], rx.spinner(size="2"), rx.icon("send", size=16)),
                    "Send test event",
                    type="submit",
                    variant="soft",
                    size="3",
                    disabled=State.testing[name],
                    data_testid=f"{name}-send-test",
                ),
                spacing="2",
                width="100%",
                direction=rx.breakpoints(initial="column", sm="row"),
            ),
            _feedback(State.test_message[name], State.test_ok[name], f"{name}-test-result"),
            spacing="2",
            width="100%",
        ),
        on_submit=lambda form_data: State.send_test(name, form_data),
        # the browser checks nothing: a bad address gets the server's clear message
        no_validate=True,
        width="100%",
    )


def _moment_switch(name: str, kind: str) -> rx.Component:
    on = State.moment_on[moment_switch(name, kind)]
    due_on = State.moment_on[moment_switch(name, "due")]
    # Late follows a sent Due event: with Due off there is none to follow
    checked, disabled = (on & due_on, ~due_on) if kind == "late" else (on, False)
    return rx.el.label(
        rx.hstack(
            rx.switch(
                checked=checked,
                disabled=disabled,
                on_change=lambda value: State.toggle_moment(name, kind, value),
                data_testid=f"{name}-moment-{kind}",
            ),
            rx.text(MOMENT_LABELS[kind], size="2"),
            spacing="2",
            align="center",
        ),
    )


def _moments(name: str) -> rx.Component:
    return rx.vstack(
        rx.text("Moments sent", size="2", weight="medium"),
        rx.flex(
            *(_moment_switch(name, kind) for kind in MOMENTS),
            direction=rx.breakpoints(initial="column", sm="row"),
            spacing=rx.breakpoints(initial="2", sm="5"),
            wrap="wrap",
        ),
        rx.cond(
            ~State.moment_on[moment_switch(name, "due")],
            rx.text(
                "Late Due To Replenish follows a sent Due To Replenish event, so it is off too.",
                size="1",
                color_scheme="gray",
            ),
        ),
        spacing="2",
        width="100%",
        data_testid=f"{name}-moments",
    )


def _integration_card(name: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(LABELS[name], size="4", as_="h2"),
                _badge(name),
                rx.spacer(),
                rx.el.label(
                    rx.hstack(
                        rx.text("Enabled", size="2", color_scheme="gray"),
                        rx.switch(
                            checked=State.enabled[name],
                            on_change=lambda on: State.toggle(name, on),
                            data_testid=f"{name}-enabled",
                        ),
                        spacing="2",
                        align="center",
                    ),
                ),
                align="center",
                spacing="3",
                width="100%",
                data_testid=f"{name}-header",
            ),
            rx.text(KEY_HELP[name], size="2", color_scheme="gray"),
            _moments(name),
            rx.cond(
                State.stopped[name] != "",
                rx.callout.root(
                    rx.callout.icon(rx.icon("octagon-alert")),
                    rx.flex(
                        rx.callout.text(
                            "Delivery is stopped: the key was refused ("
                            + State.stopped[name]
                            + "). "
                            f"Save a new key, or fix the key's permissions at {LABELS[name]} "
                            "and try again.",
                        ),
                        rx.button(
                            "Try the key again",
                            size="2",
                            variant="soft",
                            color_scheme="red",
                            on_click=State.resume(name),
                            data_testid=f"{name}-resume",
                        ),
                        direction="column",
                        align="start",
                        spacing="2",
                    ),
                    color_scheme="red",
                    width="100%",
                    data_testid=f"{name}-stopped",
                ),
            ),
            _key_form(name),
            _test_form(name),
            rx.text(State.counts_line[name], size="1", color_scheme="gray"),
            spacing="4",
            width="100%",
        ),
        size=rx.breakpoints(initial="2", sm="3"),
        width="100%",
        data_testid=f"card-{name}",
    )


@admin_page("Integrations", routes.ADMIN_INTEGRATIONS)
def admin_integrations_page() -> rx.Component:
    return when_loaded(
        State.loaded,
        rx.vstack(
            rx.text(
                "Keys are stored encrypted and never shown again; only their last four "
                "characters appear here.",
                size="2",
                color_scheme="gray",
            ),
            *(_integration_card(name) for name in INTEGRATIONS),
            delivery_log_section(),
            spacing="5",
            width="100%",
            data_testid="admin-integrations",
        ),
    )
