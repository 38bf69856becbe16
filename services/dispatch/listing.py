"""What a customer's Due or Late event lists: the cart's pre-selected due items, as the cart
page composes them (replacements, the variant they bought, only what can be checked out), minus
snoozed products, with the Shopify ids and absolute image URLs the providers' templates need.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from services.cart.page import ShopifyIds, read_catalog
from services.cart.subscriptions import shop_sells_plans, subscribable_products
from services.core.config import Settings
from services.core.tables import Product, Shop
from services.engine import (
    CatalogProduct,
    DueEntry,
    choose_variant,
    compose_cart,
    item_is_available,
    resolve_replacement,
)
from services.messaging import DueProduct, provider


class ScanContext:
    """What one scan reads once and reuses across batches: the shop, replacements, catalog."""

    def __init__(self, session: Session, settings: Settings, now: datetime) -> None:
        self.session = session
        self.now = now
        self.settings = settings
        self.public_url = settings.public_url.rstrip("/")
        shop = session.exec(select(Shop)).first()
        self.currency = shop.currency if shop else "USD"
        replaced = select(Product.id, Product.replacement_product_id).where(
            col(Product.replacement_product_id).is_not(None)
        )
        self.replacements: dict[int, int] = {
            int(pid or 0): int(to or 0) for pid, to in session.exec(replaced).all()
        }
        self.sells_plans = shop_sells_plans(session)
        self._with_plans: set[int] = set()  # of the products looked up so far
        self._plans_looked_up: set[int] = set()
        self.catalog: dict[int, CatalogProduct] = {}
        self.product_ids: dict[int, ShopifyIds] = {}
        self.variant_ids: dict[int, ShopifyIds] = {}

    def subscribable(self, entries: Iterable[DueEntry]) -> bool:
        """Whether a cart of these products offers a subscription (one has a selling plan)."""
        if not self.sells_plans:
            return False
        shown = {resolve_replacement(entry.product_id, self.replacements) for entry in entries}
        wanted = shown | {entry.product_id for entry in entries}
        self.look_up_plans(wanted)
        return bool(wanted & self._with_plans)

    def look_up_plans(self, product_ids: set[int]) -> None:
        """Learn which of these products have a selling plan, in one query for those not known."""
        missing = product_ids - self._plans_looked_up
        if missing and self.sells_plans:
            self._with_plans |= subscribable_products(self.session, missing)
        self._plans_looked_up |= missing

    def sends(self, integration: str, kind: str) -> bool:
        """Whether the merchant left this Moment switched on for this integration."""
        return provider(integration).sends(self.settings, kind)

    def load_catalog(self, product_ids: Iterable[int]) -> None:
        bought = set(product_ids)
        wanted = bought | {resolve_replacement(pid, self.replacements) for pid in bought}
        missing = sorted(wanted - set(self.catalog))
        for start in range(0, len(missing), 500):
            self._load(missing[start : start + 500])

    def _load(self, ids: list[int]) -> None:
        self.look_up_plans(set(ids))  # the batch's products at once, not one customer at a time
        read = read_catalog(self.session, set(ids))
        self.variant_ids.update(read.variant_ids)
        self.product_ids.update(read.product_ids)
        for pid, product in read.products.items():
            # a product we cannot name by its Shopify id cannot be sold through a cart link
            sold = product.sold and pid in read.product_ids
            self.catalog[pid] = replace(product, sold=sold)

    def absolute(self, url: str | None) -> str | None:
        """Demo images are served by the app (`/demo-images/x.svg`): providers need a full URL."""
        if not url:
            return None
        if url.startswith(("http://", "https://")):
            return url
        return f"{self.public_url}/{url.lstrip('/')}"


@dataclass(slots=True)
class Listed:
    """The products one customer's event lists, with what delivery needs to re-check them."""

    products: list[DueProduct]
    items: list[dict[str, Any]]  # parallel: shown product id, the product it replaces, quantity
    due_date: date
    value_cents: int
    late_points: list[datetime]  # late points (P75) of the listed products

    def late_since(self, sent_at: datetime | None, now: datetime) -> bool:
        """A listed product's late point passed after the Due event went out."""
        return sent_at is not None and any(sent_at < point <= now for point in self.late_points)


def list_products(
    ctx: ScanContext,
    entries: list[DueEntry],
    snoozes: dict[int | None, datetime],
) -> Listed | None:
    """What the cart pre-selects when it opens, minus snoozed products; None when nothing."""
    composition = compose_cart(entries, ctx.catalog, (), ctx.replacements, False, ctx.now)
    products: list[DueProduct] = []
    items: list[dict[str, Any]] = []
    due_dates: list[datetime] = []
    value = 0
    for item in composition.due:
        if not item.selected or item.variant_id is None or item.price_cents is None:
            continue
        if item.product_id in snoozes or (item.replaces_product_id in snoozes):
            continue
        product_ids = ctx.product_ids.get(item.product_id)
        variant_ids = ctx.variant_ids.get(item.variant_id)
        if product_ids is None or variant_ids is None:
            continue
        catalog = ctx.catalog[item.product_id]
        products.append(
            DueProduct(
                product_gid=product_ids.gid,
                product_id_numeric=product_ids.numeric,
                title=item.title,
                handle=catalog.handle,
                price_cents=item.price_cents,
                currency=ctx.currency,
                image_url=ctx.absolute(item.image_url),
                variant_gid=variant_ids.gid,
                variant_id_numeric=variant_ids.numeric,
                variant_title=item.variant_title,
            )
        )
        items.append(
            {
                "product_id": item.product_id,
                "replaces": item.replaces_product_id,
                "quantity": item.quantity,
                "price_cents": item.price_cents,
            }
        )
        if item.due_at is not None:
            due_dates.append(item.due_at)
        value += item.price_cents * item.quantity
    if not products:
        return None
    listed = {i["product_id"] for i in items}
    late_points = [
        entry.late_at
        for entry in entries
        if entry.is_due(ctx.now)
        and resolve_replacement(entry.product_id, ctx.replacements) in listed
    ]
    due_day = min(due_dates).date() if due_dates else ctx.now.date()
    return Listed(products, items, due_day, value, late_points)


def list_offer(ctx: ScanContext, product_id: int) -> Listed | None:
    """A cross-sell offer as an event lists it: the one product, at one unit of the variant the
    cart would pre-select; None when it cannot be checked out (not sold, nothing available)."""
    product = ctx.catalog.get(product_id)
    if product is None or not product.sold:
        return None
    variant = choose_variant(product)
    if variant is None or not item_is_available(product, variant) or variant.price_cents is None:
        return None
    product_ids = ctx.product_ids.get(product_id)
    variant_ids = ctx.variant_ids.get(variant.variant_id)
    if product_ids is None or variant_ids is None:
        return None
    offered = DueProduct(
        product_gid=product_ids.gid,
        product_id_numeric=product_ids.numeric,
        title=product.title,
        handle=product.handle,
        price_cents=variant.price_cents,
        currency=ctx.currency,
        image_url=ctx.absolute(variant.image_url or product.image_url),
        variant_gid=variant_ids.gid,
        variant_id_numeric=variant_ids.numeric,
        variant_title=variant.title,
    )
    item = {
        "product_id": product_id,
        "replaces": None,
        "quantity": 1,
        "price_cents": variant.price_cents,
    }
    return Listed([offered], [item], ctx.now.date(), variant.price_cents, [])
