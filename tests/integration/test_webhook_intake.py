"""Shopify webhooks through the real HTTP route, on SQLite and PostgreSQL.

The Starlette app of `repeatcart_app/api.py` imports no Reflex, so it is served as it is by
`FakeServer` (uvicorn on 127.0.0.1): signatures, raw bodies, status codes and the one processor
that works off accepted events all run as in production. `shop/redact` asks the fake Shopify
(`tests/fakes/shopify.py`, over HTTP) whether the app's token is still accepted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from repeatcart_app.api import MAX_WEBHOOK_BYTES, api
from repeatcart_app.routes import SHOPIFY_WEBHOOKS
from services.cart.events import record_cart_event
from services.cart.links import get_or_create_link
from services.cart.page import load_cart
from services.core.clock import utcnow
from services.core.config import get_settings
from services.core.db import get_engine, session_scope
from services.core.tables import (
    AdminUser,
    AppSetting,
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
from services.shopify.webhook_protocol import sign
from services.sync.privacy import privacy_export_json
from services.sync.webhook_intake import (
    MAX_ATTEMPTS,
    process_pending_webhooks,
    receive_webhook,
)
from tests.fakes.server import FakeServer
from tests.fakes.shopify import FakeShopify

SHOP = "tiny-store.myshopify.com"
SECRET = "shpss_webhook_secret"
TOKEN = "shpat_tiny_store"
NOW = datetime(2025, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(api) as running:
        yield running


@pytest.fixture(scope="module")
def shopify() -> Iterator[FakeShopify]:
    with FakeShopify(shop=SHOP, token=TOKEN, restore_rate=50_000) as fake:
        yield fake


@pytest.fixture
def admin_api(
    shopify: FakeShopify, env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeShopify]:
    """The app's Admin API is the fake Shopify; by default the token is revoked (uninstalled).
    A test sets `REPEATCART_SHOPIFY_TOKEN` to `TOKEN` for a shop that still has the app."""
    monkeypatch.setenv("REPEATCART_SHOPIFY_BASE_URL", shopify.base_url)
    monkeypatch.setenv("REPEATCART_SHOPIFY_TOKEN", "shpat_revoked_at_uninstall")
    get_settings.cache_clear()
    yield shopify
    shopify.clear_faults()


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
    logged = [r.getMessage() for r in caplog.records if r.name == "services.sync.webhook_intake"]
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
    other = order_payload(1003, datetime(2025, 9, 3, tzinfo=UTC))
    no_event = post(client, "orders/create", other, event_id=None)
    assert post(client, "orders/create", other, event_id=None).json() == {"status": "duplicate"}
    assert no_event.json() == {"status": "accepted"}
    assert count(db, WebhookEvent) == 2
    wait_until_processed(env)
    assert count(db, Order) == 2


def test_the_same_body_under_a_new_event_id_is_a_duplicate(client, db, env):
    """A captured signed body resent with a fresh event id is the same delivery."""
    payload = order_payload(1001, datetime(2025, 9, 1, tzinfo=UTC))
    assert post(client, "orders/create", payload, event_id="evt-a").json() == {"status": "accepted"}
    for topic, event_id in [("orders/create", "evt-b"), ("orders/updated", "evt-c")]:
        again = post(client, topic, payload, event_id=event_id)
        assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    wait_until_processed(env)
    assert count(db, WebhookEvent) == 1
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
    with caplog.at_level(logging.WARNING, logger="services.sync.webhook_intake"):
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


def data_request_payload(**changes: object) -> dict:
    payload = {
        "shop_id": 1,
        "shop_domain": SHOP,
        "orders_requested": [1001],
        "customer": {"id": 501, "email": "ava@example.com", "phone": "+15550001111"},
        "data_request": {"id": 9999},
    }
    payload.update(changes)
    return payload


def customer_redact_payload(**changes: object) -> dict:
    payload = {
        "shop_id": 1,
        "shop_domain": SHOP,
        "customer": {"id": 501, "email": "ava@example.com", "phone": "+15550001111"},
        "orders_to_redact": [1001],
    }
    payload.update(changes)
    return payload


def test_a_signed_order_replayed_as_shop_redact_erases_nothing(client, db, env, caplog):
    """The review's finding: an ordinary signed `orders/create` body, resent with
    `X-Shopify-Topic: shop/redact` and a new event id, emptied the whole store."""
    seeded = seed_customer(client, env)
    db.add(Shop(shop_domain=SHOP))
    db.commit()
    body = json.dumps(seeded["second"]).encode()  # the exact bytes Shopify signed
    with caplog.at_level(logging.WARNING, logger="services.sync.webhook_intake"):
        response = post(client, "shop/redact", None, body=body, event_id="replayed-as-redact")
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    wait_until_processed(env)
    assert (count(db, Order), count(db, Customer), count(db, CartLink)) == (2, 1, 1)
    assert [e for e in events(db) if e.topic == "shop/redact"] == []
    assert "shop/redact body" in caplog.text


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("orders/create", product_payload(9)),
        ("orders/updated", customer_redact_payload()),
        ("products/update", order_payload(4001, datetime(2025, 9, 1, tzinfo=UTC))),
        ("customers/redact", data_request_payload()),
        ("customers/redact", customer_redact_payload(orders_to_redact=None)),
        ("customers/data_request", customer_redact_payload()),
        ("shop/redact", customer_redact_payload()),
        ("shop/redact", {"shop_id": 1}),  # the header's domain is no stand-in
        ("shop/redact", {"shop_domain": SHOP}),
    ],
    ids=[
        "product-as-order",
        "redact-as-order",
        "order-as-product",
        "data-request-as-redact",
        "redact-without-orders",
        "redact-as-data-request",
        "customer-redact-as-shop-redact",
        "shop-redact-without-domain",
        "shop-redact-without-shop-id",
    ],
)
def test_a_body_not_of_its_topics_shape_is_answered_200_and_changes_nothing(
    client, db, env, caplog, topic, body
):
    """200, not 400: Shopify retries a non-2xx answer for hours, and the same bytes would be
    refused every time; a forged topic is not Shopify's delivery anyway."""
    seed_customer(client, env)
    db.add(Shop(shop_domain=SHOP))
    db.commit()
    before = events(db)
    with caplog.at_level(logging.WARNING, logger="services.sync.webhook_intake"):
        response = post(client, topic, body, event_id=f"wrong-shape-{topic}")
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    wait_until_processed(env)
    assert len(events(db)) == len(before)
    assert (count(db, Order), count(db, Customer), count(db, Product)) == (2, 1, 1)
    assert (count(db, CartLink), count(db, DueItem)) == (1, 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(topic in r.getMessage() and "body" in r.getMessage() for r in warnings)
    assert "ava@example.com" not in caplog.text


@pytest.mark.parametrize("where", ["settings", "shop-row", "header"])
def test_shop_redact_for_any_other_shop_is_ignored(client, db, env, caplog, admin_api, where):
    """The body must name this shop: the configured one, which is also the shop row's."""
    seed_customer(client, env)
    db.add(Shop(shop_domain="previous.myshopify.com" if where == "shop-row" else SHOP))
    db.commit()
    body = {"shop_id": 1, "shop_domain": "other.myshopify.com" if where == "settings" else SHOP}
    shop = "previous.myshopify.com" if where == "header" else SHOP
    with caplog.at_level(logging.WARNING, logger="services.sync.webhook_intake"):
        response = post(client, "shop/redact", body, event_id=f"redact-{where}", shop=shop)
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    wait_until_processed(env)
    assert (count(db, Order), count(db, Customer), count(db, Product)) == (2, 1, 1)
    assert any(
        r.levelno == logging.WARNING and "shop/redact" in r.getMessage() for r in caplog.records
    )


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


def test_a_burst_is_processed_by_one_processor(client, db, env, monkeypatch):
    """Each accepted webhook used to start its own background task in the thread pool, so a
    burst filled the pool; now one processor per process works the queue, one event at a time."""
    import services.sync.webhook_intake as webhooks

    real = webhooks._process_one
    lock = threading.Lock()
    running = {"now": 0, "most": 0, "calls": 0}

    def watched(webhook_id: int, now: datetime) -> str:
        with lock:
            running["now"] += 1
            running["calls"] += 1
            running["most"] = max(running["most"], running["now"])
        try:
            time.sleep(0.01)  # widen any overlap
            return real(webhook_id, now)
        finally:
            with lock:
                running["now"] -= 1

    monkeypatch.setattr(webhooks, "_process_one", watched)
    payloads = [order_payload(6000 + n, datetime(2025, 9, 1, tzinfo=UTC)) for n in range(40)]

    def deliver(payload: dict) -> httpx.Response:
        return post(client, "orders/create", payload, event_id=f"burst-{payload['id']}")

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(deliver, payloads))
    assert {(r.status_code, r.json()["status"]) for r in answers} == {(200, "accepted")}
    wait_until_processed(env)
    assert count(db, Order) == 40
    assert {e.status for e in events(db)} == {"done"}
    print("events processed:", running["calls"], "most at once:", running["most"])
    assert running["most"] == 1
    processors = [t for t in threading.enumerate() if t.name == "webhook-processor"]
    assert len(processors) == 1 and processors[0].daemon


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
        "shop_id": 1,
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
        "shop_id": 1,
        "shop_domain": SHOP,
        "customer": {"id": 404, "email": "ghost@example.com"},
        "orders_to_redact": [9],
    }
    response = post(client, "customers/redact", request, event_id="redact-ghost")
    assert (response.status_code, response.json()) == (200, {"status": "accepted"})
    wait_until_processed(env)
    (event,) = events(db)
    assert (event.status, event.error, event.payload) == ("done", "", {})


