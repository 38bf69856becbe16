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


@dataclass(frozen=True, slots=True)
class VariantRecord:
    gid: str
    title: str
    sku: str | None
    price_cents: int | None
    available: bool


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
