"""Shopify webhooks through the real HTTP route, on SQLite and PostgreSQL.

The Starlette app of `repeatcart_app/api.py` imports no Reflex, so it is served as it is by
`FakeServer` (uvicorn on 127.0.0.1): signatures, raw bodies, status codes and the background
task that processes an accepted event all run as in production.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from repeatcart_app.api import MAX_WEBHOOK_BYTES, api
from repeatcart_app.routes import SHOPIFY_WEBHOOKS
from services.analytics import record_cart_event
from services.cart_view import load_cart
from services.carts import get_or_create_link
from services.config import get_settings
from services.db import get_engine, session_scope
from services.models import (
    CartEvent,
    CartLink,
    Customer,
    DueItem,
    IntervalStat,
    JobLease,
    Order,
    OrderLine,
    OutboxMessage,
    PrivacyExport,
    Product,
    Shop,
    Snooze,
    SyncState,
    Variant,
    WebhookEvent,
    YmalItem,
)
from services.shopify.webhooks import sign
from services.webhooks import (
    MAX_ATTEMPTS,
    privacy_export_json,
    process_pending_webhooks,
    receive_webhook,
)
from tests.fakes.server import FakeServer

SHOP = "tiny-store.myshopify.com"
SECRET = "shpss_webhook_secret"
NOW = datetime(2025, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(api) as running:
        yield running


@pytest.fixture
def env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    monkeypatch.setenv("REPEATCART_SHOPIFY_SHOP", SHOP)
    monkeypatch.setenv("REPEATCART_SHOPIFY_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


@pytest.fixture
def client(server: FakeServer, env: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
    wait_until_processed(env)  # no background task may outlive its test's database


@pytest.fixture
def db(env: str) -> Iterator[Session]:
    with Session(get_engine(env), expire_on_commit=False) as session:
        yield session


# --- helpers -------------------------------------------------------------------------------


def post(
    client: httpx.Client,
    topic: str,
    payload: object,
    *,
    event_id: str | None = "evt-1",
    shop: str = SHOP,
    secret: str = SECRET,
    body: bytes | None = None,
    signature: str | None = None,
) -> httpx.Response:
    raw = body if body is not None else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-Triggered-At": "2025-12-01T12:00:00Z",
        "X-Shopify-Hmac-Sha256": signature if signature is not None else sign(secret, raw),
    }
    if signature == "":
        del headers["X-Shopify-Hmac-Sha256"]
    if event_id is not None:
        headers["X-Shopify-Event-Id"] = event_id
    started = time.perf_counter()
    response = client.post(SHOPIFY_WEBHOOKS, content=raw, headers=headers)
    print(
        f"POST {topic} -> {response.status_code} in {(time.perf_counter() - started) * 1000:.1f} ms"
    )
    return response


def wait_until_processed(url: str, timeout: float = 20) -> None:
    """Until no event is pending or being processed (the route's background task ran)."""
    deadline = time.monotonic() + timeout
    with Session(get_engine(url)) as session:
        while True:
            busy = session.exec(
                select(func.count())
                .select_from(WebhookEvent)
                .where(WebhookEvent.status.in_(["pending", "processing"]))  # type: ignore[attr-defined]
            ).one()
            session.rollback()
            if not busy:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{busy} webhook events still unprocessed")
            time.sleep(0.02)


def count(session: Session, model: type[SQLModel]) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def events(session: Session) -> list[WebhookEvent]:
    session.expire_all()
    return list(session.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


def order_payload(number: int, day: datetime, **changes: object) -> dict:
    payload = {
        "id": number,
        "admin_graphql_api_id": f"gid://shopify/Order/{number}",
        "name": f"#{number}",
        "email": "ava@example.com",
        "phone": None,
        "created_at": day.isoformat(),
        "processed_at": day.isoformat(),
        "updated_at": day.isoformat(),
        "cancelled_at": None,
        "financial_status": "paid",
        "test": False,
        "total_price": "25.00",
        "currency": "USD",
        "note_attributes": [{"name": "gift_message", "value": "Happy birthday Ava, 12 Elm St"}],
        "customer": {
            "id": 501,
            "email": "ava@example.com",
            "phone": "+15550001111",
            "first_name": "Ava",
        },
        "line_items": [
            {
                "variant_id": 11,
                "product_id": 1,
                "quantity": 2,
                "price": "12.50",
                "title": "Coffee",
                "name": "Coffee - 1kg",
                "sku": "COF-1KG",
            },
        ],
    }
    payload.update(changes)
    return payload


def product_payload(number: int, **changes: object) -> dict:
    payload = {
        "id": number,
        "admin_graphql_api_id": f"gid://shopify/Product/{number}",
        "title": f"Product {number}",
        "handle": f"product-{number}",
        "status": "active",
        "updated_at": "2025-09-01T00:00:00Z",
        "images": [{"src": f"https://cdn.example/{number}.png"}],
        "variants": [
            {
                "id": number * 10 + 1,
                "title": "1kg",
                "sku": f"SKU-{number}",
                "price": "12.50",
                "inventory_quantity": 5,
                "inventory_policy": "deny",
                "inventory_management": "shopify",
            },
        ],
    }
    payload.update(changes)
    return payload


def seed_customer(client: httpx.Client, env: str) -> dict[str, object]:
    """Coffee in the catalog, two orders by Ava, her cart link and a cart event."""
    coffee = product_payload(
        1,
        variants=[
            {"id": 11, "title": "1kg", "sku": "COF-1KG", "price": "12.50", "inventory_quantity": 9}
        ],
        title="Coffee",
    )
    assert post(client, "products/update", coffee, event_id="p-1").status_code == 200
    wait_until_processed(env)  # a line whose product is unknown would get a placeholder
    first = order_payload(1001, datetime(2025, 9, 1, tzinfo=UTC))
    second = order_payload(1002, datetime(2025, 10, 1, tzinfo=UTC))
    assert post(client, "orders/create", first, event_id="o-1001").status_code == 200
    assert post(client, "orders/create", second, event_id="o-1002").status_code == 200
    wait_until_processed(env)
    with session_scope() as session:
        customer = session.exec(select(Customer)).one()
        link = get_or_create_link(session, customer.id)  # type: ignore[arg-type]
        record_cart_event(
            session,
            cart_link_id=link.id,
            customer_id=customer.id,  # type: ignore[arg-type]
            kind="view",
            channel="klaviyo",
            at=NOW,
        )
        return {"customer_id": customer.id, "token": link.token, "second": second}


# --- receiving -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["missing", "wrong-secret", "replayed-signature", "tampered", "empty-secret"]
)
def test_bad_signatures_get_401_and_nothing_is_stored(client, db, kind, monkeypatch, caplog):
    payload = order_payload(1001, datetime(2025, 9, 1, tzinfo=UTC))
    raw = json.dumps(payload).encode()
    other = json.dumps(order_payload(1002, datetime(2025, 9, 2, tzinfo=UTC))).encode()
    signature = {
        "missing": "",
        "wrong-secret": sign("not-the-secret", raw),
        "replayed-signature": sign(SECRET, other),  # a real signature, of another body
        "tampered": sign(SECRET, raw),
        "empty-secret": sign("", raw),
    }[kind]
    body = raw.replace(b"25.00", b"0.01") if kind == "tampered" else raw
    if kind == "empty-secret":
        monkeypatch.setenv("REPEATCART_SHOPIFY_WEBHOOK_SECRET", "")
        get_settings.cache_clear()
    with caplog.at_level(logging.DEBUG):
        response = post(client, "orders/create", None, body=body, signature=signature)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}
    assert count(db, WebhookEvent) == 0
    assert count(db, Order) == 0
    logged = [r.getMessage() for r in caplog.records if r.name == "services.webhooks"]
    assert len(logged) == 1 and "webhook refused" in logged[0]
    assert "ava@example.com" not in caplog.text  # the unverified body is never logged


