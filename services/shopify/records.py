"""Plain records of Shopify orders, the same whichever way they arrive (CSV, GraphQL, webhooks).

Adapters build them; orchestration (`services.ingest.orders`) writes them to the database.
Keeping one shape means every source is matched, upserted and counted by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


def gid_tail(gid: str | None) -> int | None:
    """The numeric id at the end of a GID (`.../Product/42` → 42), or None when there is none."""
    tail = (gid or "").rsplit("/", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() else None


@dataclass(frozen=True, slots=True)
class LineItemRecord:
    """One line of an order; the ids are given when the source knows them (not in CSV)."""

    title: str
    sku: str | None
    quantity: int
    unit_price_cents: int | None
    variant_gid: str | None = None
    product_gid: str | None = None
    selling_plan_gid: str | None = None  # bought as a subscription (LineItemSellingPlan)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order as the source last saw it; all times are aware UTC, money is integer cents."""

    gid: str
    name: str
    processed_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    financial_status: str | None
    test: bool
    email: str | None
    phone: str | None
    customer_gid: str | None
    first_name: str
    total_cents: int
    currency: str
    attributes: dict[str, str] = field(default_factory=dict)
    lines: tuple[LineItemRecord, ...] = ()
    # False when the source cannot say which lines were bought with a selling plan (webhooks,
    # CSV): an update then keeps what the stored lines say
    lines_carry_plans: bool = True


@dataclass(frozen=True, slots=True)
class VariantRecord:
    gid: str
    title: str
    sku: str | None
    price_cents: int | None
    available: bool


INTERVAL_DAYS = {"DAY": 1.0, "WEEK": 7.0, "MONTH": 30.4375, "YEAR": 365.25}
"""A selling plan's delivery interval unit in days (a month and a year on average)."""


@dataclass(frozen=True, slots=True)
class SellingPlanRecord:
    """One plan of a product's `sellingPlanGroups`: its recurring delivery interval and its
    first pricing policy (percent off, an amount off each item, or a fixed price)."""

    gid: str
    group_name: str
    name: str
    interval_unit: str | None = None
    interval_count: int | None = None
    adjustment_type: str | None = None
    adjustment_percent: float | None = None
    adjustment_cents: int | None = None

    @property
    def interval_days(self) -> float | None:
        if self.interval_unit not in INTERVAL_DAYS or not self.interval_count:
            return None
        return INTERVAL_DAYS[self.interval_unit] * self.interval_count


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """A catalog product as Shopify last saw it; `status` is active, draft or archived."""

    gid: str
    title: str
    handle: str
    status: str
    updated_at: datetime
    image_url: str | None = None
    variants: tuple[VariantRecord, ...] = ()
    # None when the source does not carry them (webhooks): the stored ones are kept
    subscription_only: bool | None = None
    selling_plans: tuple[SellingPlanRecord, ...] | None = None
