"""Webhooks against the running production app: the route is mounted, answers fast, and the
queued work is done by the process's webhook processor or, failing that, the embedded worker."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlmodel import Session, select

from services.core.clock import utcnow
from services.core.config import DEMO_SHOP_DOMAIN
from services.core.db import get_engine
from services.core.tables import Order, Product, WebhookEvent
from tests.e2e.app_process import WEBHOOK_SECRET, RunningApp
from tests.e2e.conftest import wait_for
from tests.fakes.shopify import send_webhook

pytestmark = pytest.mark.e2e


def order_payload(email: str) -> dict:
    number = uuid.uuid4().int % 10**12
    now = utcnow().isoformat()
    return {
        "id": number,
        "admin_graphql_api_id": f"gid://shopify/Order/{number}",
        "name": f"#W{number % 10000}",
        "email": email,
        "created_at": now,
        "processed_at": now,
        "updated_at": now,
        "cancelled_at": None,
        "financial_status": "paid",
        "test": False,
        "total_price": "18.95",
        "currency": "USD",
        "customer": {"id": 990000000001, "email": email, "first_name": "Ava"},
        "line_items": [
            {"variant_id": None, "product_id": None, "quantity": 1, "price": "18.95",
             "title": "House Blend Coffee - 12 oz Whole Bean", "sku": None}
        ],
        "note_attributes": [],
    }  # fmt: skip


def test_a_forged_webhook_is_refused_by_the_running_app(running_app: RunningApp) -> None:
    response = send_webhook(
        f"{running_app.base_url}/webhooks/shopify",
        "orders/create",
        order_payload("ava@example.com"),
        secret="not-the-secret",
        shop_domain=DEMO_SHOP_DOMAIN,
    )
    assert response.status_code == 401


def test_an_order_webhook_is_answered_then_stored(running_app: RunningApp) -> None:
    payload = order_payload(running_app.demo.sample_emails["due"])
    started = time.perf_counter()
    response = send_webhook(
        f"{running_app.base_url}/webhooks/shopify",
        "orders/create",
        payload,
        secret=WEBHOOK_SECRET,
        shop_domain=DEMO_SHOP_DOMAIN,
    )
    print(f"webhook answered in {(time.perf_counter() - started) * 1000:.0f} ms")
    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    engine = get_engine(running_app.database_url)

    def stored() -> bool:
        with Session(engine) as session:
            gid = payload["admin_graphql_api_id"]
            return session.exec(select(Order).where(Order.shopify_gid == gid)).first() is not None

    wait_for(stored, 20, "the order from the webhook")


def test_the_embedded_worker_processes_an_event_left_pending(running_app: RunningApp) -> None:
    """As if the web process died after storing the event: the worker's sweep finishes it."""
    engine = get_engine(running_app.database_url)
    gid = f"gid://shopify/Product/{uuid.uuid4().int % 10**12}"
    payload = {
        "id": int(gid.rsplit("/", 1)[1]),
        "admin_graphql_api_id": gid,
        "title": "Left Pending Tea",
        "handle": "left-pending-tea",
        "status": "active",
        "updated_at": utcnow().isoformat(),
        "variants": [{"id": 1234567, "title": "Default Title", "price": "9.00", "sku": "LPT"}],
        "images": [],
    }
    with Session(engine) as session:
        session.add(
            WebhookEvent(
                event_id=f"e2e-{uuid.uuid4()}",
                topic="products/update",
                shop_domain=DEMO_SHOP_DOMAIN,
                payload=json.loads(json.dumps(payload)),
            )
        )
        session.commit()

    def processed() -> bool:
        with Session(engine) as session:
            found = session.exec(select(Product).where(Product.shopify_gid == gid)).first()
            return found is not None

    wait_for(processed, 45, "the worker's webhook sweep (every 30 s)")
