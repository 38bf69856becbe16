"""SIGTERM stops the web app, every backend worker, within 10 s, in both modes (state in Redis
with three backend workers; state in memory with one), with shoppers connected and the embedded
worker in the middle of a delivery. The
message in flight is sent once; nothing stays claimed; the shoppers' last presses, still queued
in memory when the signal lands, are written."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session, select

from services.core.clock import utcnow
from services.core.db import get_engine, migrate
from services.core.tables import CartEvent, OutboxMessage
from services.demo import build_demo_store
from tests.e2e.app_process import launch_app
from tests.fakes.klaviyo import FakeKlaviyo

pytestmark = [pytest.mark.e2e, pytest.mark.own_app]

KLAVIYO_KEY = "pk_stop_test"
STOP_LIMIT_SECONDS = 10


@pytest.fixture
def slow_klaviyo() -> Iterator[tuple[FakeKlaviyo, str]]:
    fake = FakeKlaviyo(api_key=KLAVIYO_KEY)
    fake.delay_next(100_000, 1.0)  # a delivery pass takes minutes: SIGTERM lands mid-way
    with fake.serve() as server:
        yield fake, server.url


def group_alive(process: subprocess.Popen) -> list[str]:
    """Processes left in the app's process group (the main one reaped first)."""
    process.poll()
    listed = subprocess.run(
        ["ps", "-o", "pid=,stat=", "-g", str(process.pid)], capture_output=True, text=True
    ).stdout.split("\n")
    return [line for line in listed if line.strip() and "Z" not in line.split()[-1]]


@pytest.mark.parametrize("state", ["redis", "memory"])
def test_sigterm_stops_every_backend_worker_mid_delivery(
    tmp_path: Path, browser: Browser, slow_klaviyo: tuple[FakeKlaviyo, str], state: str
) -> None:
    fake, klaviyo_url = slow_klaviyo
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(database_url)
    with Session(get_engine(database_url), expire_on_commit=False) as session:
        demo = build_demo_store(session, seed=5, customers=150, now=utcnow())
        session.commit()
    scale_out = {
        "REPEATCART_REDIS_URL": f"redis://127.0.0.1:6379/{random.randrange(8, 16)}",
        "REPEATCART_WEB_WORKERS": "3",
    }
    extra = {
        **(scale_out if state == "redis" else {}),
        "REPEATCART_EMBEDDED_WORKER": "1",
        "REPEATCART_DELIVERY_SECONDS": "1",
        "REPEATCART_KLAVIYO_API_KEY": KLAVIYO_KEY,
        "REPEATCART_KLAVIYO_BASE_URL": klaviyo_url,
        "REPEATCART_CHECKOUT_PREVIEW": "1",
    }
    process, base_url = launch_app(tmp_path, database_url, extra)
    try:
        workers = len(group_alive(process))
        if state == "redis":
            assert workers >= 4, "Redis state should run the 3 backend workers asked for"
        pages = [browser.new_page() for _ in range(3)]
        for page, token in zip(pages, demo.sample_tokens.values(), strict=False):
            page.goto(f"{base_url}/cart/{token}")
            expect(
                page.get_by_test_id("cart-sidebar").or_(page.get_by_test_id("expired"))
            ).to_be_attached()
        deadline = time.monotonic() + 120
        while len(fake.events) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the fake until the embedded delivery is under way
        assert len(fake.events) >= 2, "the embedded worker never started delivering"
        pressed = 0
        for page in pages:  # a press each, seen handled; SIGTERM comes before its row is written
            row = page.locator("[data-testid=cart-item][data-selected=true]").first
            if not row.count():
                continue  # an expired sample link
            quantity = row.get_by_test_id("quantity")
            before = int(quantity.inner_text())
            row.get_by_role("button", name=re.compile("^Increase quantity")).click()
            expect(quantity).to_have_text(str(before + 1))
            pressed += 1

        os.kill(process.pid, signal.SIGTERM)
        signalled = time.monotonic()
        while group_alive(process) and time.monotonic() - signalled < 30:
            time.sleep(0.1)
        took = time.monotonic() - signalled
        print(f"{workers} processes stopped {took:.2f} s after SIGTERM")
        assert not group_alive(process), f"still running after {took:.1f} s"
        assert took <= STOP_LIMIT_SECONDS
        for page in pages:
            page.close()
    finally:
        if group_alive(process):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    fake.wait_idle(10)
    with Session(get_engine(database_url)) as session:
        rows = session.exec(select(OutboxMessage)).all()
    assert not [row.id for row in rows if row.claimed_by is not None], "a claim was left behind"
    sent = [row for row in rows if row.status == "sent"]
    assert 0 < len(sent) < len(rows), "the stop should come mid-delivery"
    assert all(count == 1 for count in fake.event_receipts.values()), "an event was sent twice"
    with Session(get_engine(database_url)) as session:
        kinds = [event.kind for event in session.exec(select(CartEvent))]
    assert pressed >= 1, "no sample cart had a selected line to press"
    assert kinds.count("quantity") == pressed, "a press queued before SIGTERM was lost"