def test_shop_redact_empties_the_shops_data(client, db, env, admin_api):
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
        session.add(AppSetting(name="klaviyo_api_key", value="encrypted", encrypted=True))
        session.add(AdminUser(email="owner@example.com", password_hash="x"))
    assert count(db, DueItem) == 1

    # a signed request naming another shop in its payload erases nothing
    other = {"shop_id": 2, "shop_domain": "other.myshopify.com"}
    response = post(client, "shop/redact", other, event_id="shop-other")
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    wait_until_processed(env)
    assert count(db, Order) == 2
    assert [e.event_id for e in events(db) if e.topic == "shop/redact"] == []

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
    assert count(db, AppSetting) == 0  # the departed shop's saved keys
    assert count(db, AdminUser) == 1  # the install's own dashboard account
    db.expire_all()
    shop = db.exec(select(Shop)).one()
    assert (shop.shop_domain, shop.banner_text, shop.discount_code, shop.lead_days) == (
        SHOP,
        "",
        "",
        3,
    )
    assert count(db, JobLease) == 1  # coordination, not shop data


def test_shop_redact_keeps_everything_while_shopify_still_accepts_the_token(
    client, db, env, admin_api, monkeypatch, caplog
):
    """A genuine-looking request is not proof the app was uninstalled: the Admin API is."""
    monkeypatch.setenv("REPEATCART_SHOPIFY_TOKEN", TOKEN)
    get_settings.cache_clear()
    seed_customer(client, env)
    db.add(Shop(shop_domain=SHOP, banner_text="10% off"))
    db.commit()
    with caplog.at_level(logging.WARNING, logger="services.sync.webhook_intake"):
        response = post(client, "shop/redact", {"shop_id": 1, "shop_domain": SHOP}, event_id="sr")
        assert response.json() == {"status": "accepted"}
        wait_until_processed(env)
    assert (count(db, Order), count(db, Customer), count(db, Product)) == (2, 1, 1)
    assert (count(db, CartLink), count(db, DueItem), count(db, WebhookEvent)) == (1, 1, 4)
    db.expire_all()
    assert db.exec(select(Shop)).one().banner_text == "10% off"
    (event,) = [e for e in events(db) if e.event_id == "sr"]
    assert event.status == "ignored"
    assert "still accepts" in event.error
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "still accepts" in errors[0] and SHOP in errors[0]


