"""Plain data the replenishment engine takes and returns.

Frozen dataclasses so results can be compared, cached and handed to the UI or the database
layer without anyone mutating them behind the engine's back. Datetimes are timezone-aware
(UTC out), money is integer cents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

IntervalSource = Literal["override", "personal", "product", "store", "default"]
CartSection = Literal["due", "previous", "ymal", "featured"]  # featured: a featured link's product


@dataclass(frozen=True, slots=True)
class Purchase:
    """One line of a countable order: who bought which product, when, how many.

    Non-positive quantities are accepted here and ignored later, because they are data errors
    in the source, not reasons to fail a whole recompute.
    """

    customer_id: int
    product_id: int
    variant_id: int | None
    purchased_at: datetime
    quantity: int

    def __post_init__(self) -> None:
        if self.purchased_at.tzinfo is None or self.purchased_at.utcoffset() is None:
            raise ValueError("purchased_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class IntervalStats:
    """Distribution of per-unit reorder gaps, in days per unit; n = customers analysed."""

    p25: float
    median: float
    p75: float
    mean: float
    n: int


@dataclass(frozen=True, slots=True)
class LearnedIntervals:
    """What the order history taught: per-product stats and the store-wide fallback."""

    by_product: dict[int, IntervalStats]
    store: IntervalStats | None


@dataclass(frozen=True, slots=True)
class ReplenishmentSettings:
    """The merchant's knobs; validated here so a bad value fails loudly, once."""

    lead_days: int = 3
    default_interval_days: float = 30.0
    min_reorder_customers: int = 5
    personal_min_purchases: int = 3
    personal_prior_weight: float = 2.0

    def __post_init__(self) -> None:
        if self.lead_days < 0:
            raise ValueError("lead_days must be >= 0")
        if not (math.isfinite(self.default_interval_days) and self.default_interval_days > 0):
            raise ValueError("default_interval_days must be a positive number")
        if self.min_reorder_customers < 1:
            raise ValueError("min_reorder_customers must be >= 1")
        if self.personal_min_purchases < 2:
            raise ValueError("personal_min_purchases must be >= 2 (a cadence needs one gap)")
        if not (math.isfinite(self.personal_prior_weight) and self.personal_prior_weight >= 0):
            raise ValueError("personal_prior_weight must be a non-negative number")


@dataclass(frozen=True, slots=True)
class DueEntry:
    """When one customer will need one product again; stored per (customer, product)."""

    customer_id: int
    product_id: int
    variant_id: int | None
    last_purchased_at: datetime
    last_quantity: int
    interval_days: float
    interval_source: IntervalSource
    due_at: datetime
    remind_at: datetime
    late_at: datetime

    def is_due(self, now: datetime) -> bool:
        """Due from the remind point on, so the reminder lands before they run out."""
        return now >= self.remind_at

    def is_late(self, now: datetime) -> bool:
        return now >= self.late_at


@dataclass(frozen=True, slots=True)
class CatalogVariant:
    variant_id: int
    product_id: int
    title: str
    price_cents: int | None
    available: bool
    image_url: str | None
    sku: str | None


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    """A product as the cart sees it; sold=False means archived, deleted or no longer sold."""

    product_id: int
    title: str
    handle: str
    sold: bool
    image_url: str | None
    variants: tuple[CatalogVariant, ...]


@dataclass(frozen=True, slots=True)
class CartItem:
    """One row of the cart page.

    available = the product is sold and the chosen variant exists, is for sale and has a price;
    only available items can be selected (checked out).
    """

    section: CartSection
    product_id: int
    variant_id: int | None
    title: str
    variant_title: str
    price_cents: int | None
    image_url: str | None
    available: bool
    quantity: int
    selected: bool
    due_at: datetime | None
    replaces_product_id: int | None


@dataclass(frozen=True, slots=True)
class CartComposition:
    due: tuple[CartItem, ...]
    previous: tuple[CartItem, ...]
    ymal: tuple[CartItem, ...]

    @property
    def items(self) -> tuple[CartItem, ...]:
        """Every item in display order: due, previous, you-might-also-like."""
        return self.due + self.previous + self.ymal

    @property
    def selected(self) -> tuple[tuple[int, int], ...]:
        """(variant_id, quantity) of what is in the cart when the page opens, in display order."""
        return tuple(
            (item.variant_id, item.quantity)
            for item in self.items
            if item.selected and item.variant_id is not None
        )
