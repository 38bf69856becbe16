"""Shopper actions kept in memory and written to the database in batches.

Why: a campaign's shoppers press Increase quantity hundreds of times a second; one INSERT and one
commit per press queue every shopper behind the database (and, on SQLite, behind its one
writer). Their analytics row is not needed by the press itself, so a press only appends to this
queue, and a flusher thread writes what has gathered once a second (or sooner, when a batch
fills) in one transaction.

Nothing is lost on a clean stop: the web process's shutdown calls `stop`, which writes what is
left. A batch the database refuses is kept and tried again; a row that cannot be written at all
(its cart link deleted meanwhile, say) is logged and dropped on its own, never with the rest of
its batch. The queue is bounded, so a database that stays down costs memory only up to a limit.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from services.cart.events import CartEventKind
from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import CartEvent

__all__ = ["CartEventQueue", "PendingCartEvent", "cart_events"]

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
BATCH_ROWS = 500
MAX_PENDING = 100_000


@dataclass(frozen=True, slots=True)
class PendingCartEvent:
    """One shopper action, with the moment it happened (not the moment it is written)."""

    cart_link_id: int | None  # None (and no customer) on a featured link's cart
    customer_id: int | None
    kind: CartEventKind
    channel: str
    variant_id: int | None = None
    quantity: int | None = None
    value_cents: int | None = None
    currency: str | None = None
    moment: str | None = None
    at: datetime = field(default_factory=utcnow)
    featured_visit: str | None = None  # a featured link's cart: its session key


def write_cart_events(events: Sequence[PendingCartEvent]) -> None:
    """Write a batch in one transaction (one multi-row insert, no ORM objects); on an
    integrity error, each row on its own."""
    try:
        with get_engine().begin() as connection:
            connection.execute(_INSERT, [_row(event) for event in events])
    except IntegrityError:
        for event in events:
            try:
                with get_engine().begin() as connection:
                    connection.execute(_INSERT, [_row(event)])
            except IntegrityError:
                log.warning("cart event dropped: %r can no longer be stored", event)


_INSERT = insert(CartEvent)


def _row(event: PendingCartEvent) -> dict[str, object]:
    return {
        "cart_link_id": event.cart_link_id,
        "customer_id": event.customer_id,
        "kind": event.kind,
        "channel": event.channel,
        "featured_visit": event.featured_visit,
        "variant_id": event.variant_id,
        "quantity": event.quantity,
        "value_cents": event.value_cents,
        "currency": event.currency,
        "moment": event.moment,
        "occurred_at": event.at,
    }


class CartEventQueue:
    """A process-wide buffer of cart events with one flusher thread, started on first use."""

    def __init__(
        self,
        write: Callable[[Sequence[PendingCartEvent]], None] = write_cart_events,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        batch_rows: int = BATCH_ROWS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._write = write
        self._flush_seconds = flush_seconds
        self._batch_rows = batch_rows
        self._pending: deque[PendingCartEvent] = deque()
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one batch in flight, so rows keep their order
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def put(self, event: PendingCartEvent) -> None:
        """Queue one event; never touches the database, never waits for it."""
        with self._lock:
            if len(self._pending) >= self._max_pending:
                self._pending.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.error(
                        "cart events dropped: %d (the database is not taking them)", self.dropped
                    )
            self._pending.append(event)
            full = len(self._pending) >= self._batch_rows
            if self._thread is None and not self._stopping.is_set():
                self._start()
        if full:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write everything queued so far (blocking); returns the rows written.

        A batch the database refuses goes back to the front of the queue for the next try.
        """
        written = 0
        with self._write_lock:
            while True:
                with self._lock:
                    batch = [
                        self._pending.popleft()
                        for _ in range(min(self._batch_rows, len(self._pending)))
                    ]
                if not batch:
                    return written
                try:
                    self._write(batch)
                except Exception:
                    with self._lock:
                        self._pending.extendleft(reversed(batch))
                    raise
                written += len(batch)

    def stop(self) -> None:
        """Stop the flusher and write what is left (the web process's shutdown).

        It writes here, in the caller's thread, rather than waiting for the flusher: a flush in
        flight finishes first (the write lock), then the rest goes in this one.
        """
        self._stopping.set()
        self._wake.set()
        try:
            written = self.flush()
        except Exception:
            log.exception("cart events could not be written at shutdown: %d lost", self.pending())
        else:
            if written:
                log.info("wrote %d queued cart events on stop", written)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cart-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception(
                    "cart events not written yet; %d kept for the next try", self.pending()
                )


cart_events = CartEventQueue()
"""The web process's queue: cart handlers put, its lifespan stops it."""
atexit.register(cart_events.stop)  # a process that ends without the lifespan (the CLI, tests)
