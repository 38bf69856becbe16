"""SIGTERM stops `repeatcart worker` at a clean boundary: quickly, and with nothing lost or sent
twice. The message in flight is sent and recorded; what it had claimed but not sent goes back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from services.core.clock import utcnow
from services.core.config import PROJECT_ROOT, Settings, get_settings
from services.core.db import get_engine
from services.core.shutdown import Stopping, request_stop, reset_stop
from services.core.tables import Order, OutboxMessage, SyncState
from services.shopify.client import OrderPage, ShopifyClient
from services.sync.store_sync import sync_orders
from tests.clock_shift import subprocess_env
from tests.fakes.shopify import FakeShopify
from tests.integration.dispatch_world import PROVIDERS, Store, World

SHOP = "stop-test.myshopify.com"
DELIVERY_LEASE_SECONDS = 10 * 60  # the worker's delivery job holds its lease this long


def _env(world: World) -> dict[str, str]:  # noqa: F811
    env = {key: value for key, value in os.environ.items() if not key.startswith("REPEATCART_")}
    env.update(world.settings(delivery_seconds=1).environment())
    return subprocess_env(env)


def test_sigterm_stops_the_worker_mid_delivery_and_loses_nothing(world: World) -> None:  # noqa: F811
    now = utcnow()
    customers = 12
    with Session(get_engine(world.url)) as session:
        store = Store(session)
        for n in range(customers):
            person = store.customer(email=f"t{n}@example.com", gid=5000 + n)
            store.due(person, store.product(f"Stop {n}"), now - timedelta(days=30))
    for fake in world.fakes.values():
        fake.delay_next(1000, 0.2)
    env = _env(world)
    worker = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and worker.poll() is None:
        if all(len(world.fakes[name].events) >= 3 for name in PROVIDERS):
            break
        time.sleep(0.01)  # polling the fakes while the worker delivers
    worker.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    _out, err = worker.communicate(timeout=DELIVERY_LEASE_SECONDS / 2)
    took = time.monotonic() - signalled
    print(f"worker stopped {took:.2f} s after SIGTERM")
    assert worker.returncode == 0, err[-3000:]
    assert took < 10, f"the worker took {took:.1f} s to stop"

    for fake in world.fakes.values():
        fake.wait_idle(10)
    rows = world.outbox()
    assert rows, "the due scan queued nothing"
    assert all(row.claimed_by is None for row in rows), "a claim was left behind"
    assert {row.status for row in rows} <= {"sent", "pending"}
    sent_before = sum(1 for row in rows if row.status == "sent")
    assert 0 < sent_before < len(rows), "the stop came mid-delivery"
    for name in PROVIDERS:
        receipts = world.fakes[name].event_receipts
        assert all(count == 1 for count in receipts.values()), f"{name} got a repeat"

    # the next run sends the rest, and still nothing twice
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "dispatch"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with Session(get_engine(world.url)) as session:
        statuses = {row.status for row in session.exec(select(OutboxMessage))}
    assert statuses == {"sent"}
    for name in PROVIDERS:
        receipts = world.fakes[name].event_receipts
        assert len(receipts) == customers
        assert all(count == 1 for count in receipts.values()), f"{name} got a repeat"


def test_a_stop_request_ends_a_sync_at_a_page_and_the_next_run_resumes(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    get_settings.cache_clear()
    settings = Settings(database_url=database_url, shopify_shop=SHOP, shopify_token="shpat_x")
    with FakeShopify(shop=SHOP, token="shpat_x", restore_rate=50_000) as fake:
        fake.generate_orders(300, seed=5, products=fake.generate_products(5, seed=5))
        client = ShopifyClient(SHOP, "shpat_x", "2026-10", fake.base_url)
        pages = client.order_pages

        def stop_after_the_first_page(search: str | None = None) -> Iterator[OrderPage]:
            for number, page in enumerate(pages(search)):
                if number == 1:
                    request_stop()  # SIGTERM arrives while the second page is fetched
                yield page

        client.order_pages = stop_after_the_first_page  # type: ignore[method-assign]
        reset_stop()
        try:
            with pytest.raises(Stopping):
                sync_orders(client, bulk=False, settings=settings)
        finally:
            reset_stop()
        with Session(get_engine(database_url)) as session:
            state = session.exec(select(SyncState).where(SyncState.name == "orders")).one()
            stored = session.exec(select(func.count()).select_from(Order)).one()
        assert 0 < stored < 300 and state.cursor is not None and not state.running
        assert "stopped with the process" in state.last_error
        with ShopifyClient(SHOP, "shpat_x", "2026-10", fake.base_url) as again:
            sync_orders(again, settings=settings)
        with Session(get_engine(database_url)) as session:
            assert session.exec(select(func.count()).select_from(Order)).one() == 300
        client.close()
    get_settings.cache_clear()
