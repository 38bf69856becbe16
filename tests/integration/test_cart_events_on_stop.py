"""The web process's shutdown writes the shoppers' queued cart events (its lifespan task)."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import Session, select

from repeatcart_app import background
from repeatcart_app.repeatcart_app import app
from services.cart.event_queue import CartEventQueue, PendingCartEvent
from services.core.db import get_engine
from services.core.tables import CartEvent
from tests.integration.test_cart_event_queue import a_link


def test_the_app_writes_queued_cart_events_when_it_stops(
    app_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert background.cart_events_saved_on_stop in app.get_lifespan_tasks()
    queue = CartEventQueue(flush_seconds=3600)  # only the stop writes
    monkeypatch.setattr(background, "cart_events", queue)
    link_id, customer_id = a_link(app_database)

    async def serve_then_stop() -> None:
        async with background.cart_events_saved_on_stop():
            for quantity in (2, 3):
                queue.put(PendingCartEvent(link_id, customer_id, "quantity", "email", 5, quantity))

    asyncio.run(serve_then_stop())

    with Session(get_engine(app_database)) as session:
        assert [row.quantity for row in session.exec(select(CartEvent))] == [2, 3]
