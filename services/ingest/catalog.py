"""Writes Shopify catalog records (products, their variants and selling plans) into the database.

Product webhooks and the GraphQL catalog sync both write through it, so they agree on what
"newer", "unavailable" and "deleted" mean. Work is done in batches with one query for the
stored products and one for their variants; the caller owns the transaction (flush, no commit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import delete, insert, or_, update
from sqlmodel import Session, col, select

from services.core.tables import Product, SellingPlan, Variant
from services.shopify.records import ProductRecord, SellingPlanRecord, VariantRecord, gid_tail

__all__ = [
    "SHOPIFY_PRODUCT_PREFIX",
    "CatalogSummary",
    "mark_missing_products_deleted",
    "upsert_products",
]

SHOPIFY_PRODUCT_PREFIX = "gid://shopify/Product/"
"""Only products with this gid came from Shopify's catalog; CSV and demo products are ours."""
DELETED_STATUS = "deleted"
_CHUNK = 500
"""Ids per `IN (...)` list: well under SQLite's parameter limit."""


@dataclass(frozen=True, slots=True)
class CatalogSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    plans_written: int = 0  # products whose selling plans were replaced


@dataclass(slots=True)
class _Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    plans_written: int = 0


def upsert_products(
    session: Session,
    records: Iterable[ProductRecord],
    now: datetime,
    *,
    batch_size: int = _CHUNK,
) -> CatalogSummary:
    """Create or update products and their variants by gid.

    A product whose stored `updated_at` is newer than the record's is left alone (webhooks
    arrive out of order and a sync page may be older than a webhook). Variants the record no
    longer lists are marked unavailable, never deleted: order lines and due rows point at them.
    Products that are not "active" stop being offered in carts through their status alone.
    `updated_at` stores Shopify's time, never `now`, so the newer-wins comparison stays on one
    clock; `now` is taken for the writers' common signature.
    """
    counts = _Counts()
    iterator = iter(records)
    while batch := list(islice(iterator, batch_size)):
        _upsert_batch(session, batch, counts)
        session.flush()
    return CatalogSummary(
        created=counts.created,
        updated=counts.updated,
        unchanged=counts.unchanged,
        variants_created=counts.variants_created,
        variants_updated=counts.variants_updated,
        plans_written=counts.plans_written,
    )


def mark_missing_products_deleted(session: Session, seen_gids: set[str], now: datetime) -> int:
    """After a full catalog pass: Shopify products that were not seen get status "deleted".

    Products created from an order export or the demo (other gid prefixes) are never touched.
    `updated_at` keeps Shopify's time (not `now`), so the product is restored as soon as
    Shopify lists it again.
    """
    rows = session.exec(
        select(Product.id, Product.shopify_gid).where(
            col(Product.shopify_gid).startswith(SHOPIFY_PRODUCT_PREFIX),
            Product.status != DELETED_STATUS,
        )
    ).all()
    missing = [product_id for product_id, gid in rows if gid not in seen_gids]
    for start in range(0, len(missing), _CHUNK):
        session.execute(
            update(Product)
            .where(col(Product.id).in_(missing[start : start + _CHUNK]))
            .values(status=DELETED_STATUS)
        )
    session.flush()
    return len(missing)


def _upsert_batch(session: Session, batch: list[ProductRecord], counts: _Counts) -> None:
    records = list({record.gid: record for record in batch}.values())  # the last copy wins
    existing = {
        product.shopify_gid: product
        for product in session.exec(
            select(Product).where(col(Product.shopify_gid).in_([r.gid for r in records]))
        )
    }
    variant_gids = [variant.gid for record in records for variant in record.variants]
    product_ids = [product.id for product in existing.values()]
    conditions = []
    if variant_gids:
        conditions.append(col(Variant.shopify_gid).in_(variant_gids))
    if product_ids:
        conditions.append(col(Variant.product_id).in_(product_ids))
    stored_variants: dict[str, Variant] = {}
    by_product: dict[int, list[Variant]] = {}
    if conditions:
        for variant in session.exec(select(Variant).where(or_(*conditions))):
            stored_variants[variant.shopify_gid] = variant
            by_product.setdefault(variant.product_id, []).append(variant)

    fresh: list[tuple[ProductRecord, Product]] = []
    for record in records:
        product = existing.get(record.gid)
        if product is None:
            product = Product(shopify_gid=record.gid, **_product_values(record))
            session.add(product)
            counts.created += 1
            fresh.append((record, product))
            continue
        if product.updated_at > record.updated_at:
            counts.unchanged += 1
            continue
        product_changed = _assign(product, _product_values(record))
        variants_changed = _pending_variant_changes(product, record, stored_variants, by_product)
        if product_changed or variants_changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
        fresh.append((record, product))
    session.flush()
    for record, product in fresh:
        _write_variants(session, product, record, stored_variants, by_product, counts)
    _write_plans(session, [(r, p) for r, p in fresh if r.selling_plans is not None], counts)


