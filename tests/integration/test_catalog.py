"""Catalog records → products and variants, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event
from sqlmodel import Session, select

from services.core.tables import Product, Variant
from services.ingest.catalog import CatalogSummary, mark_missing_products_deleted, upsert_products
from services.shopify.records import ProductRecord, VariantRecord

NOW = datetime(2025, 12, 1, 12, tzinfo=UTC)
T1 = datetime(2025, 11, 1, tzinfo=UTC)


def variant(number: int, **changes: object) -> VariantRecord:
    values = {
        "gid": f"gid://shopify/ProductVariant/{number}",
        "title": f"Size {number}",
        "sku": f"SKU-{number}",
        "price_cents": 1000 + number,
        "available": True,
    }
    values.update(changes)
    return VariantRecord(**values)  # type: ignore[arg-type]


def product(number: int, *variants: VariantRecord, **changes: object) -> ProductRecord:
    values = {
        "gid": f"gid://shopify/Product/{number}",
        "title": f"Product {number}",
        "handle": f"product-{number}",
        "status": "active",
        "updated_at": T1,
        "image_url": f"https://cdn.example/{number}.png",
        "variants": variants or (variant(number * 10),),
    }
    values.update(changes)
    return ProductRecord(**values)  # type: ignore[arg-type]


def stored(session: Session) -> dict[str, tuple]:
    session.expire_all()
    products = {p.id: p for p in session.exec(select(Product))}
    return {
        v.shopify_gid: (
            products[v.product_id].shopify_gid,
            products[v.product_id].status,
            v.title,
            v.price_cents,
            v.available,
            v.position,
        )
        for v in session.exec(select(Variant))
    }


def test_creates_products_with_variants_and_numeric_ids(session):
    summary = upsert_products(
        session, [product(1, variant(11), variant(12, available=False)), product(2)], NOW
    )
    session.commit()
    assert summary == CatalogSummary(created=2, variants_created=3)
    coffee = session.exec(select(Product).where(Product.shopify_id == 1)).one()
    assert (coffee.title, coffee.handle, coffee.status, coffee.image_url) == (
        "Product 1",
        "product-1",
        "active",
        "https://cdn.example/1.png",
    )
    assert coffee.updated_at == T1
    assert stored(session) == {
        "gid://shopify/ProductVariant/11": (
            "gid://shopify/Product/1",
            "active",
            "Size 11",
            1011,
            True,
            0,
        ),
        "gid://shopify/ProductVariant/12": (
            "gid://shopify/Product/1",
            "active",
            "Size 12",
            1012,
            False,
            1,
        ),
        "gid://shopify/ProductVariant/20": (
            "gid://shopify/Product/2",
            "active",
            "Size 20",
            1020,
            True,
            0,
        ),
    }
    assert {v.shopify_id for v in session.exec(select(Variant))} == {11, 12, 20}


def test_update_changes_fields_and_marks_dropped_variants_unavailable(session):
    upsert_products(session, [product(1, variant(11), variant(12)), product(2)], NOW)
    session.commit()
    later = T1 + timedelta(days=1)
    summary = upsert_products(
        session,
        [
            product(
                1, variant(12, price_cents=999), variant(13), updated_at=later, status="archived"
            ),
            product(2),  # the same as stored
        ],
        NOW,
    )
    session.commit()
    assert summary == CatalogSummary(updated=1, unchanged=1, variants_created=1, variants_updated=2)
    rows = stored(session)
    assert rows["gid://shopify/ProductVariant/11"][1:] == ("archived", "Size 11", 1011, False, 0)
    assert rows["gid://shopify/ProductVariant/12"][3:] == (999, True, 0)
    assert rows["gid://shopify/ProductVariant/13"][4:] == (True, 1)
    archived = session.exec(select(Product).where(Product.shopify_id == 1)).one()
    assert not archived.sold


def test_an_older_record_never_overwrites_a_newer_product(session):
    newer = T1 + timedelta(hours=1)
    upsert_products(session, [product(1, title="New title", updated_at=newer)], NOW)
    session.commit()
    summary = upsert_products(session, [product(1, title="Old title", status="draft")], NOW)
    session.commit()
    assert summary == CatalogSummary(unchanged=1)
    stored_product = session.exec(select(Product)).one()
    assert (stored_product.title, stored_product.status) == ("New title", "active")


def test_the_same_records_twice_write_nothing(session, database_url):
    records = [product(n, variant(n * 10), variant(n * 10 + 1)) for n in range(1, 30)]
    upsert_products(session, records, NOW)
    session.commit()
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # noqa: ANN001, ANN002
        statements.append(statement.split()[0].upper())

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        summary = upsert_products(session, records, NOW, batch_size=100)
        session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert summary == CatalogSummary(unchanged=29)
    # one query for the products and one for their variants, whatever the batch holds
    assert statements.count("SELECT") == 2
    assert not {"INSERT", "UPDATE", "DELETE"} & set(statements)


def test_a_variant_moved_to_another_product_follows_it(session):
    upsert_products(session, [product(1, variant(11), variant(12))], NOW)
    session.commit()
    later = T1 + timedelta(days=1)
    upsert_products(
        session,
        [product(1, variant(11), updated_at=later), product(2, variant(12), updated_at=later)],
        NOW,
    )
    session.commit()
    rows = stored(session)
    assert rows["gid://shopify/ProductVariant/12"][0] == "gid://shopify/Product/2"
    assert rows["gid://shopify/ProductVariant/12"][4] is True


def test_full_pass_marks_unseen_shopify_products_deleted_only(session):
    upsert_products(session, [product(1), product(2), product(3)], NOW)
    session.add(Product(shopify_gid="csv-product:tea", title="Tea", handle="tea"))
    session.add(Product(shopify_gid="demo:coffee", title="Demo", handle="demo"))
    session.commit()
    seen = {"gid://shopify/Product/1"}
    assert mark_missing_products_deleted(session, seen, NOW) == 2
    session.commit()
    statuses = {p.shopify_gid: p.status for p in session.exec(select(Product))}
    assert statuses == {
        "gid://shopify/Product/1": "active",
        "gid://shopify/Product/2": "deleted",
        "gid://shopify/Product/3": "deleted",
        "csv-product:tea": "active",
        "demo:coffee": "active",
    }
    assert mark_missing_products_deleted(session, seen, NOW) == 0  # already deleted

    # Shopify lists it again (same updated_at): it comes back
    summary = upsert_products(session, [product(2)], NOW)
    session.commit()
    assert summary.updated == 1
    assert session.exec(select(Product.status).where(Product.shopify_id == 2)).one() == "active"