def test_shop_redact_is_retried_while_shopify_cannot_be_asked(client, db, env, admin_api):
    seed_customer(client, env)
    db.add(Shop(shop_domain=SHOP))
    db.commit()
    admin_api.fail_next(10, status=503)
    response = post(client, "shop/redact", {"shop_id": 1, "shop_domain": SHOP}, event_id="sr")
    assert response.json() == {"status": "accepted"}
    wait_until_processed(env)
    (event,) = [e for e in events(db) if e.event_id == "sr"]
    assert (event.status, event.attempts) == ("failed", 1)
    assert event.payload == {"shop_id": 1, "shop_domain": SHOP}  # kept for the retry
    assert (count(db, Order), count(db, Customer), count(db, Product)) == (2, 1, 1)

    admin_api.clear_faults()  # Shopify answers again: the token is refused, the app is gone
    assert process_pending_webhooks(utcnow()).done == 1
    assert (count(db, Order), count(db, Customer), count(db, Product)) == (0, 0, 0)
    (event,) = events(db)
    assert (event.event_id, event.status, event.attempts) == ("sr", "done", 2)


def test_shop_redact_without_a_token_to_ask_with_erases_nothing(client, db, env, monkeypatch):
    monkeypatch.delenv("REPEATCART_SHOPIFY_TOKEN", raising=False)
    get_settings.cache_clear()
    seed_customer(client, env)
    db.add(Shop(shop_domain=SHOP))
    db.commit()
    post(client, "shop/redact", {"shop_id": 1, "shop_domain": SHOP}, event_id="sr")
    wait_until_processed(env)
    assert (count(db, Order), count(db, Customer), count(db, Product)) == (2, 1, 1)
    (event,) = [e for e in events(db) if e.event_id == "sr"]
    assert event.status == "ignored" and "token" in event.error


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's own files
@pytest.mark.parametrize("topic", ["customers/redact", "shop/redact"])
def test_redacted_data_leaves_no_copy_in_the_sqlite_files(client, db, env, admin_api, topic):
    """Deleted rows stay in free pages and in the write-ahead log unless SQLite zeroes them
    (`secure_delete`) and the log is checkpointed and truncated after the erase."""
    seed_customer(client, env)
    db.add(Shop(shop_domain=SHOP))
    db.commit()
    files = [Path(str(make_url(env).database)), Path(f"{make_url(env).database}-wal")]
    assert any(b"ava@example.com" in f.read_bytes() for f in files if f.exists())
    body = customer_redact_payload() if topic == "customers/redact" else {"shop_id": 1}
    body["shop_domain"] = SHOP
    assert post(client, topic, body, event_id="erase").json() == {"status": "accepted"}
    wait_until_processed(env)
    assert [e.status for e in events(db) if e.event_id == "erase"] == ["done"]
    deadline = time.monotonic() + 10  # the checkpoint follows the erase's commit
    while files[1].exists() and files[1].stat().st_size and time.monotonic() < deadline:
        time.sleep(0.02)
    for path in files:
        if path.exists():
            data = path.read_bytes()
            print(f"{path.name}: {len(data)} bytes")
            assert b"ava@example.com" not in data, path.name
            assert b"+15550001111" not in data, path.name


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
    with caplog.at_level(logging.INFO, logger="services.sync.webhook_intake"):
        summary = process_pending_webhooks(NOW)
    assert (summary.done, summary.failed, summary.processed_ids) == (1, 0, (webhook_id,))
    db.expire_all()
    event = db.get(WebhookEvent, webhook_id)
    assert event is not None
    assert (event.status, event.payload, event.attempts, event.processed_at) == ("done", {}, 1, NOW)
    assert count(db, Order) == 1
    (line,) = [r for r in caplog.records if r.name == "services.sync.webhook_intake"]
    assert "topic=orders/create" in line.getMessage() and "event_id=crash-0" in line.getMessage()
    assert line.fields["outcome"] == "done" and line.fields["ms"] >= 0  # type: ignore[attr-defined]
    assert process_pending_webhooks(NOW).processed == 0


def test_a_failed_event_keeps_its_payload_and_is_retried(env, db, monkeypatch):
    (webhook_id,) = store_pending(env, "products/update", [product_payload(5)], "retry")
    calls = {"n": 0}
    import services.sync.webhook_intake as webhooks

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
    """An order body of the right shape whose content cannot be read is not retried."""
    bad = order_payload(1, datetime(2025, 9, 1, tzinfo=UTC), created_at="yesterday")
    (webhook_id,) = store_pending(env, "orders/create", [bad], "bad")
    assert process_pending_webhooks(NOW).failed == 1
    db.expire_all()
    event = db.get(WebhookEvent, webhook_id)
    assert event is not None
    assert (event.status, event.attempts) == ("failed", MAX_ATTEMPTS)
    assert "bad created_at" in event.error
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
    import services.sync.webhook_intake as webhooks

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
