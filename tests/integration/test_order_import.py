"""Order export CSV → database: customers, orders, catalog matching, replacement, due rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, SQLModel, select

from services.cli import main
from services.core.config import get_settings
from services.core.db import forget_engines, get_engine
from services.core.tables import (
    Customer,
    DueItem,
    IntervalStat,
    Order,
    OrderLine,
    Product,
    Shop,
    Variant,
)
from services.ingest.orders import import_order_export, refresh_due_dates, upsert_orders
from services.shopify.records import LineItemRecord, OrderRecord

NOW = datetime(2025, 12, 1, 12, tzinfo=UTC)
HEADER = (
    "Name,Email,Financial Status,Paid at,Currency,Total,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem sku,Billing Name,Note Attributes,Cancelled at,Id,Phone\n"
)
ORDER_1002 = (
    "#1002,ava@example.com,paid,,EUR,25.00,2025-10-01 10:00:00 +0200,2,Coffee - 1kg,12.50,"
    'COF-1KG,Ava Smith,"_repeatcart_cart: 7\n_repeatcart_channel: klaviyo",{cancelled},1002,\n'
)
ROWS = [
    # line 2-3: SKU match, then a name match in another case
    "#1001,Ava@Example.com,paid,,EUR,37.00,2025-09-01 10:00:00 +0200,2,Coffee - 1kg,12.50,"
    "COF-1KG,Ava Smith,,,1001,\n",
    "#1001,,,,,,,3,tea,4.00,,,,,,\n",
    ORDER_1002,  # lines 4-5 (the attributes span two lines)
    # line 6: phone-only customer; "Product - Variant" name matched to the variant
    "#1003,,paid,,EUR,8.00,2025-09-15 08:00:00 -0500,1,Coffee - 250g,8.00,,Bo Li,,,1003,"
    "+15550001111\n",
    # line 7: an unknown SKU creates a product
    "#1004,,paid,,EUR,30.00,2025-10-20 08:00:00 -0500,1,Mystery Box - Large,30.00,MYS-L,Bo Li,"
    ",,1004,+15550001111\n",
    # lines 8-9: no customer at all; the SKU now matches the product created above
    "#1005,,paid,,EUR,30.00,2025-10-21 08:00:00 +0000,1,Mystery Box - Large,30.00,MYS-L,,,,1005,\n",
    "#1005,,,,,,,0,Tea,4.00,,,,,,\n",
    # line 10: a new variant of the created product
    "#1006,cy@example.com,paid,,EUR,20.00,2025-10-22 08:00:00 +0000,1,Mystery Box - Small,20.00,"
    ",Cy,,,1006,\n",
]


def write_export(path, cancel_1002: bool = False):  # noqa: ANN001
    rows = list(ROWS)
    rows[2] = ORDER_1002.format(cancelled="2025-10-02 09:00:00 +0200" if cancel_1002 else "")
    path.write_text("\ufeff" + HEADER + "".join(rows), encoding="utf-8")
    return path


@pytest.fixture
def catalog(session: Session) -> dict[str, int]:
    """Coffee with two SKU'd variants, Tea with one variant and no SKU."""
    session.add(Shop(shop_domain="tiny.myshopify.com", currency="EUR"))
    coffee = Product(
        shopify_gid="gid://shopify/Product/1", shopify_id=1, title="Coffee", handle="c"
    )
    tea = Product(shopify_gid="gid://shopify/Product/2", shopify_id=2, title="Tea", handle="tea")
    session.add_all([coffee, tea])
    session.flush()
    variants = {
        "coffee_1kg": Variant(
            shopify_gid="gid://shopify/ProductVariant/11",
            shopify_id=11,
            product_id=coffee.id,
            title="1kg",
            sku="COF-1KG",
        ),
        "coffee_250g": Variant(
            shopify_gid="gid://shopify/ProductVariant/12",
            shopify_id=12,
            product_id=coffee.id,
            title="250g",
            sku="COF-250",
        ),
        "tea_v": Variant(
            shopify_gid="gid://shopify/ProductVariant/21", shopify_id=21, product_id=tea.id
        ),
    }
    session.add_all(variants.values())
    session.commit()
    ids = {name: variant.id for name, variant in variants.items()}
    return {"coffee": coffee.id, "tea": tea.id, **ids}


def dump(session: Session) -> dict[str, list[dict]]:
    """Every row of every table the import touches, in key order."""
    session.expire_all()
    tables: list[type[SQLModel]] = [
        Customer,
        Product,
        Variant,
        Order,
        OrderLine,
        DueItem,
        IntervalStat,
        Shop,
    ]
    return {
        model.__name__: [
            row.model_dump()
            for row in session.exec(select(model).order_by(*model.__table__.primary_key.columns))
        ]
        for model in tables
    }


def lines_of(session: Session, name: str) -> list[tuple]:
    order = session.exec(select(Order).where(Order.name == name)).one()
    return [
        (line.product_id, line.variant_id, line.quantity, line.unit_price_cents, line.sku)
        for line in session.exec(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
        )
    ]


def test_import_creates_customers_orders_and_matched_lines(session, catalog, tmp_path):
    report = import_order_export(session, write_export(tmp_path / "orders.csv"), now=NOW)
    session.commit()
    summary = report.summary
    assert (summary.orders_created, summary.orders_updated, summary.orders_unchanged) == (6, 0, 0)
    assert (summary.lines, summary.customers_created, summary.products_created) == (7, 3, 1)
    assert report.rows_read == 8
    assert [(e.line, e.order_name, e.reason) for e in report.errors] == [
        (9, "#1005", "quantity must be positive, got 0 in Lineitem quantity")
    ]

    customers = session.exec(select(Customer).order_by(Customer.id)).all()
    assert [(c.email, c.phone, c.first_name) for c in customers] == [
        ("ava@example.com", None, "Ava"),
        (None, "+15550001111", "Bo"),
        ("cy@example.com", None, "Cy"),
    ]
    ava, bo, _ = customers
    orders = {order.name: order for order in session.exec(select(Order))}
    assert orders["#1001"].customer_id == orders["#1002"].customer_id == ava.id
    assert orders["#1003"].customer_id == orders["#1004"].customer_id == bo.id
    assert orders["#1005"].customer_id is None
    assert orders["#1001"].shopify_gid == "gid://shopify/Order/1001"
    assert orders["#1001"].processed_at == datetime(2025, 9, 1, 8, tzinfo=UTC)
    assert orders["#1001"].source == "csv" and orders["#1001"].currency == "EUR"
    assert orders["#1001"].total_cents == 3700
    assert orders["#1002"].attributed_cart_id == 7
    assert orders["#1002"].attributed_channel == "klaviyo"
    assert orders["#1001"].attributed_cart_id is None

    assert lines_of(session, "#1001") == [
        (catalog["coffee"], catalog["coffee_1kg"], 2, 1250, "COF-1KG"),  # by SKU
        (catalog["tea"], catalog["tea_v"], 3, 400, None),  # by name, any case
    ]
    assert lines_of(session, "#1003") == [
        (catalog["coffee"], catalog["coffee_250g"], 1, 800, None)  # "Coffee - 250g"
    ]

    box = session.exec(select(Product).where(Product.title == "Mystery Box")).one()
    assert (box.shopify_gid, box.handle, box.status) == (
        "csv-product:mystery-box",
        "mystery-box",
        "active",
    )
    box_variants = session.exec(select(Variant).where(Variant.product_id == box.id)).all()
    assert sorted((v.shopify_gid, v.shopify_id, v.title, v.sku) for v in box_variants) == [
        ("csv-variant:mystery-box-large", 0, "Large", "MYS-L"),
        ("csv-variant:mystery-box-small", 0, "Small", None),
    ]
    large = next(v for v in box_variants if v.title == "Large")
    assert (
        lines_of(session, "#1004")
        == lines_of(session, "#1005")
        == [(box.id, large.id, 1, 3000, "MYS-L")]
    )


