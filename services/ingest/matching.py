"""Matches order lines to the catalog's products and variants, creating what the catalog lacks.

A line from Shopify (a webhook or the sync) names its product and variant by gid, and the ids
are trusted: a product not synced yet gets a stub under its real gid, which the catalog sync
fills in. A line from an order export names neither, so it is matched by SKU, then by title;
when nothing matches, a placeholder product and variant (`csv-product:…`, shopify_id 0) keep
its history until `services.ingest.placeholder_merge` joins them to the synced catalog.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, case, func, insert
from sqlmodel import Session, col, select

from services.core.tables import Product, Variant
from services.shopify.records import LineItemRecord, OrderRecord, gid_tail

STUB_UPDATED_AT = datetime(1970, 1, 1, tzinfo=UTC)
"""A stub product's `updated_at`: any real version from Shopify is newer and replaces it."""
PLACEHOLDER_PRODUCT_PREFIX = "csv-product:"
PLACEHOLDER_VARIANT_PREFIX = "csv-variant:"
"""Gids of products and variants known only from an order export (shopify_id 0), until
`services.ingest.placeholder_merge` joins them to the synced catalog."""

LineRow = tuple[int | None, int | None, int, int | None, str, str | None, str | None]
"""(product_id, variant_id, quantity, unit_price_cents, title, sku, selling_plan_gid): a stored
line, comparable."""
Match = tuple[int, int | None]
"""(product_id, variant_id): a variant is None when the line names none of several."""

# the tables themselves, for Core statements (SQLModel declares no typed `__table__`)
_PRODUCTS: Table = Product.metadata.tables["product"]
_VARIANTS: Table = Variant.metadata.tables["variant"]


