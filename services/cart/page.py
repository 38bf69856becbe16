"""Assembles what one cart page shows, from the database, in a handful of indexed queries.

Work grows with the customer's own products (their due rows), never with the store's orders.
Every page view runs the same statements, so they are built once, here, with bound parameters,
and run on the session's connection: building a select and passing it through the ORM cost more
per view than the database took to answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from services.cart.links import find_active_link
from services.cart.snoozes import active_snoozes
from services.cart.subscriptions import PlanOffer, plan_offers
from services.core.config import get_settings
from services.core.tables import (
    PRODUCT_SOLD_STATUS,
    AppSetting,
    CartLink,
    Customer,
    DueItem,
    Product,
    Shop,
    Variant,
    YmalItem,
)
from services.discounts.codes import cart_code
from services.engine import (
    CartComposition,
    CatalogProduct,
    CatalogVariant,
    DueEntry,
    compose_cart,
)
from services.shopify.records import gid_tail
from services.sync.shop_record import checkout_host, checkout_preview_on


@dataclass(frozen=True, slots=True)
class ShopView:
    name: str
    domain: str
    currency: str
    banner_text: str
    discount_code: str
    accent_color: str
    logo_url: str
    store_url: str
    checkout_host: str = ""  # where Check Out goes; "" when the shop is unknown (no checkout)
    checkout_preview: bool = False  # Check Out opens the local preview (the demo shop)
    min_checkout_quantity: int = 0  # items needed before Check Out is enabled; 0: no minimum


@dataclass(frozen=True, slots=True)
class CartView:
    link_id: int
    customer_id: int
    first_name: str
    shop: ShopView
    composition: CartComposition
    shopify_variant_ids: dict[int, int]
    # "Remind me later": shown product id -> until, and the whole cart's snooze
    snoozed_until: dict[int, datetime] = field(default_factory=dict)
    cart_snoozed_until: datetime | None = None
    # the subscription cart (`?sub=1`) only: shown variant id -> GID, product id -> its plan
    variant_gids: dict[int, str] = field(default_factory=dict)
    plans: dict[int, PlanOffer] = field(default_factory=dict)


def shop_view(shop: Shop | None, min_checkout_quantity: int = 0) -> ShopView:
    if shop is None:
        return ShopView("Our store", "", "USD", "", "", "grass", "", "")
    return ShopView(
        name=shop.name or shop.shop_domain,
        domain=shop.shop_domain,
        currency=shop.currency,
        banner_text=shop.banner_text,
        discount_code=shop.discount_code,
        accent_color=shop.accent_color,
        logo_url=shop.logo_url,
        store_url=shop.store_url or f"https://{shop.shop_domain}",
        checkout_host=checkout_host(shop),
        checkout_preview=checkout_preview_on(shop.shop_domain),
        min_checkout_quantity=min_checkout_quantity,
    )


_SHOP = select(Shop).limit(1)
_MIN_CHECKOUT = select(AppSetting.value).where(AppSetting.name == "min_checkout_quantity")


def min_checkout_quantity(session: Session) -> int:
    """The dashboard's minimum checkout quantity, else `REPEATCART_MIN_CHECKOUT_QUANTITY`.

    One primary-key read rather than `effective_settings`, which reads and validates every
    saved setting: this runs on every cart view.
    """
    saved = session.connection().execute(_MIN_CHECKOUT).scalar()
    if saved is not None:
        try:
            return max(0, int(saved))
        except ValueError:
            pass
    return get_settings().min_checkout_quantity


def current_shop(session: Session) -> ShopView:
    return shop_view(session.exec(_SHOP).first())


_FIRST_NAME = select(Customer.first_name).where(Customer.id == bindparam("customer_id"))
_YMAL = select(YmalItem.product_id).order_by(col(YmalItem.position))
_SHOPIFY_VARIANT_IDS = select(Variant.id, Variant.shopify_id, Variant.shopify_gid).where(
    col(Variant.id).in_(bindparam("ids", expanding=True))
)


DUE_ENTRY_COLUMNS = (
    DueItem.customer_id,
    DueItem.product_id,
    DueItem.variant_id,
    DueItem.last_purchased_at,
    DueItem.last_quantity,
    DueItem.interval_days,
    DueItem.interval_source,
    DueItem.due_at,
    DueItem.remind_at,
    DueItem.late_at,
)
"""A due row's columns in `DueEntry` field order: `DueEntry(*row)` builds the engine's record."""


_DUE_ENTRIES = select(*DUE_ENTRY_COLUMNS).where(  # type: ignore[call-overload]  # <= 4 typed
    col(DueItem.customer_id) == bindparam("customer_id")
)


def load_due_entries(session: Session, customer_id: int) -> list[DueEntry]:
    """One customer's stored due rows (a primary-key prefix scan) as the engine's records."""
    rows = session.connection().execute(_DUE_ENTRIES, {"customer_id": customer_id})
    return [DueEntry(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class ShopifyIds:
    """A catalog row's Shopify GID and the numeric tail URLs and messages need."""

    gid: str
    numeric: int


