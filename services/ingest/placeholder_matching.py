"""Which catalog variant each placeholder is: the pure half of the placeholder merge.

A placeholder moves only when exactly one catalog variant matches it (by SKU, else by product
title or handle plus variant title); two candidates or none leave it as it is, with a reason a
merchant can act on. A placeholder product goes whole only when all its variants match variants
of one catalog product, so its settings have one home.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_VARIANT = "default title"
_CANDIDATES_SHOWN = 3


@dataclass(frozen=True, slots=True)
class LeftPlaceholder:
    """A placeholder the merge left as it is, and why, in words a merchant can act on."""

    title: str
    sku: str | None
    kind: str  # unmatched | ambiguous
    reason: str

    def line(self) -> str:
        sku = f" (SKU {self.sku})" if self.sku else ""
        return f"{self.title}{sku}: {self.reason}"


@dataclass(frozen=True, slots=True)
class NamedVariant:
    """A variant with its product's names, from either side of the match."""

    variant_id: int | None
    product_id: int
    product_title: str
    handle: str
    variant_title: str
    sku: str | None

    @property
    def label(self) -> str:
        if _key(self.variant_title) in ("", DEFAULT_VARIANT):
            return self.product_title
        return f"{self.product_title} - {self.variant_title}"


def _key(value: str | None) -> str:
    return (value or "").strip().casefold()


class CatalogIndex:
    """The Shopify catalog indexed by SKU, title and handle (case-insensitive, trimmed)."""

    def __init__(self, rows: Iterable[NamedVariant]) -> None:
        self.by_sku: dict[str, list[NamedVariant]] = defaultdict(list)
        self.by_name: dict[str, set[int]] = defaultdict(set)
        self.variants: dict[int, list[NamedVariant]] = defaultdict(list)
        self.products: dict[int, NamedVariant] = {}
        for row in rows:
            self.products.setdefault(row.product_id, row)
            self.by_name[_key(row.product_title)].add(row.product_id)
            self.by_name[_key(row.handle)].add(row.product_id)
            if row.variant_id is None:
                continue
            self.variants[row.product_id].append(row)
            if _key(row.sku):
                self.by_sku[_key(row.sku)].append(row)

    def match(self, placeholder: NamedVariant) -> NamedVariant | LeftPlaceholder:
        """The one catalog variant this placeholder is, or why there is not exactly one."""
        sku = _key(placeholder.sku)
        if sku and (hits := self.by_sku.get(sku)):
            if len(hits) == 1:
                return hits[0]
            return _left(
                placeholder,
                "ambiguous",
                f"SKU “{placeholder.sku}” is on {len(hits)} catalog variants "
                f"({list_labels(row.label for row in hits)})",
            )
        names = self.by_name.get(_key(placeholder.product_title), set()) | self.by_name.get(
            _key(placeholder.handle), set()
        )
        if not names:
            searched = f"SKU “{placeholder.sku}” or title" if placeholder.sku else "title"
            return _left(
                placeholder,
                "unmatched",
                f"no product with {searched} “{placeholder.product_title}” in the catalog",
            )
        if len(names) > 1:
            products = sorted(names)
            return _left(
                placeholder,
                "ambiguous",
                f"“{placeholder.product_title}” matches {len(products)} catalog products "
                f"({list_labels(self.products[p].handle for p in products)})",
            )
        product_id = next(iter(names))
        return self._variant_of(placeholder, self.products[product_id], self.variants[product_id])

    @staticmethod
    def _variant_of(
        placeholder: NamedVariant, product: NamedVariant, variants: list[NamedVariant]
    ) -> NamedVariant | LeftPlaceholder:
        wanted = _key(placeholder.variant_title)
        same = [row for row in variants if _key(row.variant_title) == wanted]
        title = product.product_title
        if len(same) == 1:
            return same[0]
        if len(same) > 1:
            return _left(
                placeholder,
                "ambiguous",
                f"“{title}” has {len(same)} variants titled “{placeholder.variant_title}”",
            )
        if wanted == DEFAULT_VARIANT and len(variants) == 1:
            return variants[0]
        if wanted == DEFAULT_VARIANT and variants:
            return _left(
                placeholder,
                "ambiguous",
                f"“{title}” has {len(variants)} variants in the catalog and the export names none",
            )
        if not variants:
            return _left(placeholder, "unmatched", f"“{title}” has no variants in the catalog")
        return _left(
            placeholder,
            "unmatched",
            f"“{title}” is in the catalog but has no variant “{placeholder.variant_title}”",
        )


def _left(placeholder: NamedVariant, kind: str, reason: str) -> LeftPlaceholder:
    return LeftPlaceholder(placeholder.label, placeholder.sku or None, kind, reason)


def list_labels(labels: Iterable[str]) -> str:
    """The first few labels, sorted, and how many more: a reason stays one readable line."""
    shown = sorted(set(labels))
    more = len(shown) - _CANDIDATES_SHOWN
    return ", ".join(shown[:_CANDIDATES_SHOWN]) + (f" and {more} more" if more > 0 else "")


@dataclass(slots=True)
class MergePlan:
    variants: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    """Placeholder variant id -> (its placeholder product, catalog product, catalog variant)."""
    products: dict[int, int] = field(default_factory=dict)
    """Placeholder product id -> catalog product id, for placeholders merged whole."""
    left: list[LeftPlaceholder] = field(default_factory=list)


def plan_merge(placeholders: list[NamedVariant], catalog: CatalogIndex) -> MergePlan:
    """Match every placeholder variant; a placeholder product goes whole only when all its
    variants match variants of one catalog product (its settings then have one home)."""
    plan = MergePlan()
    by_product: dict[int, list[NamedVariant]] = defaultdict(list)
    for row in placeholders:
        by_product[row.product_id].append(row)
    for product_id, rows in by_product.items():
        matched = {row.variant_id: catalog.match(row) for row in rows}
        targets = {hit.product_id for hit in matched.values() if isinstance(hit, NamedVariant)}
        if len(targets) > 1:
            labels = list_labels(catalog.products[target].product_title for target in targets)
            plan.left += [
                _left(
                    row,
                    "ambiguous",
                    f"its variants match {len(targets)} catalog products ({labels})",
                )
                for row in rows
            ]
            continue
        for row in rows:
            hit = matched[row.variant_id]
            if isinstance(hit, LeftPlaceholder):
                plan.left.append(hit)
            else:
                assert row.variant_id is not None and hit.variant_id is not None
                plan.variants[row.variant_id] = (product_id, hit.product_id, hit.variant_id)
        if targets and all(isinstance(hit, NamedVariant) for hit in matched.values()):
            plan.products[product_id] = next(iter(targets))
    plan.left.sort(key=lambda item: (item.title.casefold(), item.sku or ""))
    return plan
