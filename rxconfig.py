"""Reflex configuration: the app name, ports and database come from RepeatCart's settings."""

import reflex as rx

from services.core.config import get_settings

settings = get_settings()

config = rx.Config(
    app_name="repeatcart_app",
    db_url=settings.database_url,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    # behind N reverse proxies the client is the N-th address from the end of X-Forwarded-For;
    # with 0 the header is ignored (anyone could write it), which sign-in throttling relies on
    trusted_proxy_hops=settings.trusted_proxy_hops,
    plugins=[
        rx.plugins.SitemapPlugin(),
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="light", accent_color="grass", radius="large")
        ),
    ],
)