@dataclass(frozen=True, slots=True)
class CatalogRead:
    products: dict[int, CatalogProduct]
    product_ids: dict[int, ShopifyIds]
    variant_ids: dict[int, ShopifyIds]


def read_catalog(session: Session, product_ids: set[int]) -> CatalogRead:
    """The products asked for, with their variants, as the engine's plain records, plus the
    Shopify ids of those that have them (carts and reminder messages both read this).

    Plain column rows, not ORM objects: building hundreds of objects per page view cost more
    than the queries themselves.
    """
    if not product_ids:
        return CatalogRead({}, {}, {})
    variants: dict[int, list[CatalogVariant]] = {pid: [] for pid in product_ids}
    variant_ids: dict[int, ShopifyIds] = {}
    connection, ids_param = session.connection(), {"ids": list(product_ids)}
    rows = connection.execute(_CATALOG_VARIANTS, ids_param)
    for variant_id, product_id, title, price, available, image, sku, shopify_id, gid in rows:
        # a variant known only from an order export has no Shopify id: it cannot be checked out
        purchasable = available and bool(shopify_id)
        variants[product_id].append(
            CatalogVariant(variant_id, product_id, title, price, purchasable, image, sku)
        )
        if shopify_id:
            variant_ids[variant_id] = ShopifyIds(gid, int(shopify_id))
    products: dict[int, CatalogProduct] = {}
    ids: dict[int, ShopifyIds] = {}
    rows = connection.execute(_CATALOG_PRODUCTS, ids_param)
    for product_id, title, handle, status, image_url, shopify_id, gid in rows:
        products[product_id] = CatalogProduct(
            product_id=product_id,
            title=title,
            handle=handle,
            sold=status == PRODUCT_SOLD_STATUS,
            image_url=image_url,
            variants=tuple(variants[product_id]),
        )
        numeric = shopify_id or gid_tail(gid)
        if numeric is not None:
            ids[product_id] = ShopifyIds(gid, int(numeric))
    return CatalogRead(products, ids, variant_ids)


_CATALOG_VARIANTS = (
    select(  # type: ignore[call-overload]  # sqlmodel types select() for 4 columns at most
        Variant.id,
        Variant.product_id,
        Variant.title,
        Variant.price_cents,
        Variant.available,
        Variant.image_url,
        Variant.sku,
        Variant.shopify_id,
        Variant.shopify_gid,
    )
    .where(col(Variant.product_id).in_(bindparam("ids", expanding=True)))
    .order_by(Variant.product_id, Variant.position, Variant.id)
)
_CATALOG_PRODUCTS = select(  # type: ignore[call-overload]  # sqlmodel types <= 4 columns
    Product.id,
    Product.title,
    Product.handle,
    Product.status,
    Product.image_url,
    Product.shopify_id,
    Product.shopify_gid,
).where(col(Product.id).in_(bindparam("ids", expanding=True)))


def load_catalog(session: Session, product_ids: set[int]) -> dict[int, CatalogProduct]:
    """`read_catalog`'s products alone: what the cart page composes from."""
    return read_catalog(session, product_ids).products


def _replacement_chains(session: Session, product_ids: set[int]) -> dict[int, int]:
    """Replacement mappings reachable from these products, so chains (kit → v1 → v2) resolve."""
    mapping: dict[int, int] = {}
    frontier = set(product_ids)
    connection = session.connection()
    while frontier:
        rows = connection.execute(_REPLACEMENTS, {"ids": list(frontier)}).all()
        new = {
            source: target
            for source, target in rows
            if source is not None and target is not None and source not in mapping
        }
        mapping.update(new)
        frontier = set(new.values()) - set(mapping)
    return mapping


