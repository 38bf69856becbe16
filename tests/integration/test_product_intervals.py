"""The Products page's service: paging in SQL, overrides that re-date carts, and replacement
mappings that can never loop (the CSV of overrides: `test_bulk_overrides.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from services.cart.links import get_or_create_link
from services.cart.page import load_cart
from services.core.db import get_engine
from services.core.tables import Customer, DueItem, Order, OrderLine, Product, Shop, Variant
from services.engine.recompute import recompute_all
from services.ingest.catalog import upsert_products
from services.products.intervals import (
    ProductAdminError,
    clear_override,
    load_product_page,
    parse_interval_days,
    product_page,
    remove_override,
    save_override,
    save_replacement,
    set_override,
    set_replacement,
)
from services.products.search import find_products, search_products
from services.shopify.records import ProductRecord

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class Store:
    """A small store written straight into the tables."""

    def __init__(self, session: Session, *, first_id: int = 0) -> None:
        self.session = session
        self.count = first_id
        if session.exec(select(Shop)).first() is None:
            session.add(
                Shop(shop_domain="tiny.myshopify.com", name="Tiny", min_reorder_customers=2)
            )
            session.flush()

    def product(
        self,
        title: str,
        sku: str | None = None,
        available: bool = True,
        status: str = "active",
    ) -> tuple[Product, Variant]:
        self.count += 1
        n = self.count
        product = Product(
            shopify_gid=f"gid://shopify/Product/{n}",
            shopify_id=n,
            title=title,
            handle=title.lower().replace(" ", "-"),
            status=status,
        )
        self.session.add(product)
        self.session.flush()
        variant = Variant(
            shopify_gid=f"gid://shopify/ProductVariant/{n}00",
            shopify_id=n * 100,
            product_id=product.id,
            price_cents=1000,
            available=available,
            sku=sku,
        )
        self.session.add(variant)
        self.session.flush()
        return product, variant

    def customer(self, email: str) -> Customer:
        customer = Customer(email=email, first_name=email.split("@")[0].title())
        self.session.add(customer)
        self.session.flush()
        return customer

    def order(self, customer: Customer, days_ago: float, variant: Variant, quantity: int = 1):
        self.count += 1
        order = Order(
            shopify_gid=f"gid://shopify/Order/{self.count}",
            customer_id=customer.id,
            processed_at=NOW - timedelta(days=days_ago),
            financial_status="paid",
        )
        self.session.add(order)
        self.session.flush()
        self.session.add(
            OrderLine(
                order_id=order.id,
                product_id=variant.product_id,
                variant_id=variant.id,
                quantity=quantity,
            )
        )
        self.session.flush()


def _coffee_store(session: Session):
    """Regulars teach a 30-day coffee interval; Ava last bought coffee 20 days ago (not due)."""
    store = Store(session)
    coffee, coffee_v = store.product("Coffee", sku="COF-1")
    tea, tea_v = store.product("Tea", sku="TEA-1")
    soap, _ = store.product("Soap", sku="SOAP-1", available=False)
    for i in range(3):
        regular = store.customer(f"regular{i}@example.com")
        for days in (120, 90, 60, 30):
            store.order(regular, days, coffee_v)
    ava = store.customer("ava@example.com")
    store.order(ava, 50, coffee_v)
    store.order(ava, 20, coffee_v)
    store.order(ava, 5, tea_v)
    recompute_all(session, NOW)
    link = get_or_create_link(session, ava.id)
    session.commit()
    return store, ava, link, {"coffee": coffee, "tea": tea, "soap": soap}


def _due_titles(session: Session, token: str) -> list[str]:
    cart = load_cart(session, token, NOW)
    assert cart is not None
    return [item.title for item in cart.composition.due]


def _ava_coffee_due(session: Session, ava: Customer, coffee: Product) -> datetime:
    row = session.exec(
        select(DueItem).where(DueItem.customer_id == ava.id, DueItem.product_id == coffee.id)
    ).one()
    session.refresh(row)
    return row.due_at


# ---- the page -------------------------------------------------------------------------------


def test_page_searches_sorts_and_pages_in_sql(session: Session):
    _, _, _, products = _coffee_store(session)
    store = Store(session, first_id=100)
    for index in range(12):
        store.product(f"Filler {index:02d}", sku=f"FIL-{index:02d}")
    session.commit()

    first = product_page(session, page_size=5)
    assert first.total == 15 and len(first.rows) == 5 and first.page == 1 and first.pages == 3
    assert [row.title for row in first.rows] == ["Coffee"] + [f"Filler {i:02d}" for i in range(4)]
    last = product_page(session, page=3, page_size=5)
    assert (last.first, last.last) == (11, 15)
    assert [row.title for row in last.rows] == [
        "Filler 09",
        "Filler 10",
        "Filler 11",
        "Soap",
        "Tea",
    ]
    assert product_page(session, page=99, page_size=5).rows == last.rows  # past the end: last
    assert product_page(session, page=-1, page_size=5).page == 1

    by_sku = product_page(session, search="tea-1")
    assert by_sku.total == 1 and by_sku.rows[0].title == "Tea"
    by_handle = product_page(session, search="FILLER-1")
    assert by_handle.total == 2
    literal = product_page(session, search="%")  # a wildcard typed in the box matches itself
    assert literal.total == 0

    coffee = product_page(session, search="coffee").rows[0]
    assert coffee.n == 4 and coffee.median == pytest.approx(30.0)
    assert coffee.p25 is not None and coffee.p25 <= coffee.median <= coffee.p75
    assert (coffee.effective_days, coffee.effective_source) == (pytest.approx(30.0), "product")
    assert coffee.available and coffee.sku == "COF-1"

    by_median = product_page(session, sort="median", descending=True, page_size=2)
    assert by_median.rows[0].title == "Coffee"  # learned first, unlearned (NULL) last
    by_n = product_page(session, sort="n", descending=True, page_size=1)
    assert by_n.rows[0].title == "Coffee"
    unknown_sort = product_page(session, sort="price; drop table product", page_size=1)
    assert unknown_sort.rows[0].title == "Coffee"  # falls back to title

    soap = product_page(session, search="soap").rows[0]
    assert not soap.available  # its only variant is out of stock
    assert soap.effective_source in {"store", "default"}


def test_a_draft_product_is_not_available_even_with_stock(session: Session):
    store = Store(session)
    store.product("Draft Thing", status="draft")
    session.commit()
    row = product_page(session).rows[0]
    assert row.status == "draft" and not row.available


def test_pickers_search_the_way_the_table_does(session: Session):
    store = Store(session)
    store.product("Coffee 100%", sku="COF_1")
    store.product("coffee beans", sku="BEAN-1", status="draft")
    store.product("Tea", sku="TEA-1")
    session.commit()
    assert [hit.title for hit in search_products(session, "COFFEE")] == [
        "Coffee 100%",
        "coffee beans",
    ]  # A to Z, ignoring case
    assert [hit.title for hit in search_products(session, "coffee", sold_only=True)] == [
        "Coffee 100%"
    ]
    hit = search_products(session, "cof_1")[0]  # by SKU; `_` is not a wildcard
    assert (hit.title, hit.sku, hit.sold) == ("Coffee 100%", "COF_1", True)
    assert search_products(session, "bean")[0].status == "draft"
    assert search_products(session, "100%")[0].title == "Coffee 100%"
    assert [hit.title for hit in search_products(session, "%")] == ["Coffee 100%"]  # literally
    assert search_products(session, "c%e") == [] and search_products(session, "t_a") == []
    assert len(search_products(session, "", limit=2)) == 2
    for query in ("coffee", "cof_1", "%", ""):
        table = [row.id for row in product_page(session, search=query).rows]
        assert [hit.product_id for hit in search_products(session, query)] == table


@pytest.mark.usefixtures("app_database")
def test_the_dashboard_use_cases_each_commit_on_their_own(database_url: str):
    with Session(get_engine(database_url), expire_on_commit=False) as session:
        _, _, _, products = _coffee_store(session)
    coffee, tea = products["coffee"], products["tea"]
    assert save_override(coffee.id, "12") == 12.0
    shown = load_product_page("coffee")
    assert (shown.total, shown.rows[0].override_days) == (1, 12.0)
    remove_override(coffee.id)
    assert load_product_page("coffee").rows[0].override_days is None
    save_replacement(coffee.id, tea.id)
    assert load_product_page("coffee").rows[0].replacement_title == "Tea"
    with pytest.raises(ProductAdminError, match="loop"):
        save_replacement(tea.id, coffee.id)
    assert [hit.title for hit in find_products("t", limit=5)] == ["Tea"]
    assert load_product_page(page=9, page_size=2).page == 2


# ---- single overrides -----------------------------------------------------------------------


def test_an_override_changes_the_next_cart_load_and_clearing_restores_it(session: Session):
    _, ava, link, products = _coffee_store(session)
    coffee = products["coffee"]
    assert "Coffee" not in _due_titles(session, link.token)  # due in ten days

    saved = set_override(session, coffee.id, "12", NOW)
    session.commit()
    assert saved == 12.0
    assert _ava_coffee_due(session, ava, coffee) == NOW - timedelta(days=20) + timedelta(days=12)
    assert "Coffee" in _due_titles(session, link.token)
    row = product_page(session, search="coffee").rows[0]
    assert (row.override_days, row.effective_days, row.effective_source) == (12.0, 12.0, "override")

    set_override(session, coffee.id, 700, NOW)
    session.commit()
    assert "Coffee" not in _due_titles(session, link.token)

    clear_override(session, coffee.id, NOW)
    session.commit()
    assert session.get(Product, coffee.id).interval_override_days is None
    assert "Coffee" not in _due_titles(session, link.token)
    due = _ava_coffee_due(session, ava, coffee)
    assert timedelta(days=5) < due - NOW < timedelta(days=15)  # back on the learned cadence


@pytest.mark.parametrize("raw", ["0", "-3", "731", "100000", "abc", "", "  ", "nan", "inf", None])
def test_absurd_intervals_are_refused_with_the_allowed_range(session: Session, raw):
    _, ava, _, products = _coffee_store(session)
    before = _ava_coffee_due(session, ava, products["coffee"])
    with pytest.raises(ProductAdminError, match="from 1 to 730"):
        set_override(session, products["coffee"].id, raw, NOW)
    session.rollback()
    assert session.get(Product, products["coffee"].id).interval_override_days is None
    assert _ava_coffee_due(session, ava, products["coffee"]) == before


def test_interval_bounds_are_inclusive():
    assert parse_interval_days("1") == 1.0
    assert parse_interval_days(" 730 ") == 730.0
    assert parse_interval_days("45.5") == 45.5


def test_an_override_for_a_missing_product_is_refused(session: Session):
    _coffee_store(session)
    with pytest.raises(ProductAdminError, match="no longer exists"):
        set_override(session, 99_999, "30", NOW)


# ---- replacements ---------------------------------------------------------------------------


def test_replacement_is_shown_on_the_next_cart_and_loops_are_refused(session: Session):
    store, ava, link, products = _coffee_store(session)
    coffee, tea, soap = products["coffee"], products["tea"], products["soap"]
    new_coffee, new_coffee_v = store.product("Coffee V2", sku="COF-2")
    session.commit()

    with pytest.raises(ProductAdminError, match="cannot replace itself"):
        set_replacement(session, coffee.id, coffee.id, NOW)
    with pytest.raises(ProductAdminError, match="no longer exists"):
        set_replacement(session, coffee.id, 99_999, NOW)

    set_override(session, coffee.id, "12", NOW)  # coffee due, so it shows in the due section
    set_replacement(session, coffee.id, new_coffee.id, NOW)
    session.commit()
    assert "Coffee V2" in _due_titles(session, link.token)
    assert "Coffee" not in _due_titles(session, link.token)
    row = product_page(session, search="coffee", sort="title").rows[0]
    assert (row.title, row.replacement_id, row.replacement_title) == (
        "Coffee",
        new_coffee.id,
        "Coffee V2",
    )

    with pytest.raises(ProductAdminError, match="loop"):
        set_replacement(session, new_coffee.id, coffee.id, NOW)  # V2 -> Coffee -> V2
    set_replacement(session, new_coffee.id, tea.id, NOW)  # Coffee -> V2 -> Tea
    with pytest.raises(ProductAdminError, match="loop"):
        set_replacement(session, tea.id, coffee.id, NOW)  # Tea -> Coffee -> V2 -> Tea
    set_replacement(session, soap.id, coffee.id, NOW)  # a chain into it is fine
    session.commit()
    assert session.get(Product, tea.id).replacement_product_id is None

    set_replacement(session, coffee.id, None, NOW)
    session.commit()
    assert session.get(Product, coffee.id).replacement_product_id is None
    assert "Coffee" in _due_titles(session, link.token)


def test_merchant_settings_do_not_hide_a_shopify_edit_made_before_them(session: Session):
    """`updated_at` is Shopify's clock ("newer wins" in the catalog sync): an override or a
    replacement set on our side must not make an earlier Shopify edit look stale."""
    store = Store(session)
    soap, _ = store.product("Soap", sku="SOAP")
    refill, _ = store.product("Soap Refill", sku="REFILL")
    shopify_time = NOW - timedelta(days=3)
    soap.updated_at = shopify_time
    session.add(soap)
    session.commit()
    set_override(session, soap.id, "21", NOW)
    set_replacement(session, soap.id, refill.id, NOW)
    session.commit()
    assert session.get(Product, soap.id).updated_at == shopify_time
    renamed = ProductRecord(
        gid=soap.shopify_gid,
        title="Soap Bar",
        handle="soap",
        status="active",
        updated_at=NOW - timedelta(hours=1),  # edited in Shopify before the override was saved
    )
    upsert_products(session, [renamed], NOW)
    session.commit()
    assert session.get(Product, soap.id).title == "Soap Bar"
