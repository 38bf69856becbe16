"""Reflex configuration: the app name, ports, database, state store and worker count come from
RepeatCart's settings."""

import functools
import os
from typing import Any

import reflex as rx
from granian.constants import RuntimeModes
from granian.server import Server
from reflex.constants import StateManagerMode

from services.core.config import get_settings

settings = get_settings()

# Reflex's production server (granian) takes its process count from GRANIAN_WORKERS; left unset,
# Reflex starts 2 × cores + 1 of them whenever a Redis URL is set. Without Redis it runs one, and
# settings refuse more: each process would hold its own copy of the shoppers' state.
if settings.secret("redis_url"):
    os.environ["GRANIAN_WORKERS"] = str(settings.web_workers)


def _single_threaded_granian_runtime() -> None:
    """Granian gives an ASGI app its multi-threaded Rust runtime, and on stop that runtime can
    panic while dropping an open websocket's Python objects (granian issues 799 and 884). The
    panic kills the worker before its shutdown hooks run, losing the shoppers' queued cart events
    and the delivery's hand-back of its claimed rows. The single-threaded runtime does not panic,
    and a worker runs one Python event loop, which more Rust threads do not speed up. Reflex does
    not pass the option through, so it becomes granian's default here."""
    original = Server.__init__
    if getattr(original, "repeatcart_runtime", False):
        return  # rxconfig imported again

    @functools.wraps(original)
    def init(
        self: Any, *args: Any, runtime_mode: RuntimeModes = RuntimeModes.st, **kwargs: Any
    ) -> None:
        original(self, *args, runtime_mode=runtime_mode, **kwargs)  # type: ignore[misc]

    init.repeatcart_runtime = True  # type: ignore[attr-defined]
    Server.__init__ = init  # type: ignore[method-assign]


_single_threaded_granian_runtime()

# Without Redis, shoppers' state stays in the one process's memory. Reflex's default keeps it in
# files instead: it pickles every changed state to disk and, every couple of seconds, lists and
# stats every file left there (one per shopper of the past hour), which cost a fifth of the
# server's time under a campaign's load. Nothing is lost by not keeping them: a page that
# reconnects after a restart runs its on_load again and reads the cart from the database.
redis_url = settings.secret("redis_url") or None
uses_redis = bool(redis_url or os.environ.get("REFLEX_REDIS_URL"))  # Reflex's own name, too
state_store = StateManagerMode.REDIS if uses_redis else StateManagerMode.MEMORY

config = rx.Config(
    app_name="repeatcart_app",
    db_url=settings.database_url,
    # set: shopper state lives in Redis (what REFLEX_REDIS_URL would set), shared by the workers
    redis_url=redis_url,
    state_manager_mode=state_store,
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
