"""The background jobs inside the web process, for the one-command demo
(`REPEATCART_EMBEDDED_WORKER=1`). Jobs take database leases, so several web workers (or a
separate `repeatcart worker` beside them) still run each job once at a time."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from services.core.config import get_settings
from services.core.shutdown import request_stop
from services.worker import build_scheduler

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def embedded_worker() -> AsyncIterator[None]:
    settings = get_settings()
    if not settings.embedded_worker:
        yield
        return
    scheduler = build_scheduler(settings, blocking=False)
    scheduler.start()
    log.info("embedded worker started")
    try:
        yield
    finally:
        request_stop()  # a running job ends at its next boundary instead of holding shutdown
        scheduler.shutdown(wait=False)