def _plan_values(plan: SellingPlanRecord, product_id: int, position: int) -> dict[str, Any]:
    return {
        "shopify_gid": plan.gid,
        "product_id": product_id,
        "group_name": plan.group_name,
        "name": plan.name,
        "interval_unit": plan.interval_unit,
        "interval_count": plan.interval_count,
        "interval_days": plan.interval_days,
        "adjustment_type": plan.adjustment_type,
        "adjustment_percent": plan.adjustment_percent,
        "adjustment_cents": plan.adjustment_cents,
        "position": position,
    }


_PLAN_COLUMNS = [c for c in SellingPlan.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]


def _write_plans(
    session: Session, fresh: list[tuple[ProductRecord, Product]], counts: _Counts
) -> None:
    """Each product's selling plans become exactly the record's (a deleted plan vanishes);
    a product whose plans did not change is not rewritten."""
    if not fresh:
        return
    ids = [product.id for _, product in fresh]
    stored: dict[int, list[dict[str, Any]]] = {}
    query = (
        select(*_PLAN_COLUMNS)
        .where(col(SellingPlan.product_id).in_(ids))
        .order_by(col(SellingPlan.product_id), col(SellingPlan.position), col(SellingPlan.id))
    )
    for row in session.execute(query).mappings():
        stored.setdefault(row["product_id"], []).append(dict(row))
    changed: list[int] = []
    rows: list[dict[str, Any]] = []
    for record, product in fresh:
        assert product.id is not None and record.selling_plans is not None
        seen: set[str] = set()
        wanted: list[dict[str, Any]] = []
        for plan in record.selling_plans:
            if plan.gid not in seen:  # a plan listed twice (two groups) is kept once
                seen.add(plan.gid)
                wanted.append(_plan_values(plan, product.id, len(wanted)))
        if wanted != stored.get(product.id, []):
            changed.append(product.id)
            rows += wanted
    if changed:
        session.execute(delete(SellingPlan).where(col(SellingPlan.product_id).in_(changed)))
        if rows:
            session.execute(insert(SellingPlan), rows)
        counts.plans_written += len(changed)


def _product_values(record: ProductRecord) -> dict[str, Any]:
    values: dict[str, Any] = {
        "shopify_id": gid_tail(record.gid),
        "title": record.title,
        "handle": record.handle,
        "status": record.status,
        "image_url": record.image_url,
        "updated_at": record.updated_at,
    }
    if record.subscription_only is not None:
        values["subscription_only"] = record.subscription_only
    return values


def _variant_values(record: VariantRecord, product_id: int, position: int) -> dict[str, Any]:
    return {
        "shopify_id": gid_tail(record.gid) or 0,
        "product_id": product_id,
        "title": record.title,
        "sku": record.sku,
        "price_cents": record.price_cents,
        "available": record.available,
        "position": position,
    }


def _pending_variant_changes(
    product: Product,
    record: ProductRecord,
    stored: dict[str, Variant],
    by_product: dict[int, list[Variant]],
) -> bool:
    """Whether writing the record's variants would change anything (for the product count)."""
    assert product.id is not None
    listed = {variant.gid for variant in record.variants}
    for position, variant_record in enumerate(record.variants):
        variant = stored.get(variant_record.gid)
        values = _variant_values(variant_record, product.id, position)
        if variant is None or any(getattr(variant, k) != v for k, v in values.items()):
            return True
    return any(_orphaned(variant, product.id, listed) for variant in by_product.get(product.id, []))


def _write_variants(
    session: Session,
    product: Product,
    record: ProductRecord,
    stored: dict[str, Variant],
    by_product: dict[int, list[Variant]],
    counts: _Counts,
) -> None:
    assert product.id is not None
    listed = {variant.gid for variant in record.variants}
    for position, variant_record in enumerate(record.variants):
        values = _variant_values(variant_record, product.id, position)
        variant = stored.get(variant_record.gid)
        if variant is None:
            variant = Variant(shopify_gid=variant_record.gid, **values)
            session.add(variant)
            stored[variant_record.gid] = variant
            counts.variants_created += 1
        elif _assign(variant, values):
            counts.variants_updated += 1
    for variant in by_product.get(product.id, []):
        if _orphaned(variant, product.id, listed):
            variant.available = False
            counts.variants_updated += 1


def _orphaned(variant: Variant, product_id: int, listed: set[str]) -> bool:
    """A still-available variant of this product that Shopify no longer lists for it."""
    return (
        variant.available and variant.product_id == product_id and variant.shopify_gid not in listed
    )


def _assign(row: Product | Variant, values: dict[str, Any]) -> bool:
    """Set the fields that differ; whether any did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed
