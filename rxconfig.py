"""Reflex configuration: the app name, ports and database come from RepeatCart's settings."""

import reflex as rx

from services.config import get_settings

settings = get_settings()

config = rx.Config(
    app_name="repeatcart_app",
    db_url=settings.database_url,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.SitemapPlugin(),
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="light", accent_color="grass", radius="large")
        ),
    ],
)
