"""Shopper actions are queued in memory and written in batches, losing nothing on a clean stop."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from services.cart.event_queue import CartEventQueue, PendingCartEvent, write_cart_events
from services.cart.links import get_or_create_link
from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import CartEvent, Customer


def a_link(url: str, email: str = "ava@example.com") -> tuple[int, int]:
    with Session(get_engine(url)) as session:
        customer = Customer(email=email)
        session.add(customer)
        session.flush()
        assert customer.id is not None
        link = get_or_create_link(session, customer.id)
        session.commit()
        assert link.id is not None
        return link.id, customer.id


def stored(url: str) -> list[CartEvent]:
    with Session(get_engine(url)) as session:
        return list(session.exec(select(CartEvent).order_by(col(CartEvent.id))))


def event(link_id: int, customer_id: int, quantity: int, **kw: object) -> PendingCartEvent:
    return PendingCartEvent(link_id, customer_id, "quantity", "sms", 7, quantity, **kw)  # type: ignore[arg-type]


def a_queue(**kw: object) -> CartEventQueue:
    """A queue whose flusher waits far longer than any test: only the test flushes it."""
    return CartEventQueue(flush_seconds=3600, **kw)  # type: ignore[arg-type]


def test_put_writes_nothing_until_a_flush_which_writes_every_row_in_order(
    app_database: str,
) -> None:
    link_id, customer_id = a_link(app_database)
    queue = a_queue()
    started = utcnow() - timedelta(minutes=5)
    for quantity in range(1, 8):
        queue.put(event(link_id, customer_id, quantity, at=started + timedelta(seconds=quantity)))
    assert stored(app_database) == []
    assert queue.pending() == 7

    assert queue.flush() == 7

    rows = stored(app_database)
    assert [row.quantity for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0].occurred_at == started + timedelta(seconds=1), (
        "the press's time, not the write's"
    )
    assert {(row.kind, row.channel, row.variant_id) for row in rows} == {("quantity", "sms", 7)}
    assert queue.pending() == 0
    queue.stop()


def test_a_full_batch_wakes_the_flusher_without_waiting_for_its_interval(
    app_database: str,
) -> None:
    link_id, customer_id = a_link(app_database)
    written = threading.Event()

    def write(batch: Sequence[PendingCartEvent]) -> None:
        write_cart_events(batch)
        written.set()

    queue = CartEventQueue(write, flush_seconds=3600, batch_rows=3)
    for quantity in (1, 2, 3):
        queue.put(event(link_id, customer_id, quantity))
    assert written.wait(10), "three rows fill a batch: the flusher writes them at once"
    queue.stop()
    assert [row.quantity for row in stored(app_database)] == [1, 2, 3]


def test_stop_writes_what_is_left(app_database: str) -> None:
    link_id, customer_id = a_link(app_database)
    queue = CartEventQueue(flush_seconds=0.05)
    for quantity in range(1, 1201):
        queue.put(event(link_id, customer_id, quantity % 99 + 1))
    queue.stop()
    assert len(stored(app_database)) == 1200
    assert queue.pending() == 0


def test_a_refused_batch_is_kept_and_written_on_the_next_flush(app_database: str) -> None:
    link_id, customer_id = a_link(app_database)
    failures = [RuntimeError("database is locked")]

    def flaky(batch: Sequence[PendingCartEvent]) -> None:
        if failures:
            raise failures.pop()
        write_cart_events(batch)

    queue = CartEventQueue(flaky, flush_seconds=3600)
    for quantity in (1, 2, 3):
        queue.put(event(link_id, customer_id, quantity))
    with pytest.raises(RuntimeError):
        queue.flush()
    assert queue.pending() == 3 and stored(app_database) == []

    assert queue.flush() == 3
    assert [row.quantity for row in stored(app_database)] == [1, 2, 3], "order kept across a retry"
    queue.stop()


def test_a_row_that_can_no_longer_be_stored_is_dropped_alone(
    app_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    link_id, customer_id = a_link(app_database)
    queue = a_queue()
    queue.put(event(link_id, customer_id, 1))
    queue.put(event(link_id + 1000, customer_id, 2))  # its link is gone (a privacy redaction)
    queue.put(event(link_id, customer_id, 3))

    assert queue.flush() == 3

    assert [row.quantity for row in stored(app_database)] == [1, 3]
    assert "cart event dropped" in caplog.text
    queue.stop()


def test_a_database_that_stays_down_costs_bounded_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def down(_batch: Sequence[PendingCartEvent]) -> None:
        raise RuntimeError("connection refused")

    queue = CartEventQueue(down, flush_seconds=3600, max_pending=5)
    for quantity in range(1, 9):
        queue.put(event(1, 1, quantity))
    assert queue.pending() == 5
    assert queue.dropped == 3
    assert "cart events dropped" in caplog.text
    queue.stop()  # logs what it could not write instead of raising
    assert "could not be written at shutdown" in caplog.text