class CatalogMatcher:
    """Matches lines to products and variants, creating a product when nothing matches.

    Lookups are cached per key; the cache is dropped when it grows past a bound, so a file of
    endless distinct titles costs queries, not memory.
    """

    _CACHE_LIMIT = 50_000

    def __init__(self, session: Session, now: datetime) -> None:
        self._session = session
        self._now = now
        self._cache: dict[tuple[str, str], Match | None] = {}
        self.products_created = 0

    def prefetch(self, records: Iterable[OrderRecord]) -> None:
        """Look up every variant gid of a batch in one query instead of one per variant."""
        wanted = {
            item.variant_gid
            for record in records
            for item in record.lines
            if item.variant_gid and ("variant", item.variant_gid) not in self._cache
        }
        if not wanted:
            return
        if len(self._cache) + len(wanted) >= self._CACHE_LIMIT:
            self._cache.clear()
        for gid in wanted:
            self._cache[("variant", gid)] = None
        query = select(Variant.shopify_gid, Variant.product_id, Variant.id).where(
            col(Variant.shopify_gid).in_(sorted(wanted))
        )
        for gid, product_id, variant_id in self._session.exec(query):
            self._cache[("variant", gid)] = (product_id, variant_id)

    def line_row(self, item: LineItemRecord) -> LineRow:
        product_id, variant_id = self.match(item)
        return (
            product_id,
            variant_id,
            item.quantity,
            item.unit_price_cents,
            item.title,
            item.sku,
            item.selling_plan_gid,
        )

    def match(self, item: LineItemRecord) -> Match:
        """By variant/product gid, else by SKU, else by title; created when all of them miss."""
        if item.product_gid:
            return self._match_shopify(item)
        keys = [
            ("variant", item.variant_gid),
            ("product", item.product_gid),
            ("sku", item.sku),
            ("title", item.title.strip().casefold()),
        ]
        for kind, key in keys:
            if key and (found := self._cached(kind, key, item)) is not None:
                return found
        created = self._create(item)
        for kind, key in keys[2:]:
            if key:
                self._cache[(kind, key)] = created
        return created

    def _cached(self, kind: str, key: str, item: LineItemRecord) -> Match | None:
        if (kind, key) not in self._cache:
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            self._cache[(kind, key)] = self._lookup(kind, key, item)
        return self._cache[(kind, key)]

    def _match_shopify(self, item: LineItemRecord) -> Match:
        """A line from Shopify names its product (and variant) by gid: trust the ids, never a
        title. A product the catalog has not synced yet gets a stub under its real gid, which the
        catalog sync then fills in, so the order's history stays on the real product."""
        assert item.product_gid is not None
        if item.variant_gid and (found := self._cached("variant", item.variant_gid, item)):
            return found
        product = self._cached("product", item.product_gid, item)
        stubbed = product is None
        if product is None:
            product = (self._stub_product(item), None)
            self._cache[("product", item.product_gid)] = product
        if not item.variant_gid:
            return product
        # a variant missing from a product we synced was deleted: keep it, but never offer it
        variant_id = self._stub_variant(product[0], item, available=stubbed)
        self._cache[("variant", item.variant_gid)] = (product[0], variant_id)
        return product[0], variant_id

    def _stub_product(self, item: LineItemRecord) -> int:
        assert item.product_gid is not None
        title = item.title.strip() or item.sku or "Untitled product"
        returned = self._session.execute(
            insert(_PRODUCTS).returning(_PRODUCTS.c.id),
            {
                "shopify_gid": item.product_gid,
                "shopify_id": gid_tail(item.product_gid),
                "title": title,
                "handle": _slug(title),
                "status": "active",
                "updated_at": STUB_UPDATED_AT,  # older than anything the catalog sync brings
            },
        )
        self.products_created += 1
        return returned.scalar_one()

    def _stub_variant(self, product_id: int, item: LineItemRecord, *, available: bool) -> int:
        assert item.variant_gid is not None
        returned = self._session.execute(
            insert(_VARIANTS).returning(_VARIANTS.c.id),
            {
                "shopify_gid": item.variant_gid,
                "shopify_id": gid_tail(item.variant_gid) or 0,
                "product_id": product_id,
                "title": "Default Title",
                "sku": item.sku,
                "price_cents": item.unit_price_cents,
                "available": available,
                "position": 0,
            },
        )
        return returned.scalar_one()

    def _lookup(self, kind: str, key: str, item: LineItemRecord) -> Match | None:
        session = self._session
        if kind == "variant":
            variant = session.exec(select(Variant).where(Variant.shopify_gid == key)).first()
            return (variant.product_id, variant.id) if variant else None
        if kind == "product":
            product = session.exec(select(Product).where(Product.shopify_gid == key)).first()
            return (_pk(product), self._only_variant(_pk(product))) if product else None
        if kind == "sku":
            query = (
                select(Variant.product_id, Variant.id)
                .join(Product, col(Product.id) == Variant.product_id)
                .where(Variant.sku == key)
                .order_by(_active_first(), col(Variant.id))
            )
            row = session.exec(query).first()
            return (row[0], row[1]) if row else None
        return self._lookup_title(item.title.strip())

    def _lookup_title(self, title: str) -> Match | None:
        """The whole title, then shorter prefixes before " - " (Shopify's "Product - Variant")."""
        for product_title, variant_title in _title_splits(title):
            query = (
                select(Product)
                .where(func.lower(Product.title) == product_title.lower())
                .order_by(_active_first(), col(Product.id))
            )
            product = self._session.exec(query).first()
            if product is None:
                continue
            if variant_title is None:
                return _pk(product), self._only_variant(_pk(product))
            variant = self._session.exec(
                select(Variant.id).where(
                    Variant.product_id == product.id,
                    func.lower(Variant.title) == variant_title.lower(),
                )
            ).first()
            if variant is None and product.shopify_gid.startswith(PLACEHOLDER_PRODUCT_PREFIX):
                variant = self._create_variant(_pk(product), title, variant_title, None, None)
            return _pk(product), variant
        return None

    def _only_variant(self, product_id: int) -> int | None:
        ids = self._session.exec(
            select(Variant.id).where(Variant.product_id == product_id).limit(2)
        ).all()
        return ids[0] if len(ids) == 1 else None

    def _create(self, item: LineItemRecord) -> Match:
        """A product (and variant) for a line the catalog lacks, so its history still counts."""
        title = item.title.strip() or (item.sku or "")
        variant = self._session.exec(
            select(Variant).where(
                Variant.shopify_gid == f"{PLACEHOLDER_VARIANT_PREFIX}{_slug(title)}"
            )
        ).first()
        if variant is not None:
            return variant.product_id, _pk(variant)
        product_title, _, variant_title = title.rpartition(" - ")
        if not product_title:
            product_title, variant_title = title, "Default Title"
        slug = _slug(product_title)
        gid = f"{PLACEHOLDER_PRODUCT_PREFIX}{slug}"
        product = self._session.exec(select(Product).where(Product.shopify_gid == gid)).first()
        if product is None:
            product = Product(
                shopify_gid=gid,
                title=product_title,
                handle=slug,
                status="active",
                updated_at=self._now,
            )
            self._session.add(product)
            self._session.flush()
            self.products_created += 1
        variant_id = self._create_variant(
            _pk(product),
            title,
            variant_title,
            item.sku,
            item.unit_price_cents,
        )
        return _pk(product), variant_id

    def _create_variant(
        self,
        product_id: int,
        full_title: str,
        variant_title: str,
        sku: str | None,
        price_cents: int | None,
    ) -> int:
        gid = f"{PLACEHOLDER_VARIANT_PREFIX}{_slug(full_title)}"
        variant = self._session.exec(select(Variant).where(Variant.shopify_gid == gid)).first()
        if variant is None:
            variant = Variant(
                shopify_gid=gid,
                shopify_id=0,
                product_id=product_id,
                title=variant_title,
                sku=sku,
                price_cents=price_cents,
            )
            self._session.add(variant)
            self._session.flush()
        return _pk(variant)


def _pk(row: Product | Variant) -> int:
    """The primary key of a stored (flushed) row, which is never None."""
    assert row.id is not None
    return row.id


def _active_first() -> Any:
    return case((col(Product.status) == "active", 0), else_=1)


def _title_splits(title: str) -> Iterator[tuple[str, str | None]]:
    """("A - B - C", None), ("A - B", "C"), ("A", "B - C"): longest product title first."""
    yield title, None
    parts = title.split(" - ")
    for cut in range(len(parts) - 1, 0, -1):
        yield " - ".join(parts[:cut]), " - ".join(parts[cut:])


def _slug(text: str) -> str:
    """A handle-like slug; titles with no letters or digits get a stable hash instead."""
    slug = re.sub(r"[\W_]+", "-", text.casefold()).strip("-")[:200].rstrip("-")
    return slug or f"item-{zlib.crc32(text.encode()):08x}"
