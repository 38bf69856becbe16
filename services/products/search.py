"""Finding products, the one way every dashboard list and picker does it: the typed text in a
product's title, its handle or any of its variants' SKUs, ignoring case.

The Products table filters with `product_filter`; the pickers (YMAL, replacement) take the
first matches from `search_products`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import Session, col, select

from services.core.db import session_scope
from services.core.search import contains
from services.core.tables import PRODUCT_SOLD_STATUS, Product, Variant

MAX_QUERY_LENGTH = 200
DEFAULT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class ProductHit:
    """A product as a picker lists it."""

    product_id: int
    title: str
    handle: str
    sku: str  # its first variant's SKU, "" when no variant has one
    image_url: str
    status: str

    @property
    def sold(self) -> bool:
        return self.status == PRODUCT_SOLD_STATUS


def clean_query(query: str | None) -> str:
    """The search text, trimmed and cut short: a search box is not a place for essays."""
    return (query or "").strip()[:MAX_QUERY_LENGTH]


def product_filter(query: str | None) -> ColumnElement[bool] | None:
    """Title, handle or any variant's SKU containing the text; None when there is no text."""
    text = clean_query(query)
    if not text:
        return None
    sku_match = exists().where(
        col(Variant.product_id) == col(Product.id), contains(col(Variant.sku), text)
    )
    return or_(contains(col(Product.title), text), contains(col(Product.handle), text), sku_match)


def first_sku() -> ScalarSelect[str | None]:
    """The SKU of a product's first variant that has one (in Shopify's variant order), for each
    row of a statement over `Product`."""
    return (
        select(Variant.sku)
        .where(col(Variant.product_id) == col(Product.id), col(Variant.sku).is_not(None))
        .order_by(col(Variant.position), col(Variant.id))
        .limit(1)
        .correlate(Product)
        .scalar_subquery()
    )


def _hits(session: Session, condition: ColumnElement[bool] | None, limit: int) -> list[ProductHit]:
    statement = select(Product, first_sku().label("sku"))
    if condition is not None:
        statement = statement.where(condition)
    statement = statement.order_by(func.lower(Product.title), col(Product.id)).limit(limit)
    return [
        ProductHit(
            product_id=product.id or 0,
            title=product.title,
            handle=product.handle,
            sku=sku or "",
            image_url=product.image_url or "",
            status=product.status,
        )
        for product, sku in session.exec(statement)
    ]


def search_products(
    session: Session, query: str | None, *, sold_only: bool = False, limit: int = DEFAULT_LIMIT
) -> list[ProductHit]:
    """The first `limit` products matching `query` (all of them for no text), A to Z."""
    conditions = [] if (found := product_filter(query)) is None else [found]
    if sold_only:
        conditions.append(col(Product.status) == PRODUCT_SOLD_STATUS)
    return _hits(session, and_(*conditions) if conditions else None, limit)


def find_products(
    query: str | None, *, sold_only: bool = False, limit: int = DEFAULT_LIMIT
) -> list[ProductHit]:
    """`search_products` in a transaction of its own, for a dashboard picker."""
    with session_scope() as session:
        return search_products(session, query, sold_only=sold_only, limit=limit)


def products_in_order(session: Session, product_ids: Sequence[int]) -> list[ProductHit]:
    """The products of `product_ids` in that order (ids of deleted products are skipped)."""
    if not product_ids:
        return []
    found = {
        hit.product_id: hit
        for hit in _hits(session, col(Product.id).in_(product_ids), len(product_ids))
    }
    return [found[product_id] for product_id in product_ids if product_id in found]
