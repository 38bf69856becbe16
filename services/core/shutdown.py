"""A process-wide stop request, so long jobs end at a clean boundary when the process stops.

SIGTERM (the worker, the CLI) or the web app's shutdown sets it; delivery, syncs and imports
read it between units of work (a message, a page, a chunk) and leave the rest for the next run:
what was claimed is released, cursors stay where the last committed page left them. Retry waits
wake up at once instead of sleeping through the stop.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = [
    "Stopping",
    "request_stop",
    "reset_stop",
    "stop_on_signals",
    "stop_requested",
    "wait_unless_stopping",
]

log = logging.getLogger(__name__)
_STOP = threading.Event()


class Stopping(Exception):
    """Work left at a clean boundary because the process is stopping; the next run resumes it."""


def request_stop() -> None:
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def reset_stop() -> None:
    """Forget a stop request (tests that stop and start work in one process)."""
    _STOP.clear()


def wait_unless_stopping(seconds: float) -> None:
    """`time.sleep` that returns early when a stop is requested (retry backoffs)."""
    _STOP.wait(max(0.0, seconds))


@contextmanager
def stop_on_signals(then: Callable[[], None] | None = None) -> Iterator[None]:
    """While inside: SIGTERM and SIGINT request a stop (and call `then`, e.g. a scheduler's
    shutdown); the previous handlers come back after, so a command run in-process (tests) leaves
    its caller's handlers alone.

    A second signal is not swallowed: it raises KeyboardInterrupt, so an operator can still
    interrupt a stop that takes too long.
    """

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop_requested():
            raise KeyboardInterrupt
        log.info(
            "stop requested (%s): finishing the current unit of work", signal.strsignal(signum)
        )
        request_stop()
        if then is not None:
            then()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
