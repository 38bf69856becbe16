"""The one frame of every dashboard page: navigation, title, who is signed in, sign out.

`admin_page(title, route)` decorates a page function: the page's content is placed in the
frame and shown only once the session check of `on_load` has named a signed-in user (an
anonymous visitor is redirected without seeing the page). Navigation is a sidebar from 1024 px
up and a menu in the header below that.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import reflex as rx

from repeatcart_app import routes
from repeatcart_app.components.layout import desktop_only, phone_only
from repeatcart_app.state.auth import AuthState

NAVIGATION: tuple[tuple[str, str, str], ...] = (
    ("Overview", routes.ADMIN_HOME, "house"),
    ("Analytics", routes.ADMIN_ANALYTICS, "chart-column"),
    ("Customers", routes.ADMIN_CUSTOMERS, "users"),
    ("Products", routes.ADMIN_PRODUCTS, "package"),
    ("Insights", routes.ADMIN_INSIGHTS, "chart-spline"),
    ("Cart", routes.ADMIN_CART, "shopping-basket"),
    ("Integrations", routes.ADMIN_INTEGRATIONS, "plug"),
    ("Sync", routes.ADMIN_SYNC, "refresh-cw"),
    ("Store", routes.ADMIN_STORE, "store"),
)

SIDEBAR_WIDTH = "240px"


def _nav_link(label: str, route: str, icon: str, active: bool) -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon(icon, size=18), rx.text(label, size="3"), spacing="3", align="center"),
        href=route,
        underline="none",
        color_scheme="gray",
        high_contrast=active,
        weight="medium" if active else "regular",
        padding="8px 12px",
        border_radius="8px",
        background=rx.cond(active, rx.color("gray", 3), "transparent"),
        _hover={"background": rx.color("gray", 3)},
        aria_current="page" if active else None,
        width="100%",
    )


def _brand() -> rx.Component:
    return rx.link(
        rx.heading("RepeatCart", size="4", weight="bold"),
        href=routes.ADMIN_HOME,
        underline="none",
        high_contrast=True,
    )


def _sign_out_button(**props) -> rx.Component:
    return rx.button(
        rx.icon("log-out", size=16),
        "Sign out",
        on_click=AuthState.sign_out,
        variant="soft",
        color_scheme="gray",
        data_testid="sign-out",
        **props,
    )


def _sidebar(active_route: str) -> rx.Component:
    return rx.vstack(
        _brand(),
        rx.vstack(
            *(
                _nav_link(label, route, icon, route == active_route)
                for label, route, icon in NAVIGATION
            ),
            spacing="1",
            width="100%",
            as_="nav",
            aria_label="Dashboard",
        ),
        rx.spacer(),
        rx.vstack(
            rx.text("Signed in as", size="1", color_scheme="gray"),
            rx.text(
                AuthState.current_email,
                size="2",
                weight="medium",
                word_break="break-all",
                data_testid="admin-email",
            ),
            _sign_out_button(width="100%"),
            spacing="2",
            width="100%",
        ),
        spacing="6",
        padding="24px 16px",
        width=SIDEBAR_WIDTH,
        min_width=SIDEBAR_WIDTH,
        height="100dvh",
        position="sticky",
        top="0",
        border_right=f"1px solid {rx.color('gray', 4)}",
        background=rx.color("gray", 2),
        style=desktop_only(),
    )


def _phone_header(active_route: str) -> rx.Component:
    return rx.hstack(
        rx.dropdown_menu.root(
            rx.dropdown_menu.trigger(
                rx.icon_button(
                    rx.icon("menu", size=20),
                    variant="ghost",
                    color_scheme="gray",
                    size="3",
                    aria_label="Menu",
                    data_testid="admin-menu",
                ),
            ),
            rx.dropdown_menu.content(
                rx.box(
                    rx.text("Signed in as", size="1", color_scheme="gray"),
                    rx.text(
                        AuthState.current_email,
                        size="2",
                        weight="medium",
                        data_testid="admin-menu-email",
                    ),
                    padding="6px 12px",
                ),
                rx.dropdown_menu.separator(),
                *(
                    rx.dropdown_menu.item(
                        rx.hstack(rx.icon(icon, size=16), label, spacing="2", align="center"),
                        on_select=rx.redirect(route),
                        disabled=route == active_route,
                        min_height="40px",
                    )
                    for label, route, icon in NAVIGATION
                ),
                rx.dropdown_menu.separator(),
                rx.dropdown_menu.item(
                    rx.hstack(rx.icon("log-out", size=16), "Sign out", spacing="2", align="center"),
                    on_select=AuthState.sign_out,
                    min_height="40px",
                ),
                align="start",
                min_width="240px",
            ),
        ),
        _brand(),
        align="center",
        spacing="3",
        padding="12px 16px",
        width="100%",
        position="sticky",
        top="0",
        z_index="10",
        background=rx.color("gray", 1),
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        style=phone_only(),
    )


def admin_frame(title: str, active_route: str, content: rx.Component) -> rx.Component:
    return rx.cond(
        AuthState.current_email != "",
        rx.flex(
            _sidebar(active_route),
            rx.box(
                _phone_header(active_route),
                rx.box(
                    rx.heading(title, size="6", margin_bottom="20px", as_="h1"),
                    content,
                    padding=rx.breakpoints(initial="20px 16px 32px", md="32px 40px 48px"),
                    max_width="960px",
                    width="100%",
                ),
                flex="1",
                min_width="0",
            ),
            min_height="100dvh",
            data_testid="admin-frame",
        ),
        rx.center(rx.spinner(size="3"), min_height="100dvh", data_testid="admin-checking"),
    )


def admin_page(title: str, route: str) -> Callable[[Callable[[], rx.Component]], Callable]:
    """Put a page function's content in the admin frame (its `on_load` must check the login)."""

    def decorate(page: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        @wraps(page)
        def framed() -> rx.Component:
            return admin_frame(title, route, page())

        return framed

    return decorate
