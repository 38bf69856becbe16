"""The GraphQL client and the sync against the fake Shopify over real HTTP.

Every fault the issue lists is injected at the fake: THROTTLED (200 and 429), 429 with
Retry-After, 500, 503, timeouts, dropped connections, a failed bulk operation, and a sync that
dies between pages and is restarted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from services.core.clock import utcnow
from services.core.config import PROJECT_ROOT, get_settings
from services.core.db import forget_engines, get_engine
from services.core.provider_http import ProviderError, RetryPolicy
from services.core.tables import (
    DueItem,
    IntervalStat,
    Order,
    OrderLine,
    Product,
    SyncState,
    Variant,
)
from services.engine.recompute import recompute_all
from services.shopify import queries
from services.shopify.client import ShopifyClient
from services.sync.store_sync import sync_orders, sync_products
from tests.clock_shift import subprocess_env
from tests.fakes.shopify import FakeShopify

FAST_RETRY = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.05)
START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(restore_rate=50_000, bucket=1000) as shop:
        yield shop


@pytest.fixture
def configured(database_url: str, fake: FakeShopify, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    monkeypatch.setenv("REPEATCART_SHOPIFY_SHOP", fake.shop)
    monkeypatch.setenv("REPEATCART_SHOPIFY_TOKEN", fake.token)
    monkeypatch.setenv("REPEATCART_SHOPIFY_BASE_URL", fake.base_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def client_for(fake: FakeShopify, **kwargs) -> ShopifyClient:  # noqa: ANN003
    kwargs.setdefault("policy", FAST_RETRY)
    return ShopifyClient(fake.shop, fake.token, "2026-10", fake.base_url, **kwargs)


def stored_orders(url: str) -> dict[str, tuple[int, int, bool]]:
    """gid → (line count, total cents, cancelled) as stored."""
    with Session(get_engine(url)) as session:
        lines = dict(
            session.exec(
                select(OrderLine.order_id, func.count()).group_by(OrderLine.order_id)
            ).all()
        )
        return {
            order.shopify_gid: (lines.get(order.id, 0), order.total_cents, bool(order.cancelled_at))
            for order in session.exec(select(Order))
        }


def expected_orders(fake: FakeShopify) -> dict[str, tuple[int, int, bool]]:
    return {
        gid: (
            len(order["lineItems"]),
            round(float(order["totalPriceSet"]["shopMoney"]["amount"]) * 100),
            order["cancelledAt"] is not None,
        )
        for gid, order in fake.orders.items()
    }


# --- the client -------------------------------------------------------------------------------


def test_pages_cover_every_order_once_with_all_their_line_items(fake: FakeShopify) -> None:
    fake.generate_orders(600, seed=3, products=fake.generate_products(12, seed=3), start=START)
    long_orders = sum(1 for order in fake.orders.values() if len(order["lineItems"]) > 5)
    assert long_orders > 0, "the data must include orders needing follow-up queries"
    with client_for(fake) as client:
        pages = list(client.order_pages())
    seen = [order.gid for page in pages for order in page.orders]
    assert sorted(seen) == sorted(fake.orders)
    assert len(pages) == -(-600 // queries.orders_page_size())
    # long orders are completed together: one follow-up request per page that has any
    pages_with_long = sum(
        1
        for page in pages
        if any(len(order.lines) > queries.LINE_ITEMS_PER_ORDER for order in page.orders)
    )
    assert sum(page.follow_ups for page in pages) == pages_with_long < long_orders
    for page in pages:
        for order in page.orders:
            assert len(order.lines) == len(fake.orders[order.gid]["lineItems"])
    assert fake.stats.max_cost_exceeded == 0


def test_the_client_paces_itself_and_is_never_throttled(fake: FakeShopify) -> None:
    fake.set_bucket(restore_rate=4000, available=1000)
    fake.generate_orders(400, seed=4, start=START)
    with client_for(fake) as client:
        pages = list(client.order_pages())
        assert client.stats.paced_seconds > 0, "with this bucket the client must have waited"
    assert sum(len(page.orders) for page in pages) == 400
    assert fake.stats.throttled == 0


@pytest.mark.parametrize("status", [200, 429])
def test_a_throttled_reply_is_waited_out_and_retried(status: int) -> None:
    with FakeShopify(restore_rate=50_000, throttled_status=status) as fake:
        fake.generate_orders(10, seed=5, start=START)
        fake.throttle_next(2)
        with client_for(fake) as client:
            orders = [order for page in client.order_pages() for order in page.orders]
            assert client.stats.throttled == 2
    assert len(orders) == 10


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, "1"), (500, None), (502, None), (503, "0")]
)
def test_transient_http_errors_are_retried(
    fake: FakeShopify, status: int, retry_after: str | None
) -> None:
    fake.generate_orders(5, seed=6, start=START)
    fake.fail_next(2, status=status, retry_after=retry_after)
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05, sleep=sleeps.append)
    with client_for(fake, policy=policy) as client:
        orders = [order for page in client.order_pages() for order in page.orders]
    assert len(orders) == 5
    assert len(sleeps) == 2
    if retry_after is not None:
        assert min(sleeps) >= float(retry_after)


def test_timeouts_and_dropped_connections_are_retried(fake: FakeShopify) -> None:
    fake.generate_orders(5, seed=7, start=START)
    fake.delay_next(1, 2.0)
    with client_for(fake, timeout=0.5) as client:
        assert len(next(client.order_pages()).orders) == 5
    fake.drop_next(1)
    with client_for(fake) as client:
        assert len(next(client.order_pages()).orders) == 5


def test_errors_that_retrying_cannot_fix_say_what_is_wrong(fake: FakeShopify) -> None:
    with (
        ShopifyClient(fake.shop, "shpat_wrong", "2026-10", fake.base_url) as client,
        pytest.raises(ProviderError, match="token was refused") as refused,
    ):
        client.shop()
    assert refused.value.auth_failed
    with (
        ShopifyClient(fake.shop, fake.token, "2019-02", fake.base_url) as client,
        pytest.raises(ProviderError, match="API version"),
    ):
        client.shop()
    fake.fail_next(10, status=500)
    with client_for(fake) as client, pytest.raises(ProviderError, match="after 5 attempts"):
        client.shop()


def test_a_missing_token_is_refused_before_any_request() -> None:
    with pytest.raises(ProviderError, match="REPEATCART_SHOPIFY_TOKEN"):
        ShopifyClient("x.myshopify.com", "", "2026-10")


def test_a_bulk_export_arrives_as_orders_with_their_lines(fake: FakeShopify) -> None:
    fake.generate_orders(60, seed=8, start=START)
    with client_for(fake) as client:
        operation = client.start_bulk_orders()
        finished = client.wait_for_bulk(operation.id, poll_seconds=0.01)
        assert finished.status == "COMPLETED" and finished.url
        lines = list(client.bulk_lines(finished.url))
    parents = [line for line in lines if "__parentId" not in line]
    children = [line for line in lines if "__parentId" in line]
    assert len(parents) == 60
    assert len(children) == sum(len(o["lineItems"]) for o in fake.orders.values())
    assert finished.object_count == len(lines)


# --- the sync ---------------------------------------------------------------------------------


def test_first_sync_imports_in_bulk_then_syncs_incrementally(
    configured: str, fake: FakeShopify
) -> None:
    products = fake.generate_products(10, seed=9)
    fake.generate_orders(200, seed=9, products=products, start=START, days=300)
    with client_for(fake) as client:
        catalog = sync_products(client)
        first = sync_orders(client, poll_seconds=0.01)
    assert catalog.created == 10
    assert first.mode == "bulk" and first.created == 200 and first.recompute == "all"
    assert fake.stats.operations["RunBulk"] == 1
    assert stored_orders(configured) == expected_orders(fake)
    with Session(get_engine(configured)) as session:
        assert session.exec(select(func.count()).select_from(DueItem)).one() > 0
        state = session.get(SyncState, "orders")
        assert state.last_status == "ok" and state.cursor is not None
        assert state.bulk_operation_id is None and not state.recompute_pending

    # a cancellation and an edit after the first import arrive with the next run
    cancelled, edited = list(fake.orders)[:2]
    fake.cancel_order(cancelled)
    variant = fake.products[products[0]["id"]]["variants"][0]["id"]
    fake.update_order(edited, lines=[(variant, 3)])
    with client_for(fake) as client:
        second = sync_orders(client, poll_seconds=0.01)
    assert second.mode == "incremental"
    assert second.updated == 2 and second.created == 0
    assert second.recompute in ("customers", "all")
    assert stored_orders(configured) == expected_orders(fake)


def test_a_sync_with_nothing_new_changes_nothing(configured: str, fake: FakeShopify) -> None:
    fake.generate_orders(40, seed=10, start=START)
    with client_for(fake) as client:
        sync_orders(client, bulk=False)
        again = sync_orders(client)
    assert again.mode == "incremental"
    assert again.created == 0 and again.updated == 0
    assert again.recompute == "none"


def test_a_failed_bulk_operation_falls_back_to_paging(configured: str, fake: FakeShopify) -> None:
    fake.generate_orders(50, seed=11, start=START)
    fake.fail_next_bulk("INTERNAL_SERVER_ERROR")
    with client_for(fake) as client:
        report = sync_orders(client, poll_seconds=0.01)
    assert report.mode == "full" and report.created == 50
    assert any("failed" in note for note in report.notes)
    assert stored_orders(configured) == expected_orders(fake)


def test_a_sync_that_fails_midway_resumes_without_gaps_or_duplicates(
    configured: str, fake: FakeShopify
) -> None:
    fake.generate_orders(150, seed=12, start=START)
    fail_at_page = 3
    original = ShopifyClient.execute
    calls = {"orders": 0}

    def failing(self, query, variables=None):  # noqa: ANN001, ANN202
        if query is queries.ORDERS_QUERY:
            calls["orders"] += 1
            if calls["orders"] == fail_at_page:
                fake.fail_next(50, status=500)
        return original(self, query, variables)

    with client_for(fake) as client:
        ShopifyClient.execute = failing  # type: ignore[method-assign]
        try:
            with pytest.raises(ProviderError):
                sync_orders(client, bulk=False)
        finally:
            ShopifyClient.execute = original  # type: ignore[method-assign]
    fake.clear_faults()
    stored = stored_orders(configured)
    assert len(stored) == (fail_at_page - 1) * queries.orders_page_size()
    with Session(get_engine(configured)) as session:
        state = session.get(SyncState, "orders")
        assert state.last_status == "failed" and "HTTP 500" in state.last_error
        assert state.recompute_pending
    with client_for(fake) as client:
        resumed = sync_orders(client)
    assert resumed.mode == "incremental" and resumed.recompute == "all"
    assert stored_orders(configured) == expected_orders(fake)


def test_products_sync_archives_deletes_and_completes_long_variant_lists(
    configured: str, fake: FakeShopify
) -> None:
    sizes = [(f"Size {i}", f"SH-{i}", "9.00") for i in range(30)]
    kept = fake.add_product("Shampoo", variants=sizes)
    archived = fake.add_product("Soap")
    gone = fake.add_product("Candle")
    with client_for(fake) as client:
        sync_products(client)
    with Session(get_engine(configured)) as session:
        product = session.exec(select(Product).where(Product.shopify_gid == kept["id"])).one()
        variants = session.exec(select(Variant).where(Variant.product_id == product.id)).all()
        assert len(variants) == 30
    fake.update_product(archived["id"], status="ARCHIVED")
    fake._products.remove(gone["id"])  # deleted in Shopify: only a full pass can notice
    with client_for(fake) as client:
        incremental = sync_products(client)
        full = sync_products(client, full=True)
    assert incremental.updated == 1 and full.deleted == 1
    with Session(get_engine(configured)) as session:
        status = dict(session.exec(select(Product.shopify_gid, Product.status)).all())
    assert status == {kept["id"]: "active", archived["id"]: "archived", gone["id"]: "deleted"}


# --- the process, killed --------------------------------------------------------------------


def test_a_sync_process_killed_mid_page_resumes_without_gaps_or_duplicates(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    with FakeShopify(restore_rate=50_000) as fake:
        fake.generate_orders(400, seed=13, start=START)
        env = subprocess_env(
            {
                **os.environ,
                "REPEATCART_DATABASE_URL": url,
                "REPEATCART_SHOPIFY_SHOP": fake.shop,
                "REPEATCART_SHOPIFY_TOKEN": fake.token,
                "REPEATCART_SHOPIFY_BASE_URL": fake.base_url,
            }
        )
        command = [sys.executable, "-m", "services.cli", "sync", "--orders-only", "--no-bulk"]
        fake.delay_next(1000, 0.05)  # slow pages, so the kill lands mid-sync
        process = subprocess.Popen(
            command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while fake.stats.operations["Orders"] < 5 and time.monotonic() < deadline:
            time.sleep(0.02)  # polls the fake's request count; no UI involved
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
        partial = stored_orders(url)
        assert 0 < len(partial) < 400
        fake.clear_faults()
        finished = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True)
        assert finished.returncode == 0, finished.stderr.decode()[-2000:]
        assert "due dates: all" in finished.stdout.decode()
        assert stored_orders(url) == expected_orders(fake)
    get_engine(url).dispose()
    forget_engines()


def test_cursor_overlap_fetches_recent_orders_again(configured: str, fake: FakeShopify) -> None:
    fake.generate_orders(30, seed=14, start=START)
    with client_for(fake) as client:
        sync_orders(client, bulk=False)
        fake.calls.clear()
        sync_orders(client)
    searches = [call["variables"].get("query") for call in fake.calls]
    with Session(get_engine(configured)) as session:
        cursor = session.get(SyncState, "orders").cursor
    overlap_start = (cursor - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"updated_at:>='{overlap_start}'" in searches


def test_an_incremental_sync_relearns_only_what_it_touched(
    configured: str, fake: FakeShopify
) -> None:
    products = fake.generate_products(24, seed=15)
    fake.generate_orders(600, seed=15, products=products, start=START, days=400)
    with client_for(fake) as client:
        sync_products(client)
        sync_orders(client, poll_seconds=0.01)
    with Session(get_engine(configured)) as session:
        before = {s.product_id: (s.median, s.n) for s in session.exec(select(IntervalStat))}
        due_counts = dict(
            session.exec(
                select(DueItem.product_id, func.count()).group_by(DueItem.product_id)
            ).all()
        )
        touched = min(before, key=lambda product_id: due_counts.get(product_id, 0))
        variant_gid = session.exec(
            select(Variant.shopify_gid).where(Variant.product_id == touched)
        ).first()
    # one customer starts buying the product every two days: its median must move
    customer = next(iter(fake.orders.values()))["customer"]
    for day in range(6):
        fake.add_order(
            [(variant_gid, 1)],
            customer=customer,
            created_at=START + timedelta(days=500 + 2 * day),
            updated_at=utcnow(),  # new to Shopify now, whatever its order date
        )
    with client_for(fake) as client:
        report = sync_orders(client)
    assert report.created == 6 and report.recompute == "customers"
    with Session(get_engine(configured)) as session:
        after = {s.product_id: (s.median, s.n) for s in session.exec(select(IntervalStat))}
        assert after[touched] != before[touched]
        assert {p: v for p, v in after.items() if p != touched} == {
            p: v for p, v in before.items() if p != touched
        }
        recompute_all(session, utcnow())
        full = {s.product_id: (s.median, s.n) for s in session.exec(select(IntervalStat))}
    assert after[touched] == full[touched], "the same figures a full relearn gives"


def test_orders_synced_before_the_catalog_land_on_the_real_products(
    configured: str, fake: FakeShopify
) -> None:
    """The worker may run the order sync first: lines must not end on guessed products."""
    products = fake.generate_products(8, seed=16)
    fake.generate_orders(120, seed=16, products=products, start=START)
    with client_for(fake) as client:
        sync_orders(client, bulk=False)
        with Session(get_engine(configured)) as session:
            stubs = session.exec(select(Product.shopify_gid, Product.title)).all()
        assert all(gid.startswith("gid://shopify/Product/") for gid, _ in stubs)
        sync_products(client)
    with Session(get_engine(configured)) as session:
        stored = {p.shopify_gid: p for p in session.exec(select(Product))}
        assert set(stored) == set(fake.products)
        for gid, product in fake.products.items():
            assert stored[gid].title == product["title"]
            assert stored[gid].status == product["status"].lower()
        line_products = session.exec(
            select(Product.shopify_gid).join(OrderLine, OrderLine.product_id == Product.id)
        ).all()
        variants = {v.shopify_gid: v for v in session.exec(select(Variant))}
    assert set(line_products) <= set(fake.products)
    for product in fake.products.values():
        for variant in product["variants"]:
            stored_variant = variants[variant["id"]]
            assert stored_variant.available == variant["availableForSale"]
            assert stored_variant.shopify_id == int(variant["id"].rsplit("/", 1)[1])
