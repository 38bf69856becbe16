"""The Alembic migrations build exactly the SQLModel schema, on SQLite and PostgreSQL."""

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from services.core.clock import utcnow
from services.core.db import get_engine, migrate
from services.core.tables import CartLink, Customer, DueItem, Order, Product, Variant


def test_migrations_match_the_models(database_url):
    with get_engine(database_url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def test_migrate_twice_is_harmless(database_url):
    migrate(database_url)
    tables = set(inspect(get_engine(database_url)).get_table_names())
    assert {"orders", "order_line", "due_item", "cart_link", "cart_event", "shop"} <= tables


def test_due_rows_are_indexed_by_remind_date(database_url):
    indexes = inspect(get_engine(database_url)).get_indexes("due_item")
    assert any(index["column_names"] == ["remind_at"] for index in indexes)


def test_datetimes_come_back_aware_utc(session: Session):
    customer = Customer(email="a@example.com")
    session.add(customer)
    session.flush()
    placed = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    session.add(
        Order(shopify_gid="gid://shopify/Order/1", customer_id=customer.id, processed_at=placed)
    )
    session.commit()
    session.expire_all()
    order = session.exec(select(Order)).one()
    assert order.processed_at == placed
    assert order.processed_at.tzinfo is not None
    assert order.processed_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(session: Session):
    session.add(Customer(email="b@example.com", created_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive"):
        session.commit()


def test_large_shopify_ids_fit(session: Session):
    product = Product(shopify_gid="gid://shopify/Product/9", title="P", handle="p")
    session.add(product)
    session.flush()
    big = 98765432109876543
    session.add(
        Variant(
            shopify_gid=f"gid://shopify/ProductVariant/{big}", shopify_id=big, product_id=product.id
        )
    )
    session.commit()
    assert session.exec(select(Variant.shopify_id)).one() == big


def test_cart_tokens_are_unique(session: Session):
    customer = Customer(email="c@example.com")
    session.add(customer)
    session.flush()
    session.add(CartLink(customer_id=customer.id, token="t" * 32))
    session.add(CartLink(customer_id=customer.id, token="t" * 32))
    with pytest.raises(IntegrityError):
        session.commit()


def test_one_due_row_per_customer_and_product(session: Session):
    customer = Customer(email="d@example.com")
    product = Product(shopify_gid="gid://shopify/Product/1", title="P", handle="p")
    session.add_all([customer, product])
    session.flush()
    now = utcnow()
    for _ in range(2):
        session.add(
            DueItem(
                customer_id=customer.id,
                product_id=product.id,
                last_purchased_at=now,
                last_quantity=1,
                interval_days=30,
                interval_source="default",
                due_at=now,
                remind_at=now,
                late_at=now,
            )
        )
    with pytest.raises(IntegrityError):
        session.commit()
