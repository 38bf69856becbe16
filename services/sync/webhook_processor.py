"""One webhook processor per process: a daemon thread that works off the queue when woken.

The HTTP route must answer Shopify within 5 seconds. Starting a background task per accepted
webhook let a burst fill the thread pool with processing runs that competed with each other
and with the answers for the same threads, rows and lock. Instead the route only calls `wake()`:
one thread, started on the first call in each process, processes the queue one event at a time,
off the event loop, and steps aside while webhooks are being received (`answering()`), so a
burst is answered first and processed right after. The worker's periodic sweep still picks up
whatever a crash left, and retries failed events.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from services.core.clock import utcnow
from services.sync.webhook_intake import process_pending_webhooks

__all__ = ["MAX_DEFER", "THREAD_NAME", "WebhookProcessor", "answering", "wake"]

log = logging.getLogger(__name__)

THREAD_NAME = "webhook-processor"
MAX_DEFER = 1.0
"""Seconds the processor waits for answers in progress before it processes one event anyway:
a steady stream of webhooks must not starve the queue."""


class WebhookProcessor:
    """Works off the webhook queue in one daemon thread, each time `wake` is called.

    A wake-up during a pass is not lost: the flag is cleared before each pass, so the thread
    makes another pass for events accepted meanwhile.
    """

    def __init__(self) -> None:
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._answers = threading.Condition()
        self._answering = 0

    def wake(self) -> None:
        """Ask for a pass over the queue; cheap and non-blocking (safe on the event loop)."""
        self._ensure_running()
        self._wanted.set()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the receiving of one webhook: the processor waits until none is in progress."""
        with self._answers:
            self._answering += 1
        try:
            yield
        finally:
            with self._answers:
                self._answering -= 1
                if not self._answering:
                    self._answers.notify_all()

    def _ensure_running(self) -> None:
        with self._lock:
            # a forked web worker inherits the object, not the thread: start its own
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._drain()
            except Exception:  # the queue keeps the events; the next wake or sweep retries
                log.exception("processing queued webhooks failed")

    def _drain(self) -> None:
        while True:
            with self._answers:
                self._answers.wait_for(lambda: not self._answering, timeout=MAX_DEFER)
            summary = process_pending_webhooks(utcnow(), limit=1, new_only=True)
            if not summary.processed and not summary.skipped:
                return


_PROCESSOR = WebhookProcessor()


def wake() -> None:
    """Have this process's one webhook processor work off the queue."""
    _PROCESSOR.wake()


def answering() -> AbstractContextManager[None]:
    """Mark one webhook being received, so processing steps aside meanwhile."""
    return _PROCESSOR.answering()
