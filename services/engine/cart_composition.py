"""Composing the personalized cart page from due entries and the catalog.

Three sections: what is due (pre-selected), what else they bought (one tap away), and the
merchant's picks. A product appears at most once on the page, in the highest section that
claims it, and only what can really be checked out is ever pre-selected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.engine.types import (
    CartComposition,
    CartItem,
    CartSection,
    CatalogProduct,
    CatalogVariant,
    DueEntry,
)

MAX_CART_QUANTITY = 99


def resolve_replacement(product_id: int, replacements: Mapping[int, int]) -> int:
    """The product to show for a purchased one; follows chains (kit -> v1 -> v2), stops on loops."""
    seen = {product_id}
    current = product_id
    while (following := replacements.get(current)) is not None and following not in seen:
        seen.add(following)
        current = following
    return current


def variant_is_available(variant: CatalogVariant) -> bool:
    """For sale and priced: a variant without a price cannot go into a checkout permalink."""
    return variant.available and variant.price_cents is not None and variant.price_cents >= 0


def item_is_available(product: CatalogProduct, variant: CatalogVariant | None) -> bool:
    return product.sold and variant is not None and variant_is_available(variant)


def choose_variant(
    product: CatalogProduct, preferred_variant_ids: Iterable[int | None] = ()
) -> CatalogVariant | None:
    """The variant they bought when it still exists, else the first available, else the first.

    A bought variant that is out of stock is kept (shown unavailable) rather than swapped for a
    different size or flavour behind the customer's back.
    """
    by_id = {variant.variant_id: variant for variant in product.variants}
    for variant_id in preferred_variant_ids:
        if variant_id is not None and variant_id in by_id:
            return by_id[variant_id]
    for variant in product.variants:
        if variant_is_available(variant):
            return variant
    return product.variants[0] if product.variants else None


def clamp_quantity(quantity: int) -> int:
    return min(max(quantity, 1), MAX_CART_QUANTITY)


@dataclass(slots=True)
class _Group:
    """Entries shown as one product; the first entry (by section order) sets the timing."""

    entries: list[DueEntry]
    quantity: int


def _group_by_shown(
    entries: Iterable[DueEntry],
    catalog: Mapping[int, CatalogProduct],
    replacements: Mapping[int, int],
    exclude: set[int],
) -> dict[int, _Group]:
    groups: dict[int, _Group] = {}
    for entry in entries:
        shown = resolve_replacement(entry.product_id, replacements)
        if shown in exclude or shown not in catalog:
            continue
        group = groups.get(shown)
        if group is None:
            groups[shown] = _Group([entry], entry.last_quantity)
        else:
            group.entries.append(entry)
            group.quantity = max(group.quantity, entry.last_quantity)
    return groups


def _item(
    section: CartSection,
    product: CatalogProduct,
    variant: CatalogVariant | None,
    quantity: int,
    preselect: bool,
    due_at: datetime | None,
    replaces_product_id: int | None,
) -> CartItem:
    available = item_is_available(product, variant)
    return CartItem(
        section=section,
        product_id=product.product_id,
        variant_id=variant.variant_id if variant is not None else None,
        title=product.title,
        variant_title=variant.title if variant is not None else "",
        price_cents=variant.price_cents if variant is not None else None,
        image_url=(variant.image_url if variant is not None else None) or product.image_url,
        available=available,
        quantity=clamp_quantity(quantity),
        selected=preselect and available,
        due_at=due_at,
        replaces_product_id=replaces_product_id,
    )


def _entry_items(
    section: CartSection,
    groups: Mapping[int, _Group],
    catalog: Mapping[int, CatalogProduct],
    hide_unavailable: bool,
) -> tuple[CartItem, ...]:
    items = []
    for shown, group in groups.items():
        product = catalog[shown]
        first = group.entries[0]
        variant = choose_variant(product, (entry.variant_id for entry in group.entries))
        item = _item(
            section,
            product,
            variant,
            group.quantity,
            preselect=section == "due",
            due_at=first.due_at,
            replaces_product_id=first.product_id if first.product_id != shown else None,
        )
        if item.available or not hide_unavailable:
            items.append(item)
    return tuple(items)


def compose_cart(
    entries: Sequence[DueEntry],
    catalog: Mapping[int, CatalogProduct],
    ymal_product_ids: Sequence[int],
    replacements: Mapping[int, int],
    hide_unavailable: bool,
    now: datetime,
    picked_product_id: int | None = None,
) -> CartComposition:
    """The cart page for one customer at `now`.

    Due items are pre-selected at the quantity last bought (clamped to 1..99) when they can be
    checked out; a replaced product is shown as its replacement with the original's timing.
    Products missing from the catalog cannot be rendered and are left out everywhere.
    `picked_product_id` (a cross-sell offer the link names) is pre-selected too, one unit: in
    Previously Purchased when shown there, else first in You Might Also Like.
    """
    due_entries = sorted(
        (e for e in entries if e.is_due(now)), key=lambda e: (e.due_at, e.product_id)
    )
    due_groups = _group_by_shown(due_entries, catalog, replacements, exclude=set())
    due = _entry_items("due", due_groups, catalog, hide_unavailable)
    shown = {item.product_id for item in due}

    not_due = sorted((e for e in entries if not e.is_due(now)), key=lambda e: e.product_id)
    not_due.sort(key=lambda e: e.last_purchased_at, reverse=True)
    previous_groups = {
        product_id: group
        for product_id, group in _group_by_shown(not_due, catalog, replacements, shown).items()
        if catalog[product_id].sold
    }
    previous = _entry_items("previous", previous_groups, catalog, hide_unavailable)
    shown.update(item.product_id for item in previous)

    if picked_product_id is not None:
        previous = tuple(
            replace(item, selected=item.available) if item.product_id == picked_product_id else item
            for item in previous
        )
        ymal_product_ids = (picked_product_id, *ymal_product_ids)
    ymal = []
    for product_id in ymal_product_ids:
        product = catalog.get(product_id)
        if product_id in shown or product is None or not product.sold:
            continue
        shown.add(product_id)
        picked = product_id == picked_product_id
        item = _item("ymal", product, choose_variant(product), 1, picked, None, None)
        if item.available or not hide_unavailable:
            ymal.append(item)
    return CartComposition(due=due, previous=previous, ymal=tuple(ymal))
