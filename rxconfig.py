"""Reflex configuration: the app name, ports, database, state store and worker count come from
RepeatCart's settings."""

import os

import reflex as rx

from services.core.config import get_settings

settings = get_settings()

# Reflex's production server (granian) takes its process count from GRANIAN_WORKERS; left unset,
# Reflex starts 2 × cores + 1 of them whenever a Redis URL is set. Without Redis it runs one, and
# settings refuse more: each process would hold its own copy of the shoppers' state.
if settings.secret("redis_url"):
    os.environ["GRANIAN_WORKERS"] = str(settings.web_workers)

config = rx.Config(
    app_name="repeatcart_app",
    db_url=settings.database_url,
    # set: shopper state lives in Redis (what REFLEX_REDIS_URL would set), shared by the workers
    redis_url=settings.secret("redis_url") or None,
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
