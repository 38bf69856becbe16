"""The background jobs inside the web process, for the one-command demo
(`REPEATCART_EMBEDDED_WORKER=1`). Reflex runs this lifespan task in every web worker; only the
one holding the scheduler lease schedules, the others stand by to take over, and each job takes
its own lease, so a separate `repeatcart worker` beside them changes nothing either."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from services.cart.event_queue import cart_events
from services.core.config import get_settings
from services.core.shutdown import request_stop
from services.worker import schedule_while_leader

log = logging.getLogger(__name__)
STOP_WAIT_SECONDS = 5
"""The scheduler thread wakes at once on stop and waits for a running job to reach its next
boundary (a delivery hands back the rows it claimed); this bounds a call still in flight."""


@contextlib.asynccontextmanager
async def embedded_worker() -> AsyncIterator[None]:
    settings = get_settings()
    if not settings.embedded_worker:
        yield
        return
    stop = threading.Event()
    scheduling = threading.Thread(
        target=schedule_while_leader,
        args=(settings, stop),
        name="embedded-scheduler",
        daemon=True,  # never holds the process up; the job leases cover a job cut short
    )
    scheduling.start()
    log.info("embedded worker started")
    try:
        yield
    finally:
        request_stop()  # a running job ends at its next boundary instead of holding shutdown
        stop.set()
        await asyncio.to_thread(scheduling.join, STOP_WAIT_SECONDS)


@contextlib.asynccontextmanager
async def cart_events_saved_on_stop() -> AsyncIterator[None]:
    """Shoppers' queued cart events are written when the web process stops, not lost with it."""
    try:
        yield
    finally:
        # called in place, not in a thread: the loop serves no one any more, and a shutdown
        # that cancels this task must not leave the write behind in a thread it stops waiting for
        cart_events.stop()
