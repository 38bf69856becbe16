"""Featured product links: `/replenish?v=<variant>&ch=<channel>`, a cart for anyone.

Printed as QR codes on packaging and inserts, so the link names a product, never a person: the
cart it opens has that variant selected (at `q`, else 1), the shop's banner and its You Might
Also Like list, and nothing personal. Its events carry no cart link and no customer; a random
visit id per opened page groups them into a session for the merchant's analytics, where these
carts are counted apart from personal ones.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from services.cart.page import (
    CartView,
    load_catalog,
    min_checkout_quantity,
    shop_view,
)
from services.core.clock import utcnow
from services.core.db import session_scope
from services.core.tables import PRODUCT_SOLD_STATUS, Product, Shop, Variant, YmalItem
from services.engine import CartComposition, CartItem, compose_cart
from services.engine.cart_composition import variant_is_available

FEATURED_PATH = "/replenish"
VARIANT_PARAM, QUANTITY_PARAM, CHANNEL_PARAM = "v", "q", "ch"
_VARIANT_ID = re.compile(r"[1-9][0-9]{0,18}")  # a numeric Shopify id, within a signed bigint
_QUANTITY = re.compile(r"[1-9][0-9]?")  # 1..99, as the cart's steppers allow


@dataclass(frozen=True, slots=True)
class FeaturedRequest:
    """A featured link's query, checked: the Shopify variant id and the quantity to select."""

    variant_id: int
    quantity: int


def parse_featured(variant: str | None, quantity: str | None) -> FeaturedRequest | None:
    """`v` and `q` as the page received them; None when either is malformed (`q` may be absent)."""
    v = (variant or "").strip()
    q = (quantity or "").strip()
    if not _VARIANT_ID.fullmatch(v) or (q and not _QUANTITY.fullmatch(q)):
        return None
    return FeaturedRequest(int(v), int(q) if q else 1)


def new_visit() -> str:
    """A featured cart's session key: random, so it says nothing about who opened it."""
    return secrets.token_hex(8)


def featured_url(public_url: str, shopify_variant_id: int, channel: str | None = None) -> str:
    params: dict[str, str | int] = {VARIANT_PARAM: shopify_variant_id}
    if channel:
        params[CHANNEL_PARAM] = channel
    return f"{public_url.rstrip('/')}{FEATURED_PATH}?{urlencode(params)}"


_FEATURED_VARIANT = (
    select(Variant.id, Variant.product_id)
    .join(Product, col(Product.id) == col(Variant.product_id))
    .where(
        col(Variant.shopify_gid) == bindparam("gid"),  # the unique index finds it
        col(Variant.shopify_id) == bindparam("shopify_id"),
        col(Product.status) == PRODUCT_SOLD_STATUS,
    )
)
_YMAL = select(YmalItem.product_id).order_by(col(YmalItem.position))
_SHOP = select(Shop).limit(1)
_SHOPIFY_IDS = select(Variant.id, Variant.shopify_id).where(
    col(Variant.id).in_(bindparam("ids", expanding=True))
)


def load_featured_cart(
    session: Session, request: FeaturedRequest, now: datetime
) -> CartView | None:
    """The featured cart, or None when the variant is unknown, archived or not for sale."""
    connection = session.connection()
    gid = f"gid://shopify/ProductVariant/{request.variant_id}"
    row = connection.execute(
        _FEATURED_VARIANT, {"gid": gid, "shopify_id": request.variant_id}
    ).first()
    if row is None:
        return None
    variant_id, product_id = row
    ymal_ids = list(connection.execute(_YMAL).scalars())
    catalog = load_catalog(session, {product_id, *ymal_ids})
    product = catalog.get(product_id)
    variants = product.variants if product is not None else ()
    variant = next((v for v in variants if v.variant_id == variant_id), None)
    if product is None or variant is None or not variant_is_available(variant):
        return None  # CatalogVariant.available already requires a Shopify id
    shop = session.exec(_SHOP).first()
    ymal = compose_cart(
        [], catalog, [i for i in ymal_ids if i != product_id], {}, _hides(shop), now
    ).ymal
    item = CartItem(
        section="featured",
        product_id=product_id,
        variant_id=variant_id,
        title=product.title,
        variant_title=variant.title,
        price_cents=variant.price_cents,
        image_url=variant.image_url or product.image_url,
        available=True,
        quantity=request.quantity,
        selected=True,
        due_at=None,
        replaces_product_id=None,
    )
    shopify_ids = {variant_id: request.variant_id}
    shown = [i.variant_id for i in ymal if i.variant_id is not None]
    if shown:
        rows = connection.execute(_SHOPIFY_IDS, {"ids": shown}).all()
        shopify_ids |= {vid: sid for vid, sid in rows}
    return CartView(
        link_id=0,
        customer_id=0,
        first_name="",
        shop=shop_view(shop, min_checkout_quantity(session)),
        composition=CartComposition(due=(item,), previous=(), ymal=ymal),
        shopify_variant_ids=shopify_ids,
    )


def _hides(shop: Shop | None) -> bool:
    return shop.hide_unavailable if shop else False


def open_featured_cart(
    variant: str | None, quantity: str | None, *, now: datetime | None = None
) -> CartView | None:
    """The featured cart a link's `v` and `q` ask for; None for any link that cannot open one
    (malformed, unknown, archived or unavailable), which the page answers the same way."""
    request = parse_featured(variant, quantity)
    if request is None:
        return None
    with session_scope() as session:
        return load_featured_cart(session, request, now or utcnow())


# --- listing them ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeaturedLink:
    product: str
    variant: str
    sku: str
    shopify_variant_id: int
    url: str


_ACTIVE_VARIANTS = (
    select(Product.title, Variant.title, Variant.sku, Variant.shopify_id)
    .join(Product, col(Product.id) == col(Variant.product_id))
    # a variant known only from an order export (a placeholder) has no Shopify id: no link
    .where(col(Product.status) == PRODUCT_SOLD_STATUS, col(Variant.shopify_id) > 0)
    .order_by(col(Product.title), col(Product.id), col(Variant.position), col(Variant.id))
)


def featured_links(
    session: Session, public_url: str, channel: str | None = None
) -> list[FeaturedLink]:
    """One link per variant of every product for sale, in title order (for printing in bulk)."""
    return [
        FeaturedLink(
            product, variant, sku or "", shopify_id, featured_url(public_url, shopify_id, channel)
        )
        for product, variant, sku, shopify_id in session.exec(_ACTIVE_VARIANTS)
    ]


__all__ = [
    "FEATURED_PATH",
    "FeaturedLink",
    "FeaturedRequest",
    "featured_links",
    "featured_url",
    "load_featured_cart",
    "new_visit",
    "open_featured_cart",
    "parse_featured",
]
