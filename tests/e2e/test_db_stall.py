"""One shopper's handler stuck on the database for 2 s holds up no other shopper: while a
"Remind me later" waits on a locked table, another tab's quantity presses answer within 100 ms.

The database really is stalled: this test takes the write lock (SQLite) or locks the snooze
table (PostgreSQL) from its own connection, and lets go after 2 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from services.core.db import get_engine
from tests.e2e.conftest import RunningApp
from tests.e2e.raw_events import CartTab

pytestmark = pytest.mark.e2e

STALL_SECONDS = 2.0
PRESS_LIMIT_MS = 100


@contextmanager
def database_stalled(database_url: str) -> Iterator[None]:
    """Hold a lock that makes any snooze write wait, until the block ends."""
    engine = get_engine(database_url)
    with engine.connect() as connection:
        if database_url.startswith("sqlite"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's one writer is this test
        else:
            connection.begin()
            connection.execute(text("LOCK TABLE snooze IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            connection.rollback()


def test_a_stalled_database_delays_no_other_shopper(
    running_app: RunningApp,
    customer_id: int,  # the fixture clears the snooze this test makes
) -> None:
    token = running_app.demo.sample_tokens["due"]
    stuck = CartTab(running_app.base_url, token)
    other = CartTab(running_app.base_url, token)
    try:
        key = next(iter(other.view["quantities"]))
        presses: list[float] = []
        with database_stalled(running_app.database_url):
            locked = time.monotonic()
            stuck.send("snooze_cart", weeks=1)
            for _ in range(5):
                expected = other.view["quantities"][key] + 1
                started = time.monotonic()
                other.send("increase", key=key)
                other.wait(lambda view, expected=expected: view["quantities"][key] == expected)
                presses.append((time.monotonic() - started) * 1000)
            assert stuck.view.get("cart_snoozed_until", "") == "", "the snooze cannot be saved yet"
            time.sleep(max(0.0, STALL_SECONDS - (time.monotonic() - locked)))  # the stall's length
        stuck.wait(lambda view: view.get("cart_snoozed_until"), timeout=30)
        waited = time.monotonic() - locked
    finally:
        stuck.close()
        other.close()

    print(f"snooze answered after {waited:.2f} s; presses meanwhile, ms: {presses}")
    assert waited >= STALL_SECONDS, "the stalled shopper's snooze should wait for the lock"
    assert max(presses) < PRESS_LIMIT_MS