def test_a_replayed_event_is_stored_and_applied_once(client, db, env):
    payload = order_payload(1001, datetime(2025, 9, 1, tzinfo=UTC))
    first = post(client, "orders/create", payload, event_id="evt-42")
    assert (first.status_code, first.json()) == (200, {"status": "accepted"})
    wait_until_processed(env)
    again = post(client, "orders/create", payload, event_id="evt-42")
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert count(db, WebhookEvent) == 1
    assert count(db, Order) == 1

    # without an event id the webhook id dedupes; without both, the body's digest does
    no_event = post(client, "orders/create", payload, event_id=None)
    assert post(client, "orders/create", payload, event_id=None).json() == {"status": "duplicate"}
    assert no_event.json() == {"status": "accepted"}
    assert count(db, WebhookEvent) == 2
    wait_until_processed(env)
    assert count(db, Order) == 1


def test_concurrent_deliveries_of_one_event_store_one_row(env, db):
    raw = json.dumps(order_payload(1001, datetime(2025, 9, 1, tzinfo=UTC))).encode()
    headers = {
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Event-Id": "evt-race",
        "X-Shopify-Hmac-Sha256": sign(SECRET, raw),
    }
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        with session_scope() as session:
            outcomes.append(receive_webhook(session, headers, raw, NOW).outcome)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted", "duplicate", "duplicate", "duplicate"]
    assert count(db, WebhookEvent) == 1


