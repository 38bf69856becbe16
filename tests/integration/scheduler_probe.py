"""One process of `test_scheduler_once`: the scheduler as a web worker runs it (the embedded
worker's lifespan task) or as `repeatcart worker`, with probe jobs in place of the real ones.

    python -m tests.integration.scheduler_probe embedded|worker

Each probe run appends `job pid time` to the file named by PROBE_LOG (one small O_APPEND write,
so lines of several processes never mix). PROBE_TTL_SECONDS shortens the scheduler lease, so a
takeover happens within the test. SIGTERM stops the process, as the servers do.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import timedelta

from apscheduler.triggers.interval import IntervalTrigger

from services import worker
from services.core.config import Settings
from services.core.logs import configure_logging

TICK_SECONDS = 1.0
PROBE_JOBS = ("probe-a", "probe-b")


def _probe(name: str) -> Callable[[Settings], str]:
    def run(_settings: Settings) -> str:
        line = f"{name} {os.getpid()} {time.time():.3f}\n".encode()
        descriptor = os.open(os.environ["PROBE_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
        return "probed"

    return run


async def _as_web_worker() -> None:
    from repeatcart_app.background import embedded_worker

    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    async with embedded_worker():
        await stopping.wait()


def main(mode: str) -> None:
    configure_logging()
    worker.JOBS = tuple(
        worker.Job(name, _probe(name), lambda _s: IntervalTrigger(seconds=TICK_SECONDS))
        for name in PROBE_JOBS
    )
    worker.SCHEDULER_LEASE_TTL = timedelta(seconds=float(os.environ["PROBE_TTL_SECONDS"]))
    if mode == "embedded":
        asyncio.run(_as_web_worker())
    else:
        worker.run_worker()


if __name__ == "__main__":
    main(sys.argv[1])