def test_lines_match_by_ids_then_sku_then_name(session, catalog):
    def item(title: str, sku: str | None = None, **ids: str) -> LineItemRecord:
        return LineItemRecord(title, sku, 1, 100, **ids)

    record = OrderRecord(
        gid="gid://shopify/Order/9",
        name="#9",
        processed_at=NOW - timedelta(days=3),
        updated_at=NOW - timedelta(days=3),
        cancelled_at=None,
        financial_status="paid",
        test=False,
        email=None,
        phone=None,
        customer_gid="gid://shopify/Customer/77",
        first_name="Gid",
        total_cents=500,
        currency="EUR",
        lines=(
            item("Tea", "COF-1KG", variant_gid="gid://shopify/ProductVariant/12"),  # the id wins
            item("Tea", "COF-1KG"),  # then the SKU, whatever the name says
            item("Tea", "NO-SUCH-SKU"),  # then the name
            item("COFFEE - 250G"),  # "Product - Variant", any case
            item("Coffee - Decaf"),  # a real product's unknown variant: no variant invented
        ),
    )
    summary = upsert_orders(session, [record], source="shopify", now=NOW)
    session.commit()
    assert (summary.orders_created, summary.customers_created, summary.products_created) == (
        1,
        1,
        0,
    )
    customer = session.exec(select(Customer)).one()
    assert (customer.shopify_gid, customer.first_name) == ("gid://shopify/Customer/77", "Gid")
    assert lines_of(session, "#9") == [
        (catalog["coffee"], catalog["coffee_250g"], 1, 100, "COF-1KG"),
        (catalog["coffee"], catalog["coffee_1kg"], 1, 100, "COF-1KG"),
        (catalog["tea"], catalog["tea_v"], 1, 100, "NO-SUCH-SKU"),
        (catalog["coffee"], catalog["coffee_250g"], 1, 100, None),
        (catalog["coffee"], None, 1, 100, None),
    ]
    assert len(session.exec(select(Variant)).all()) == 3


def test_due_rows_are_computed_after_the_import(session, catalog, tmp_path):
    import_order_export(session, write_export(tmp_path / "orders.csv"), now=NOW)
    session.commit()
    ava = session.exec(select(Customer).where(Customer.email == "ava@example.com")).one()
    due = {row.product_id: row for row in session.exec(select(DueItem))}
    rows = session.exec(select(DueItem).where(DueItem.customer_id == ava.id)).all()
    assert {row.product_id for row in rows} == {catalog["coffee"], catalog["tea"]}
    coffee = next(row for row in rows if row.product_id == catalog["coffee"])
    assert coffee.last_purchased_at == datetime(2025, 10, 1, 8, tzinfo=UTC)
    assert coffee.computed_at == NOW
    assert len(due) >= 3  # Bo's coffee and box, Cy's box too


def test_importing_the_same_file_twice_changes_nothing(session, catalog, tmp_path):
    path = write_export(tmp_path / "orders.csv")
    import_order_export(session, path, now=NOW)
    session.commit()
    before = dump(session)
    report = import_order_export(session, path, now=NOW + timedelta(hours=1))
    session.commit()
    summary = report.summary
    assert (summary.orders_created, summary.orders_updated, summary.orders_unchanged) == (0, 0, 6)
    assert (summary.customers_created, summary.products_created) == (0, 0)
    assert summary.affected_customer_ids == set()
    assert dump(session) == before


def test_a_changed_order_replaces_the_earlier_version(session, catalog, tmp_path):
    import_order_export(session, write_export(tmp_path / "first.csv"), now=NOW)
    session.commit()
    ava = session.exec(select(Customer).where(Customer.email == "ava@example.com")).one()
    order = session.exec(select(Order).where(Order.name == "#1002")).one()
    old_line_ids = session.exec(select(OrderLine.id).where(OrderLine.order_id == order.id)).all()

    second = write_export(tmp_path / "second.csv", cancel_1002=True)
    report = import_order_export(session, second, now=NOW)
    session.commit()
    summary = report.summary
    assert (summary.orders_created, summary.orders_updated, summary.orders_unchanged) == (0, 1, 5)
    assert summary.affected_customer_ids == {ava.id}
    session.expire_all()
    order = session.exec(select(Order).where(Order.name == "#1002")).one()
    assert order.cancelled_at == datetime(2025, 10, 2, 7, tzinfo=UTC)
    assert order.updated_at == order.cancelled_at
    new_lines = session.exec(select(OrderLine).where(OrderLine.order_id == order.id)).all()
    assert len(new_lines) == 1 and new_lines[0].id not in old_line_ids  # replaced, not added
    assert len(session.exec(select(OrderLine)).all()) == 7
    coffee = session.get(DueItem, (ava.id, catalog["coffee"]))
    assert coffee.last_purchased_at == datetime(2025, 9, 1, 8, tzinfo=UTC)  # #1002 stopped counting

    # the first file again is an older version of #1002: it does not undo the cancellation
    report = import_order_export(session, tmp_path / "first.csv", now=NOW)
    session.commit()
    assert report.summary.orders_unchanged == 6
    session.expire_all()
    assert session.exec(select(Order).where(Order.name == "#1002")).one().cancelled_at is not None


