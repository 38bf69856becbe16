"""The blank comparison app of `benchmarks/load.py`: no database, the cart's route shape."""

import reflex as rx
from reflex.constants import StateManagerMode

config = rx.Config(
    app_name="blank_app",
    # as the cart app runs without Redis: the same Reflex underneath both
    state_manager_mode=StateManagerMode.MEMORY,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.SitemapPlugin(),
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="light", accent_color="grass", radius="large")
        ),
    ],
)
