"""The Products page's service: paging in SQL, overrides that re-date carts, the bulk CSV
report, and replacement mappings that can never loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from services.cart.links import get_or_create_link
from services.cart.page import load_cart
from services.core.tables import Customer, DueItem, Order, OrderLine, Product, Shop, Variant
from services.engine.recompute import recompute_all
from services.ingest.catalog import upsert_products
from services.products.intervals import (
    ProductAdminError,
    bulk_override,
    clear_override,
    parse_interval_days,
    product_page,
    set_override,
    set_replacement,
)
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

    first = product_page(session, limit=5)
    assert first.total == 15 and len(first.rows) == 5 and first.offset == 0
    assert [row.title for row in first.rows] == ["Coffee"] + [f"Filler {i:02d}" for i in range(4)]
    last = product_page(session, offset=10, limit=5)
    assert [row.title for row in last.rows] == [
        "Filler 09",
        "Filler 10",
        "Filler 11",
        "Soap",
        "Tea",
    ]

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

    by_median = product_page(session, sort="median", descending=True, limit=2)
    assert by_median.rows[0].title == "Coffee"  # learned first, unlearned (NULL) last
    by_n = product_page(session, sort="n", descending=True, limit=1)
    assert by_n.rows[0].title == "Coffee"
    unknown_sort = product_page(session, sort="price; drop table product", limit=1)
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


# ---- bulk overrides -------------------------------------------------------------------------


def _overrides(session: Session) -> dict[str, float | None]:
    session.expire_all()
    return {p.handle: p.interval_override_days for p in session.exec(select(Product)).all()}


def test_bulk_csv_applies_good_rows_and_reports_each_bad_one(session: Session):
    _, ava, link, products = _coffee_store(session)
    csv_text = (
        "\ufeffHandle,SKU,Days\n"  # Excel's BOM and capitalised headers
        "coffee,,12\n"
        ",TEA-1,45\n"  # by SKU when the handle is empty
        "no-such-thing,,30\n"
        ",NOPE-9,30\n"
        "soap,,thirty\n"
        "soap,,0\n"
        "soap,,9999\n"
        "\n"  # a blank line is skipped, not an error
        "coffee,,12\n"  # duplicate
        "COFFEE,,14\n"  # same product, other value: first row wins
        "soap\n"  # the days column is missing from this row
        ",,5\n"
    )
    report = bulk_override(session, csv_text.encode("utf-8"), NOW)
    session.commit()
    assert report.file_error == ""
    assert report.applied == 2 and report.rows == 11
    problems = {problem.row: problem for problem in report.problems}
    assert sorted(problems) == [4, 5, 6, 7, 8, 10, 11, 12, 13]
    assert "No product has the handle “no-such-thing”" in problems[4].message
    assert "SKU “NOPE-9”" in problems[5].message
    assert "not a number" in problems[6].message and "1 to 730" in problems[6].message
    assert "1 to 730" in problems[7].message and "1 to 730" in problems[8].message
    assert "Duplicate of row 2" in problems[10].message
    assert "row 2" in problems[11].message and "12 days" in problems[11].message
    assert "No days" in problems[12].message
    assert "No handle or SKU" in problems[13].message
    assert problems[6].key == "soap"
    assert _overrides(session) == {"coffee": 12.0, "tea": 45.0, "soap": None}
    # the affected customers were re-dated in the same call
    assert _ava_coffee_due(session, ava, products["coffee"]) == NOW - timedelta(days=8)
    assert "Coffee" in _due_titles(session, link.token)


def test_bulk_csv_by_sku_only_header_and_utf16(session: Session):
    _coffee_store(session)
    report = bulk_override(session, "sku;days\nCOF-1;20\n".replace(";", ","), NOW)
    assert report.applied == 1 and not report.problems
    utf16 = "handle,days\r\ntea,21\r\n".encode("utf-16")  # BOM-marked, as Excel's "Unicode"
    report = bulk_override(session, utf16, NOW)
    session.commit()
    assert report.applied == 1 and not report.problems
    assert _overrides(session) == {"coffee": 20.0, "tea": 21.0, "soap": None}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"\n\n  \n", "The file is empty"),
        (b"\xef\xbb\xbf", "The file is empty"),
        (b"handle,days\n", "no products under it"),
        (b"handle,interval_weeks\ncoffee,4\n", "must name the columns"),
        (b"title,days\nCoffee,4\n", "must name the columns"),
        ("handle,days\ncaf\u00e9,4\ncoffee,9\n".encode("latin-1"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not"),
    ],
)
def test_a_bad_file_is_refused_whole_and_changes_nothing(session: Session, data, message):
    _coffee_store(session)
    report = bulk_override(session, data, NOW)
    session.commit()
    assert message in report.file_error
    assert report.applied == 0
    assert set(_overrides(session).values()) == {None}


def test_a_sku_shared_by_two_products_is_ambiguous(session: Session):
    store = Store(session)
    store.product("Red Mug", sku="MUG")
    store.product("Blue Mug", sku="mug")
    session.commit()
    report = bulk_override(session, "sku,days\nmug,30\n", NOW)
    assert report.applied == 0
    assert "several products" in report.problems[0].message


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