def test_unknown_shop_is_answered_200_and_ignored(client, db, caplog):
    payload = order_payload(1001, datetime(2025, 9, 1, tzinfo=UTC))
    with caplog.at_level(logging.WARNING, logger="services.webhooks"):
        response = post(client, "orders/create", payload, shop="someone-else.myshopify.com")
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    assert count(db, WebhookEvent) == 0
    assert count(db, Order) == 0
    assert "unknown shop 'someone-else.myshopify.com'" in caplog.text


def test_the_stored_shop_row_domain_is_accepted_too(client, db, env):
    db.add(Shop(shop_domain="old-name.myshopify.com"))
    db.commit()
    payload = product_payload(7)
    response = post(client, "products/update", payload, shop="Old-Name.myshopify.com")
    assert response.json() == {"status": "accepted"}
    wait_until_processed(env)
    assert count(db, Product) == 1


def test_unsupported_topic_is_ignored(client, db):
    response = post(client, "carts/update", {"id": 1})
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    assert count(db, WebhookEvent) == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b""])
def test_malformed_json_with_a_valid_signature_gets_400(client, db, body):
    response = post(client, "orders/create", None, body=body)
    assert response.status_code == 400
    assert "error" in response.json()
    assert count(db, WebhookEvent) == 0


def test_an_oversized_body_gets_413(client, db):
    body = b'{"pad": "' + b"x" * (MAX_WEBHOOK_BYTES + 10) + b'"}'
    response = post(client, "orders/create", None, body=body)
    assert response.status_code == 413

    def chunks():  # no Content-Length: the route counts what it reads
        for _ in range(MAX_WEBHOOK_BYTES // 65536 + 2):
            yield b"x" * 65536

    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": "x"}
    response = client.post(SHOPIFY_WEBHOOKS, content=chunks(), headers=headers)
    assert response.status_code == 413
    assert count(db, WebhookEvent) == 0


def test_the_answer_does_not_wait_for_processing(client, db, env):
    """Shopify wants 2xx within 5 s: the route stores and answers, the work runs after."""
    for number in range(3):
        payload = order_payload(2000 + number, datetime(2025, 9, 1 + number, tzinfo=UTC))
        started = time.perf_counter()
        response = post(client, "orders/create", payload, event_id=f"fast-{number}")
        elapsed = (time.perf_counter() - started) * 1000
        print(f"answer time for an accepted orders/create: {elapsed:.1f} ms")
        assert response.json() == {"status": "accepted"}
    wait_until_processed(env)
    assert count(db, Order) == 3


# --- processing: orders and products -------------------------------------------------------


def test_an_updated_cancelled_order_replaces_it_and_stops_counting(client, db, env):
    seeded = seed_customer(client, env)
    customer_id = seeded["customer_id"]
    due = db.exec(select(DueItem).where(DueItem.customer_id == customer_id)).one()
    assert due.last_purchased_at == datetime(2025, 10, 1, tzinfo=UTC)
    assert due.last_quantity == 2

    cancelled = dict(seeded["second"])  # type: ignore[arg-type]
    cancelled.update(
        updated_at="2025-10-02T00:00:00+00:00",
        cancelled_at="2025-10-02T00:00:00+00:00",
        financial_status="refunded",
    )
    response = post(client, "orders/updated", cancelled, event_id="o-1002-cancel")
    assert response.json() == {"status": "accepted"}
    wait_until_processed(env)

    db.expire_all()
    order = db.exec(select(Order).where(Order.shopify_gid == "gid://shopify/Order/1002")).one()
    assert order.cancelled_at == datetime(2025, 10, 2, tzinfo=UTC)
    assert order.source == "webhook"
    assert count(db, Order) == 2
    due = db.exec(select(DueItem).where(DueItem.customer_id == customer_id)).one()
    assert due.last_purchased_at == datetime(2025, 9, 1, tzinfo=UTC)  # only #1001 counts now

    # an older copy arriving late changes nothing
    stale = dict(seeded["second"])  # type: ignore[arg-type]
    assert post(client, "orders/updated", stale, event_id="o-1002-stale").status_code == 200
    wait_until_processed(env)
    db.expire_all()
    assert db.get(Order, order.id).cancelled_at is not None  # type: ignore[union-attr]


def test_archiving_a_product_stops_offering_it(client, db, env):
    seeded = seed_customer(client, env)
    token = str(seeded["token"])
    cart = load_cart(db, token, NOW)
    assert cart is not None
    assert [(item.title, item.available, item.selected) for item in cart.composition.due] == [
        ("Coffee", True, True)
    ]
    archived = product_payload(
        1,
        title="Coffee",
        status="ARCHIVED",
        updated_at="2025-11-01T00:00:00Z",
        variants=[
            {"id": 11, "title": "1kg", "sku": "COF-1KG", "price": "12.50", "inventory_quantity": 9}
        ],
    )
    assert post(client, "products/update", archived, event_id="p-archive").status_code == 200
    wait_until_processed(env)
    db.expire_all()
    cart = load_cart(db, token, NOW)
    assert cart is not None
    assert [(item.title, item.available, item.selected) for item in cart.composition.due] == [
        ("Coffee", False, False)
    ]
    assert db.exec(select(Product.status)).one() == "archived"


# --- processing: privacy -------------------------------------------------------------------


def test_data_request_exports_the_customers_data(client, db, env):
    seed_customer(client, env)
    request = {
        "shop_id": 1,
        "shop_domain": SHOP,
        "orders_requested": [1001, 1002],
        "customer": {"id": 501, "email": "ava@example.com", "phone": "+15550001111"},
        "data_request": {"id": 9999},
    }
    assert post(client, "customers/data_request", request, event_id="dr-1").status_code == 200
    wait_until_processed(env)
    export = db.exec(select(PrivacyExport)).one()
    assert (export.request_id, export.found, export.email) == ("9999", True, "ava@example.com")
    document = json.loads(privacy_export_json(db, "9999") or "null")
    (person,) = document["data"]["customers"]
    assert person["customer"]["email"] == "ava@example.com"
    assert [order["name"] for order in person["orders"]] == ["#1001", "#1002"]
    assert person["orders"][0]["lines"][0]["sku"] == "COF-1KG"
    assert person["orders"][0]["custom_attributes"] == {
        "gift_message": "Happy birthday Ava, 12 Elm St"
    }
    assert len(person["due_items"]) == 1 and person["due_items"][0]["product_title"] == "Coffee"
    assert len(person["cart_links"]) == 1 and person["cart_links"][0]["token"]
    assert [e["kind"] for e in person["cart_events"]] == ["view"]
    assert document["data"]["requested_orders"] == []  # both are Ava's, listed above
    assert privacy_export_json(db, "no-such-request") is None
    (event,) = [e for e in events(db) if e.topic == "customers/data_request"]
    assert (event.status, event.payload) == ("done", {})


def test_data_request_for_an_unknown_customer_records_not_found(client, db, env):
    request = {
        "shop_domain": SHOP,
        "customer": {"id": 77, "email": "nobody@example.com"},
        "orders_requested": [],
        "data_request": {"id": 5},
    }
    assert post(client, "customers/data_request", request, event_id="dr-2").status_code == 200
    wait_until_processed(env)
    export = db.exec(select(PrivacyExport)).one()
    assert (export.request_id, export.found, export.data) == ("5", False, {})


def test_redact_erases_personal_data_and_keeps_anonymous_orders(client, db, env):
    seeded = seed_customer(client, env)
    token = str(seeded["token"])
    assert load_cart(db, token, NOW) is not None
    # a failed order event still holding Ava's data, and an earlier export about her
    db.add(
        WebhookEvent(
            event_id="old-failed",
            topic="orders/create",
            shop_domain=SHOP,
            payload={"email": "ava@example.com"},
            status="failed",
            attempts=MAX_ATTEMPTS,
        )
    )
    db.add(PrivacyExport(request_id="1", email="ava@example.com", found=True, data={"x": "ava"}))
    # a queued reminder (its payload carries her email) and a snooze
    db.add(
        OutboxMessage(
            integration="klaviyo",
            kind="due",
            customer_id=seeded["customer_id"],
            idempotency_key="due-ava",
            payload={"recipient": {"email": "ava@example.com"}},
        )
    )
    db.add(Snooze(customer_id=seeded["customer_id"], until=NOW + timedelta(weeks=2)))
    db.commit()

    request = {
        "shop_id": 1,
        "shop_domain": SHOP,
        "orders_to_redact": [1001],
        "customer": {"id": 501, "email": "ava@example.com", "phone": "+15550001111"},
    }
    response = post(client, "customers/redact", request, event_id="redact-1")
    assert response.json() == {"status": "accepted"}
    wait_until_processed(env)

    db.expire_all()
    customer = db.get(Customer, seeded["customer_id"])
    assert customer is not None
    assert (customer.email, customer.phone, customer.shopify_gid) == (None, None, None)
    assert (customer.first_name, customer.last_name) == ("", "")
    assert count(db, CartLink) == count(db, CartEvent) == count(db, DueItem) == 0
    assert count(db, PrivacyExport) == count(db, Snooze) == 0
    message = db.exec(select(OutboxMessage)).one()
    assert (message.status, message.payload) == ("skipped", {})
    assert load_cart(db, token, NOW) is None  # the old link now shows "expired"
    orders = db.exec(select(Order).order_by(Order.name)).all()  # processed in any order
    assert [(o.name, o.customer_id, o.custom_attributes) for o in orders] == [
        ("#1001", customer.id, {}),
        ("#1002", customer.id, {}),
    ]
    assert count(db, OrderLine) == 2
    by_id = {e.event_id: e for e in events(db)}
    assert (by_id["redact-1"].status, by_id["redact-1"].payload) == ("done", {})
    assert (by_id["old-failed"].status, by_id["old-failed"].payload) == ("ignored", {})
    blob = json.dumps(
        [e.payload for e in events(db)]
        + [c.model_dump(mode="json") for c in db.exec(select(Customer))]
    )
    assert "ava@example.com" not in blob and "+15550001111" not in blob


def test_redact_for_a_customer_we_never_stored_is_done(client, db, env):
    request = {
        "shop_domain": SHOP,
        "customer": {"id": 404, "email": "ghost@example.com"},
        "orders_to_redact": [9],
    }
    response = post(client, "customers/redact", request, event_id="redact-ghost")
    assert (response.status_code, response.json()) == (200, {"status": "accepted"})
    wait_until_processed(env)
    (event,) = events(db)
    assert (event.status, event.error, event.payload) == ("done", "", {})


def test_shop_redact_empties_the_shops_data(client, db, env):
    seed_customer(client, env)
    with session_scope() as session:
        shop = Shop(shop_domain=SHOP, banner_text="10% off", discount_code="AGAIN", lead_days=9)
        session.add(shop)
        coffee = session.exec(select(Product)).one()
        session.add(YmalItem(product_id=coffee.id))  # type: ignore[arg-type]
        session.add(
            Product(
                shopify_gid="csv-product:tea",
                title="Tea",
                handle="tea",
                replacement_product_id=coffee.id,
            )
        )
        session.add(PrivacyExport(request_id="1", email="ava@example.com", data={"a": 1}))
        session.add(SyncState(name="orders", cursor=NOW))
        session.add(JobLease(name="sync", holder="me", expires_at=NOW))
    assert count(db, DueItem) == 1

    # a signed request naming another shop in its payload erases nothing
    other = {"shop_id": 2, "shop_domain": "other.myshopify.com"}
    assert post(client, "shop/redact", other, event_id="shop-other").status_code == 200
    wait_until_processed(env)
    assert count(db, Order) == 2
    assert [e.status for e in events(db) if e.event_id == "shop-other"] == ["ignored"]

    request = {"shop_id": 1, "shop_domain": SHOP}
    assert post(client, "shop/redact", request, event_id="shop-1").json() == {"status": "accepted"}
    wait_until_processed(env)
    for model in (
        Customer,
        Order,
        OrderLine,
        CartLink,
        CartEvent,
        DueItem,
        IntervalStat,
        Product,
        Variant,
        YmalItem,
        PrivacyExport,
        SyncState,
    ):
        assert count(db, model) == 0, model.__name__
    (event,) = events(db)
    assert (event.event_id, event.status, event.payload) == ("shop-1", "done", {})
    db.expire_all()
    shop = db.exec(select(Shop)).one()
    assert (shop.shop_domain, shop.banner_text, shop.discount_code, shop.lead_days) == (
        SHOP,
        "",
        "",
        3,
    )
    assert count(db, JobLease) == 1  # coordination, not shop data


# --- the queue -----------------------------------------------------------------------------


def store_pending(url: str, topic: str, payloads: list[dict], prefix: str) -> list[int]:
    """What the route stores before a crash: accepted events nobody processed."""
    ids = []
    with session_scope(url) as session:
        for number, payload in enumerate(payloads):
            raw = json.dumps(payload).encode()
            headers = {
                "X-Shopify-Topic": topic,
                "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-Event-Id": f"{prefix}-{number}",
                "X-Shopify-Hmac-Sha256": sign(SECRET, raw),
            }
            result = receive_webhook(session, headers, raw, NOW)
            assert result.outcome == "accepted"
            ids.append(result.webhook_id)
    return ids  # type: ignore[return-value]


def test_an_event_left_pending_is_processed_later(env, db, caplog):
    (webhook_id,) = store_pending(
        env, "orders/create", [order_payload(3001, datetime(2025, 9, 1, tzinfo=UTC))], "crash"
    )
    assert db.get(WebhookEvent, webhook_id).status == "pending"  # type: ignore[union-attr]
    with caplog.at_level(logging.INFO, logger="services.webhooks"):
        summary = process_pending_webhooks(NOW)
    assert (summary.done, summary.failed, summary.processed_ids) == (1, 0, (webhook_id,))
    db.expire_all()
    event = db.get(WebhookEvent, webhook_id)
    assert event is not None
    assert (event.status, event.payload, event.attempts, event.processed_at) == ("done", {}, 1, NOW)
    assert count(db, Order) == 1
    (line,) = [r for r in caplog.records if r.name == "services.webhooks"]
    assert "topic=orders/create" in line.getMessage() and "event_id=crash-0" in line.getMessage()
    assert line.fields["outcome"] == "done" and line.fields["ms"] >= 0  # type: ignore[attr-defined]
    assert process_pending_webhooks(NOW).processed == 0


def test_a_failed_event_keeps_its_payload_and_is_retried(env, db, monkeypatch):
    (webhook_id,) = store_pending(env, "products/update", [product_payload(5)], "retry")
    calls = {"n": 0}
    import services.webhooks as webhooks

    real = webhooks.upsert_products

    def flaky(*args, **kwargs):  # noqa: ANN002, ANN003
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away\nparameters: ava@example.com")
        return real(*args, **kwargs)

    monkeypatch.setattr(webhooks, "upsert_products", flaky)
    assert process_pending_webhooks(NOW).failed == 1
    db.expire_all()
    event = db.get(WebhookEvent, webhook_id)
    assert event is not None
    assert (event.status, event.attempts) == ("failed", 1)
    assert event.error == "RuntimeError: database went away"  # first line only
    assert event.payload["id"] == 5
    assert count(db, Product) == 0  # rolled back

    assert process_pending_webhooks(NOW).done == 1
    db.expire_all()
    event = db.get(WebhookEvent, webhook_id)
    assert (event.status, event.attempts, event.payload) == ("done", 2, {})  # type: ignore[union-attr]
    assert count(db, Product) == 1


def test_a_malformed_payload_fails_for_good(env, db):
    (webhook_id,) = store_pending(env, "orders/create", [{"name": "#1"}], "bad")
    assert process_pending_webhooks(NOW).failed == 1
    db.expire_all()
    event = db.get(WebhookEvent, webhook_id)
    assert event is not None
    assert (event.status, event.attempts) == ("failed", MAX_ATTEMPTS)
    assert "order has no id" in event.error
    assert process_pending_webhooks(NOW).processed == 0  # not retried


def test_a_claim_of_a_dead_process_expires(env, db):
    (webhook_id,) = store_pending(env, "products/update", [product_payload(6)], "dead")
    event = db.get(WebhookEvent, webhook_id)
    assert event is not None
    event.status, event.attempts, event.processed_at = "processing", 1, NOW
    db.add(event)
    db.commit()
    assert process_pending_webhooks(NOW + timedelta(minutes=1)).processed == 0  # still claimed
    assert process_pending_webhooks(NOW + timedelta(hours=1)).done == 1
    assert count(db, Product) == 1


def test_two_concurrent_runs_process_each_event_once(env, db):
    ids = store_pending(
        env, "products/update", [product_payload(100 + n) for n in range(30)], "many"
    )
    barrier = threading.Barrier(2)
    summaries = []

    def run() -> None:
        barrier.wait()
        summaries.append(process_pending_webhooks(NOW))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    processed = [webhook_id for s in summaries for webhook_id in s.processed_ids]
    print(
        "events per run:",
        [len(s.processed_ids) for s in summaries],
        "skipped:",
        [s.skipped for s in summaries],
    )
    assert sorted(processed) == sorted(ids)  # every event, none twice
    assert sum(s.failed for s in summaries) == 0
    assert {(e.status, e.attempts) for e in events(db)} == {("done", 1)}
    assert count(db, Product) == 30


def test_a_conflict_with_a_concurrent_writer_is_retried_at_once(env, db, monkeypatch):
    """orders/create and orders/updated of a new customer arrive together; one loses a race."""
    (webhook_id,) = store_pending(env, "products/update", [product_payload(8)], "conflict")
    import services.webhooks as webhooks

    real = webhooks.upsert_products
    calls = {"n": 0}

    def racing(*args, **kwargs):  # noqa: ANN002, ANN003
        calls["n"] += 1
        if calls["n"] == 1:
            raise IntegrityError("INSERT ...", {}, Exception("duplicate key"))
        return real(*args, **kwargs)

    monkeypatch.setattr(webhooks, "upsert_products", racing)
    assert process_pending_webhooks(NOW).done == 1
    db.expire_all()
    event = db.get(WebhookEvent, webhook_id)
    assert (event.status, event.attempts, calls["n"]) == ("done", 1, 2)  # type: ignore[union-attr]
