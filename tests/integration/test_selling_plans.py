"""Selling plans synced with the catalog from the fake Shopify (its strict schema), and order
lines bought with a plan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from repeatcart_app.state.admin_products import plans_text
from services.core.config import get_settings
from services.core.db import get_engine
from services.core.provider_http import RetryPolicy
from services.core.tables import OrderLine, Product, SellingPlan
from services.ingest.orders import upsert_orders
from services.products.intervals import product_page
from services.shopify import queries
from services.shopify.client import ShopifyClient
from services.shopify.query_cost import MAX_QUERY_COST, requested_cost
from services.shopify.webhook_protocol import order_record
from services.sync.store_sync import sync_orders, sync_products
from tests.fakes.shopify import FakeShopify, order_webhook_payload

FAST_RETRY = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.05)
START = datetime(2026, 1, 5, 10, tzinfo=UTC)

MONTHLY = {"name": "Deliver every month, save 10%", "interval": "MONTH", "percentage": 10}
FORTNIGHT = {"name": "Every 2 weeks", "interval": "WEEK", "interval_count": 2, "amount": "1.50"}
QUARTER = {"name": "Every 3 months at 20.00", "interval": "MONTH", "interval_count": 3, "price": 20}


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


def _client(fake: FakeShopify) -> ShopifyClient:
    return ShopifyClient(fake.shop, fake.token, "2026-10", fake.base_url, policy=FAST_RETRY)


def _plans(url: str, gid: str) -> list[tuple]:
    with Session(get_engine(url)) as session:
        product = session.exec(select(Product).where(Product.shopify_gid == gid)).one()
        rows = session.exec(
            select(SellingPlan)
            .where(SellingPlan.product_id == product.id)
            .order_by(SellingPlan.position)
        ).all()
        return [
            (
                p.group_name,
                p.name,
                p.interval_unit,
                p.interval_count,
                p.interval_days,
                p.adjustment_type,
                p.adjustment_percent,
                p.adjustment_cents,
            )
            for p in rows
        ]


def test_the_queries_stay_within_the_cost_limit() -> None:
    sizes = {
        "variants": queries.VARIANTS_PER_PRODUCT,
        "groups": queries.PLAN_GROUPS_PER_PRODUCT,
        "plans": queries.PLANS_PER_GROUP,
    }
    first = queries.products_page_size()
    assert first >= 5
    assert requested_cost(queries.PRODUCTS_QUERY, {"first": first, **sizes}) <= MAX_QUERY_COST
    follow_up = {"groups": queries.FOLLOW_UP_PLAN_GROUPS, "plans": queries.FOLLOW_UP_PLANS}
    assert requested_cost(queries.PRODUCT_SELLING_PLANS_QUERY, follow_up) <= MAX_QUERY_COST
    assert queries.orders_page_size() >= 10


def test_a_sync_stores_each_products_plans_and_replaces_them(
    configured: str, fake: FakeShopify
) -> None:
    coffee = fake.add_product(
        "Coffee Beans",
        selling_plan_groups=[{"name": "Subscribe and save", "plans": [MONTHLY, FORTNIGHT]}],
    )
    # many plans in many groups: more than a products page carries, completed by a follow-up
    groups = [
        {
            "name": f"Group {g}",
            "plans": [
                {"name": f"G{g} every {w} weeks", "interval": "WEEK", "interval_count": w}
                for w in range(1, 6)
            ],
        }
        for g in range(3)
    ]
    tea = fake.add_product("Green Tea", selling_plan_groups=groups, requires_selling_plan=True)
    plain = fake.add_product("Candle")
    with _client(fake) as client:
        sync_products(client)
    assert _plans(configured, coffee["id"]) == [
        ("Subscribe and save", MONTHLY["name"], "MONTH", 1, 30.4375, "PERCENTAGE", 10.0, None),
        ("Subscribe and save", FORTNIGHT["name"], "WEEK", 2, 14.0, "FIXED_AMOUNT", None, 150),
    ]
    tea_plans = _plans(configured, tea["id"])
    assert len(tea_plans) == 15 and tea_plans[-1][1] == "G2 every 5 weeks"
    assert tea_plans[-1][4] == 35.0
    assert _plans(configured, plain["id"]) == []
    with Session(get_engine(configured)) as session:
        only = dict(session.exec(select(Product.shopify_gid, Product.subscription_only)).all())
    assert only == {coffee["id"]: False, tea["id"]: True, plain["id"]: False}
    with Session(get_engine(configured)) as session:
        rows = {row.title: row for row in product_page(session).rows}
    shown = {title: plans_text(row) for title, row in rows.items()}
    assert shown["Coffee Beans"] == f"Subscription: {MONTHLY['name']}, {FORTNIGHT['name']}"
    assert shown["Green Tea"].startswith("Subscription only: G0 every 1 weeks, ")
    assert shown["Candle"] == ""

    # the merchant drops the fortnightly plan and adds a quarterly one at a fixed price
    fake.update_product(
        coffee["id"],
        selling_plan_groups=[{"name": "Subscribe and save", "plans": [MONTHLY, QUARTER]}],
    )
    fake.update_product(tea["id"], selling_plan_groups=[])
    with _client(fake) as client:
        sync_products(client)
    assert _plans(configured, coffee["id"]) == [
        ("Subscribe and save", MONTHLY["name"], "MONTH", 1, 30.4375, "PERCENTAGE", 10.0, None),
        ("Subscribe and save", QUARTER["name"], "MONTH", 3, 91.3125, "PRICE", None, 2000),
    ]
    assert _plans(configured, tea["id"]) == []


def test_a_plan_shared_by_two_products_is_stored_for_each(
    configured: str, fake: FakeShopify
) -> None:
    shared = {"id": "gid://shopify/SellingPlan/777", **MONTHLY}
    one = fake.add_product("Oat Milk", selling_plan_groups=[{"name": "S", "plans": [shared]}])
    two = fake.add_product("Soy Milk", selling_plan_groups=[{"name": "S", "plans": [shared]}])
    with _client(fake) as client:
        sync_products(client)
    assert len(_plans(configured, one["id"])) == len(_plans(configured, two["id"])) == 1


def test_order_lines_keep_the_selling_plan_they_were_bought_with(
    configured: str, fake: FakeShopify
) -> None:
    coffee = fake.add_product("Coffee Beans", selling_plan_groups=[{"plans": [MONTHLY]}])
    plan_gid = coffee["sellingPlanGroups"][0]["sellingPlans"][0]["id"]
    variant = coffee["variants"][0]["id"]
    fake.add_order(lines=[{"variant": variant, "quantity": 1}], processed_at=START)
    subscribed = fake.add_order(
        lines=[{"variant": variant, "quantity": 1, "selling_plan": plan_gid}], processed_at=START
    )
    with _client(fake) as client:
        sync_products(client)
        sync_orders(client)
    with Session(get_engine(configured)) as session:
        stored = sorted(
            session.exec(select(OrderLine.selling_plan_gid)).all(), key=lambda g: g or ""
        )
    assert stored == [None, plan_gid]

    # an orders/updated webhook (REST: no selling plans on its lines) keeps the plan
    fake.update_order(subscribed["id"], financial_status="PARTIALLY_REFUNDED")
    record = order_record(order_webhook_payload(fake._orders.rows[subscribed["id"]]))
    with Session(get_engine(configured)) as session:
        summary = upsert_orders(session, [record], source="webhook", now=START)
        session.commit()
        assert summary.orders_updated == 1
        stored = sorted(
            session.exec(select(OrderLine.selling_plan_gid)).all(), key=lambda g: g or ""
        )
    assert stored == [None, plan_gid]
