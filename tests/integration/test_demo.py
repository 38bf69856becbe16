"""The generated demo store: deterministic, believable, and with three carts that always work."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from services.cart.page import load_cart
from services.core.config import DEMO_SHOP_DOMAIN
from services.core.db import get_engine, migrate
from services.core.tables import (
    CartEvent,
    CartLink,
    Customer,
    DueItem,
    Order,
    OrderLine,
    Product,
    Shop,
    Variant,
    YmalItem,
)
from services.demo import (
    CATALOG,
    HISTORY_DAYS,
    YMAL_HANDLES,
    DemoRefused,
    DemoSummary,
    build_demo_store,
    product_image_svg,
)

NOW = datetime(2026, 5, 1, 15, 30, tzinfo=UTC)
SMALL = 150

OpenSession = Callable[[str], Session]


@pytest.fixture
def open_session(tmp_path) -> Iterator[OpenSession]:  # noqa: ANN001
    """Sessions on fresh, migrated SQLite files in tmp_path, one file per name."""
    sessions: list[Session] = []
    urls: list[str] = []

    def _open(name: str = "demo") -> Session:
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        if url not in urls:
            migrate(url)
            urls.append(url)
        session = Session(get_engine(url), expire_on_commit=False)
        sessions.append(session)
        return session

    yield _open
    for session in sessions:
        session.close()
    for url in urls:
        get_engine(url).dispose()


def build(session: Session, **kwargs: object) -> DemoSummary:
    kwargs.setdefault("customers", SMALL)
    summary = build_demo_store(session, now=NOW, **kwargs)  # type: ignore[arg-type]
    session.commit()
    return summary


def count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def fingerprint(session: Session) -> dict[str, object]:
    """What must not change between two builds with the same seed and now."""
    return {
        "products": session.exec(
            select(Product.title, Product.handle, Product.status, Product.shopify_gid).order_by(
                Product.handle
            )
        ).all(),
        "variants": session.exec(
            select(Variant.sku, Variant.title, Variant.price_cents, Variant.available).order_by(
                Variant.sku
            )
        ).all(),
        "customers": session.exec(
            select(Customer.email, Customer.phone).order_by(Customer.email)
        ).all(),
        "orders": session.exec(
            select(
                Order.name, Order.processed_at, Order.total_cents, Order.financial_status
            ).order_by(Order.name)
        ).all(),
        "lines": count(session, OrderLine),
    }


# --- determinism -----------------------------------------------------------------------------


def test_same_seed_and_now_build_the_same_store(open_session: OpenSession) -> None:
    first, second, other = open_session("a"), open_session("b"), open_session("c")
    one = build(first, seed=11)
    two = build(second, seed=11)
    three = build(other, seed=12)

    assert fingerprint(first) == fingerprint(second)
    assert (one.products, one.variants, one.customers, one.orders, one.due_customers) == (
        two.products,
        two.variants,
        two.customers,
        two.orders,
        two.due_customers,
    )
    assert one.sample_emails == two.sample_emails
    prices = [row[2] for row in fingerprint(first)["variants"]]  # type: ignore[index]
    other_prices = [row[2] for row in fingerprint(other)["variants"]]  # type: ignore[index]
    assert prices != other_prices or one.orders != three.orders
    assert fingerprint(first)["orders"] != fingerprint(other)["orders"]


# --- what is in it ---------------------------------------------------------------------------


def test_shop_catalog_and_customers_look_like_a_real_store(open_session: OpenSession) -> None:
    session = open_session()
    summary = build(session)

    shop = session.exec(select(Shop)).one()
    assert shop.shop_domain == DEMO_SHOP_DOMAIN == summary.shop_domain
    assert shop.name and shop.currency == "USD"
    assert shop.banner_text and shop.discount_code == "REORDER10"
    assert shop.store_url == f"https://{DEMO_SHOP_DOMAIN}"
    assert (shop.lead_days, shop.default_interval_days, shop.min_reorder_customers) == (3, 30, 5)

    products = session.exec(select(Product)).all()
    variants = session.exec(select(Variant)).all()
    assert 35 <= len(products) == summary.products <= 45
    assert len(variants) == summary.variants
    assert len({p.handle for p in products}) == len(products)
    per_product = Counter(v.product_id for v in variants)
    assert all(1 <= per_product[p.id] <= 3 for p in products)
    for product in products:
        match = re.fullmatch(r"gid://shopify/Product/(\d{13})", product.shopify_gid)
        assert match and int(match.group(1)) == product.shopify_id
        assert product.image_url == f"/demo-images/{product.handle}.svg"
    for variant in variants:
        match = re.fullmatch(r"gid://shopify/ProductVariant/(\d{14})", variant.shopify_gid)
        assert match and int(match.group(1)) == variant.shopify_id
        assert variant.price_cents is not None and 800 <= variant.price_cents <= 7900
        assert variant.sku and variant.image_url is None
    assert len({v.sku for v in variants}) == len(variants)

    customers = session.exec(select(Customer)).all()
    assert len(customers) == SMALL == summary.customers
    assert len({c.email for c in customers}) == SMALL
    assert len({c.shopify_gid for c in customers}) == SMALL
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\d*@example\.com", c.email or "") for c in customers)
    phones = [c.phone for c in customers if c.phone]
    assert 0.4 <= len(phones) / SMALL <= 0.8
    assert all(re.fullmatch(r"\+1\d{3}55501\d{2}", phone) for phone in phones)
    assert all(c.first_name and c.last_name for c in customers)


def test_catalog_has_unavailable_archived_and_replaced_products(open_session: OpenSession) -> None:
    session = open_session()
    build(session)
    products = {p.id: p for p in session.exec(select(Product))}
    out_of_stock = {v.product_id for v in session.exec(select(Variant).where(~Variant.available))}
    archived = [p for p in products.values() if p.status == "archived"]
    replaced = [p for p in products.values() if p.replacement_product_id is not None]

    assert 3 <= len(out_of_stock) <= 4
    assert 2 <= len(archived) <= 3
    assert len(replaced) == 1
    kit = replaced[0]
    target = products[kit.replacement_product_id]  # type: ignore[index]
    assert re.search(r"sample|starter|kit", kit.title, re.IGNORECASE)
    assert target.status == "active" and target.id != kit.id

    ymal = session.exec(select(YmalItem).order_by(YmalItem.position)).all()
    assert [item.position for item in ymal] == list(range(6))
    assert [products[item.product_id].handle for item in ymal] == list(YMAL_HANDLES)
    assert all(products[item.product_id].status == "active" for item in ymal)


def test_orders_span_eighteen_months_and_add_up(open_session: OpenSession) -> None:
    session = open_session()
    summary = build(session)
    orders = session.exec(select(Order).order_by(Order.processed_at, Order.id)).all()
    assert len(orders) == summary.orders
    assert 4 * SMALL <= len(orders) <= 12 * SMALL

    assert [o.name for o in orders] == [f"#{1001 + i}" for i in range(len(orders))]
    assert len({o.shopify_gid for o in orders}) == len(orders)
    assert all(re.fullmatch(r"gid://shopify/Order/\d{13}", o.shopify_gid) for o in orders)
    earliest = NOW - timedelta(days=HISTORY_DAYS + 1)
    for order in orders:
        assert order.processed_at.tzinfo is not None and order.updated_at.tzinfo is not None
        assert earliest <= order.processed_at < NOW
        assert order.updated_at >= order.processed_at
        assert (order.currency, order.source) == ("USD", "demo")
        assert order.customer_id is not None
    assert orders[-1].processed_at > NOW - timedelta(days=7)
    assert orders[0].processed_at < NOW - timedelta(days=HISTORY_DAYS - 60)

    totals: Counter[int] = Counter()
    quantities: Counter[int] = Counter()
    for line in session.exec(select(OrderLine)):
        assert line.product_id is not None and line.variant_id is not None and line.sku
        totals[line.order_id] += (line.unit_price_cents or 0) * line.quantity
        quantities[line.quantity] += 1
    assert all(order.total_cents == totals[order.id] > 0 for order in orders)
    assert quantities[1] > 2 * sum(n for q, n in quantities.items() if q > 1) > 0

    per_customer = Counter(o.customer_id for o in orders)
    assert len(per_customer) == SMALL  # everyone bought at least once
    assert any(n == 1 for n in per_customer.values())  # some bought once only
    assert max(per_customer.values()) >= 5


def test_excluded_orders_exist(open_session: OpenSession) -> None:
    session = open_session()
    build(session)
    orders = session.exec(select(Order)).all()
    cancelled = [o for o in orders if o.cancelled_at is not None]
    refunded = [o for o in orders if o.financial_status == "refunded"]
    tests = [o for o in orders if o.test]
    assert cancelled and refunded and tests
    assert all(o.cancelled_at > o.processed_at for o in cancelled)  # type: ignore[operator]
    assert len(cancelled) + len(refunded) + len(tests) < 0.12 * len(orders)
    normal = [o for o in orders if o.cancelled_at is None and not o.test and o not in refunded]
    assert {o.financial_status for o in normal} == {"paid"}


# --- the three sample carts -----------------------------------------------------------------


def assert_nothing_unavailable_is_selected(summary: DemoSummary, session: Session) -> None:
    for token in summary.sample_tokens.values():
        cart = load_cart(session, token, NOW)
        assert cart is not None
        items = cart.composition.items
        assert not any(item.selected and not item.available for item in items)
        assert len({item.product_id for item in items}) == len(items)


def check_sample_carts(session: Session, summary: DemoSummary) -> None:
    assert summary.sample_emails == {
        "due": "ava.due@example.com",
        "not_due": "noah.fresh@example.com",
        "unavailable": "mia.mixed@example.com",
    }
    carts = {key: load_cart(session, token, NOW) for key, token in summary.sample_tokens.items()}
    assert all(cart is not None for cart in carts.values())

    due = carts["due"].composition  # type: ignore[union-attr]
    assert carts["due"].first_name == "Ava"  # type: ignore[union-attr]
    assert sum(1 for item in due.due if item.selected) >= 2
    assert all(item.available and item.selected for item in due.due)
    assert len(due.previous) >= 2
    assert len(due.selected) == len(due.due)

    fresh = carts["not_due"].composition  # type: ignore[union-attr]
    assert fresh.due == () and fresh.selected == ()
    assert fresh.previous

    mixed = carts["unavailable"].composition  # type: ignore[union-attr]
    assert any(not item.available and not item.selected for item in mixed.due)
    assert any(item.available and item.selected for item in mixed.due)
    assert_nothing_unavailable_is_selected(summary, session)


def test_sample_customers_have_the_promised_carts(open_session: OpenSession) -> None:
    session = open_session()
    summary = build(session)
    check_sample_carts(session, summary)
    for key, email in summary.sample_emails.items():
        customer = session.exec(select(Customer).where(Customer.email == email)).one()
        link = session.exec(select(CartLink).where(CartLink.customer_id == customer.id)).one()
        assert link.token == summary.sample_tokens[key]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sample_carts_hold_for_any_seed_and_a_tiny_store(
    open_session: OpenSession, seed: int
) -> None:
    session = open_session()
    check_sample_carts(session, build(session, seed=seed, customers=3 + seed * 10))


def test_summary_counts_due_customers(open_session: OpenSession) -> None:
    session = open_session()
    summary = build(session)
    due = session.exec(
        select(func.count(func.distinct(DueItem.customer_id))).where(DueItem.remind_at <= NOW)
    ).one()
    assert summary.due_customers == due
    assert 2 <= due < SMALL
    assert count(session, CartLink) == SMALL  # every customer has a cart link


# --- rebuilding and refusing ---------------------------------------------------------------


def test_building_again_replaces_the_demo_store(open_session: OpenSession) -> None:
    session = open_session()
    first = build(session, seed=5)
    second = build(session, seed=6, customers=SMALL // 2)

    assert count(session, Shop) == 1
    assert count(session, Customer) == SMALL // 2 == second.customers
    assert count(session, Order) == second.orders
    assert count(session, Product) == second.products
    assert count(session, CartLink) == SMALL // 2
    for token in first.sample_tokens.values():
        assert load_cart(session, token, NOW) is None
    check_sample_carts(session, second)

    fresh_session = open_session()  # same file, a new session
    third = build(fresh_session, seed=5)
    assert count(fresh_session, Order) == third.orders == first.orders


def test_refuses_to_replace_a_real_shop(open_session: OpenSession) -> None:
    session = open_session()
    session.add(Shop(shop_domain="real-coffee.myshopify.com", name="Real Coffee"))
    session.add(Customer(email="real@example.com"))
    session.commit()

    with pytest.raises(DemoRefused, match="real-coffee.myshopify.com"):
        build_demo_store(session, now=NOW, customers=SMALL)
    session.rollback()
    assert session.exec(select(Shop.shop_domain)).all() == ["real-coffee.myshopify.com"]
    assert count(session, Customer) == 1

    summary = build(session, force=True)
    assert session.exec(select(Shop.shop_domain)).all() == [DEMO_SHOP_DOMAIN]
    assert count(session, Customer) == summary.customers


def test_refuses_data_without_any_shop(open_session: OpenSession) -> None:
    session = open_session()
    session.add(Customer(email="imported@example.com"))
    session.commit()
    with pytest.raises(DemoRefused):
        build_demo_store(session, now=NOW, customers=SMALL)


def test_rejects_a_naive_now_and_too_few_customers(open_session: OpenSession) -> None:
    session = open_session()
    with pytest.raises(ValueError, match="aware"):
        build_demo_store(session, now=NOW.replace(tzinfo=None), customers=SMALL)
    with pytest.raises(ValueError, match="customers"):
        build_demo_store(session, now=NOW, customers=2)


# --- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize("handle", [spec.handle for spec in CATALOG])
def test_product_images_are_small_valid_svg(handle: str) -> None:
    svg = product_image_svg(handle)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert (root.get("width"), root.get("height")) == ("400", "400")
    assert len(svg.encode()) < 2048
    assert svg == product_image_svg(handle)


def test_image_of_an_unknown_or_hostile_handle_is_still_safe() -> None:
    for handle in ["unknown-thing", "", '<script>alert("x")</script>&', "ünïcødé-☕"]:
        svg = product_image_svg(handle)
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and len(svg.encode()) < 2048
        assert "<script" not in svg
    assert product_image_svg("house-blend-coffee") != product_image_svg("soy-wax-candle")


# --- other databases, default size ---------------------------------------------------------


def test_builds_on_every_database(session: Session) -> None:
    """SQLite and PostgreSQL (when reachable, via the shared `database_url` fixture)."""
    summary = build(session, customers=60)
    assert count(session, Order) == summary.orders
    check_sample_carts(session, summary)


def test_default_size_store(open_session: OpenSession) -> None:
    session = open_session()
    summary = build_demo_store(session, now=NOW)
    session.commit()
    assert summary.customers == 1000
    assert 6000 <= summary.orders <= 10000
    assert 0.2 * summary.customers <= summary.due_customers <= 0.9 * summary.customers
    check_sample_carts(session, summary)


def test_a_year_of_cart_activity_ends_in_attributed_orders(open_session: OpenSession) -> None:
    session = open_session()
    build(session)
    kinds = dict(session.exec(select(CartEvent.kind, func.count()).group_by(CartEvent.kind)).all())
    attributed = session.exec(
        select(Order, CartLink)
        .join(CartLink, CartLink.id == Order.attributed_cart_id)  # type: ignore[arg-type]
        .where(Order.attributed_cart_id.is_not(None))  # type: ignore[union-attr]
    ).all()
    assert attributed, "the analytics page needs cart orders to show"
    for order, link in attributed:
        # as a real checkout's order: the customer's own cart, named in the hidden attributes
        assert link.customer_id == order.customer_id
        assert order.custom_attributes["_repeatcart_cart"] == str(link.id)
        assert order.custom_attributes["_repeatcart_channel"] == order.attributed_channel
        assert NOW - timedelta(days=365) <= order.processed_at <= NOW
        assert not order.test and order.cancelled_at is None
    # every cart order had a checkout; some visits ended without one
    assert kinds["checkout"] >= len(attributed)
    assert kinds["view"] > kinds["checkout"]
    first = session.exec(select(func.min(CartEvent.occurred_at))).one()
    assert first is not None and first.replace(tzinfo=UTC) >= NOW - timedelta(days=365)
