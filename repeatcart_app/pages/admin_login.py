"""`/admin/login`: the merchant signs in to the dashboard."""

from __future__ import annotations

import reflex as rx

from repeatcart_app.state.auth import LoginState


def _field(label: str, name: str, kind: str, autocomplete: str) -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=name),
        rx.input(
            id=name,
            name=name,
            type=kind,
            auto_complete=autocomplete,
            required=True,
            size="3",
            width="100%",
        ),
        spacing="1",
        width="100%",
    )


def admin_login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("RepeatCart", size="6", as_="h1"),
                    rx.text("Sign in to your dashboard.", size="3", color_scheme="gray"),
                    _field("Email", "email", "email", "username"),
                    _field("Password", "password", "password", "current-password"),
                    rx.cond(
                        LoginState.error != "",
                        rx.callout(
                            LoginState.error,
                            icon="circle-alert",
                            color_scheme="red",
                            role="alert",
                            width="100%",
                            data_testid="login-error",
                        ),
                    ),
                    rx.button(
                        "Sign in",
                        type="submit",
                        size="3",
                        width="100%",
                        disabled=~LoginState.ready,
                        data_testid="sign-in",
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=LoginState.sign_in,
                reset_on_submit=False,
                width="100%",
            ),
            size="4",
            width="100%",
            max_width="400px",
        ),
        rx.cond(LoginState.ready, rx.box(data_testid="login-ready")),
        min_height="100dvh",
        padding="16px",
        background=rx.color("gray", 2),
        direction="column",
    )