def test_refresh_recomputes_everything_only_when_much_changed(session, catalog):
    customers = [Customer(email=f"c{i}@example.com") for i in range(10)]
    session.add_all(customers)
    session.flush()
    ids = [customer.id for customer in customers]
    assert refresh_due_dates(session, [], NOW) == "none"
    assert refresh_due_dates(session, ids[:1], NOW) == "all"  # nothing learned yet
    session.add(IntervalStat(product_id=catalog["coffee"], p25=20, median=30, p75=40, mean=30, n=9))
    session.flush()
    assert refresh_due_dates(session, ids[:2], NOW) == "customers"
    assert refresh_due_dates(session, ids[:3], NOW) == "all"


@pytest.fixture
def cli_database(database_url, monkeypatch):
    """Points the CLI at the test database, with fresh settings and engines."""
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    get_settings.cache_clear()
    forget_engines()
    yield database_url
    get_engine().dispose()
    get_settings.cache_clear()
    forget_engines()


def test_cli_reports_bad_rows_and_succeeds(cli_database, tmp_path, capsys):
    path = write_export(tmp_path / "orders.csv")
    with path.open("a", encoding="utf-8") as out:
        out.write(
            "#1007,dee@example.com,paid,,EUR,1.00,2025-13-01 10:00:00 +0200,1,Tea,1.00,,,,,,\n"
        )
    assert main(["import-orders", str(path)]) == 0
    captured = capsys.readouterr()
    assert (
        "Imported 6 orders (6 new, 0 updated, 0 unchanged), 7 line items; "
        "3 customers and 3 products created; 2 rows with errors"
    ) in captured.out
    assert "line 9 (#1005): quantity must be positive, got 0 in Lineitem quantity" in captured.out
    assert "line 11 (#1007): bad date '2025-13-01 10:00:00 +0200' in Created at" in captured.out
    assert captured.err == ""  # stderr is not a terminal here: no progress line


def test_cli_refuses_a_binary_file_without_a_traceback(cli_database, tmp_path, capsys):
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    assert main(["import-orders", str(path)]) == 1
    captured = capsys.readouterr()
    assert "not a UTF-8 CSV file" in captured.err and "Traceback" not in captured.err
    assert main(["import-orders", str(tmp_path / "missing.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("attributes", "moment"),
    [
        ({"_repeatcart_cart": "7", "_repeatcart_moment": "lapse"}, "lapse"),
        ({"_repeatcart_cart": "7", "_repeatcart_moment": " Due "}, "due"),
        ({"_repeatcart_cart": "7", "_repeatcart_moment": "birthday"}, None),  # not a Moment
        ({"_repeatcart_cart": "7"}, None),
    ],
)
def test_an_order_is_attributed_to_the_moment_its_checkout_carried(
    session, catalog, attributes: dict[str, str], moment: str | None
):
    record = OrderRecord(
        gid="gid://shopify/Order/31",
        name="#31",
        processed_at=NOW - timedelta(days=1),
        updated_at=NOW - timedelta(days=1),
        cancelled_at=None,
        financial_status="paid",
        test=False,
        email="mo@example.com",
        phone=None,
        customer_gid=None,
        first_name="Mo",
        total_cents=1200,
        currency="EUR",
        attributes=attributes,
        lines=(LineItemRecord("Coffee - 1kg", "COF-1KG", 1, 1200),),
    )
    upsert_orders(session, [record], source="shopify", now=NOW)
    session.commit()
    order = session.exec(select(Order).where(Order.shopify_gid == record.gid)).one()
    assert (order.attributed_cart_id, order.attributed_moment) == (7, moment)