_REPLACEMENTS = select(Product.id, Product.replacement_product_id).where(
    col(Product.id).in_(bindparam("ids", expanding=True)),
    col(Product.replacement_product_id).is_not(None),
)


def load_cart_for_link(session: Session, link: CartLink, now: datetime) -> CartView | None:
    assert link.id is not None  # a link read from the database
    return _load_cart(session, link.id, link.customer_id, now)


def _load_cart(
    session: Session,
    link_id: int,
    customer_id: int,
    now: datetime,
    pick: int | None = None,
    subscription: bool = False,
) -> CartView | None:
    connection = session.connection()
    first_name = connection.execute(_FIRST_NAME, {"customer_id": customer_id}).scalar()
    if first_name is None:
        return None
    shop = session.exec(_SHOP).first()
    entries = load_due_entries(session, customer_id)
    ymal_ids = list(connection.execute(_YMAL).scalars())
    bought = {entry.product_id for entry in entries}
    replacements = _replacement_chains(session, bought)
    picked = {pick} if pick is not None else set()
    catalog = load_catalog(session, bought | set(replacements.values()) | set(ymal_ids) | picked)
    composition = compose_cart(
        entries,
        catalog,
        ymal_ids,
        replacements,
        shop.hide_unavailable if shop else False,
        now,
        pick,
    )
    snoozes = active_snoozes(session, customer_id, now)
    composition, snoozed = _apply_snoozes(composition, snoozes)
    shown = {
        item.variant_id
        for item in (*composition.due, *composition.previous, *composition.ymal)
        if item.variant_id is not None
    }
    shopify_ids: dict[int, int] = {}
    gids: dict[int, str] = {}
    if shown:
        rows = connection.execute(_SHOPIFY_VARIANT_IDS, {"ids": list(shown)}).all()
        shopify_ids = {variant_id: shopify_id for variant_id, shopify_id, _ in rows if variant_id}
        gids = {variant_id: gid for variant_id, _, gid in rows if variant_id and gid}
    plans: dict[int, PlanOffer] = {}
    if subscription:
        items = (*composition.due, *composition.previous, *composition.ymal)
        plans = plan_offers(session, {item.product_id for item in items})
    view = shop_view(shop, min_checkout_quantity(session))
    own_code = cart_code(session, customer_id, now)
    if own_code:  # the customer's unique code replaces the shop's on the cart and at checkout
        view = replace(view, discount_code=own_code)
    return CartView(
        link_id=link_id,
        customer_id=customer_id,
        first_name=first_name,
        shop=view,
        composition=composition,
        shopify_variant_ids=shopify_ids,
        snoozed_until=snoozed,
        cart_snoozed_until=snoozes.get(None),
        variant_gids=gids if subscription else {},
        plans=plans,
    )


def _apply_snoozes(
    composition: CartComposition, snoozes: dict[int | None, datetime]
) -> tuple[CartComposition, dict[int, datetime]]:
    """Which shown products are snoozed, and the due ones among them left unselected.

    A product snooze is the shopper saying "not this one now", so it is not pre-selected (they can
    still add it). A whole-cart snooze only pauses messages: the page they opened stays filled.
    """
    snoozed: dict[int, datetime] = {}
    for item in (*composition.due, *composition.previous):
        until = snoozes.get(item.product_id)
        if until is not None:
            snoozed[item.product_id] = until
    if not snoozed:
        return composition, snoozed
    due = tuple(
        replace(item, selected=False) if item.product_id in snoozed else item
        for item in composition.due
    )
    return replace(composition, due=due), snoozed


def load_cart(
    session: Session,
    token: str | None,
    now: datetime,
    pick: int | None = None,
    subscription: bool = False,
) -> CartView | None:
    """The cart behind a token, or None for any token that is not a live link; `pick` (a
    product id from the link) opens pre-selected; `subscription` reads the products' selling
    plans too (the subscription cart)."""
    link = find_active_link(session, token)
    if link is None:
        return None
    return _load_cart(session, link.id, link.customer_id, now, pick, subscription)
