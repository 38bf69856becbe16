"""The dashboard's Products page: the catalog with its learned intervals, and the merchant's
corrections to them (interval overrides and replacement mappings; a CSV of overrides is
`services.products.bulk_overrides`).

Stores have thousands of products, so searching, sorting and paging happen in SQL. An override
changes due dates, so saving one re-dates the customers who bought the product at once: the
next cart load and reminder already follow it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import exists, func
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import session_scope
from services.core.paging import Page, clamp_page, clamp_page_size, offset_of
from services.core.tables import (
    PRODUCT_SOLD_STATUS,
    IntervalStat,
    Product,
    SellingPlan,
    Shop,
    Variant,
)
from services.engine import IntervalStats, LearnedIntervals, population_interval
from services.engine.recompute import settings_of
from services.ingest.matching import PLACEHOLDER_PRODUCT_PREFIX
from services.ingest.orders import refresh_due_dates
from services.products.search import first_sku, product_filter

MIN_INTERVAL_DAYS = 1
MAX_INTERVAL_DAYS = 730
INTERVAL_RANGE_MESSAGE = (
    f"Use a number of days from {MIN_INTERVAL_DAYS} to {MAX_INTERVAL_DAYS} (two years)."
)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

SortKey = Literal["title", "median", "n", "status"]
SORT_KEYS: tuple[str, ...] = ("title", "median", "n", "status")


class ProductAdminError(ValueError):
    """A change the merchant asked for that cannot be made; the message says why, calmly."""


@dataclass(frozen=True, slots=True)
class ProductRow:
    """One product as the Products table shows it."""

    id: int
    title: str
    handle: str
    image_url: str | None
    status: str
    available: bool
    sku: str | None
    p25: float | None
    median: float | None
    p75: float | None
    mean: float | None
    n: int
    override_days: float | None
    effective_days: float
    effective_source: str  # override | product | store | default
    replacement_id: int | None
    replacement_title: str | None
    placeholder: bool = False
    """Known only from an order export and matched to no catalog product: not sold online."""
    selling_plans: tuple[str, ...] = ()  # its selling plans' names, in the shop's order
    subscription_only: bool = False


def _store_stats(shop: Shop | None) -> IntervalStats | None:
    if shop is None or shop.store_interval_days is None:
        return None
    p75 = shop.store_p75_days or shop.store_interval_days
    return IntervalStats(shop.store_interval_days, shop.store_interval_days, p75, 0.0, 0)


def effective_interval(
    product_id: int,
    override_days: float | None,
    stats: IntervalStats | None,
    shop: Shop | None,
) -> tuple[float, str]:
    """The interval a customer without a personal cadence gets, and which rule gave it.

    The same rules as the engine (override > product > store > default), so the table never
    disagrees with the due dates.
    """
    if override_days is not None and math.isfinite(override_days) and override_days > 0:
        return float(override_days), "override"
    learned = LearnedIntervals(
        by_product={product_id: stats} if stats is not None else {}, store=_store_stats(shop)
    )
    return population_interval(product_id, learned, settings_of(shop))


def _sort_order(sort: str, descending: bool) -> list[Any]:
    """ORDER BY for the Products table: the chosen column, then A to Z as the tie-break."""
    title_key = func.lower(Product.title)
    columns: dict[str, Any] = {
        "title": title_key,
        "median": col(IntervalStat.median),
        "n": func.coalesce(IntervalStat.n, 0),
        "status": col(Product.status),
    }
    primary = columns[sort if sort in SORT_KEYS else "title"]
    primary = primary.desc() if descending else primary.asc()
    if sort == "median":
        primary = primary.nulls_last()
    return [primary, title_key, col(Product.id)]


def product_page(
    session: Session,
    search: str = "",
    sort: str = "title",
    descending: bool = False,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Page[ProductRow]:
    """One page of products (search, sort and paging in SQL) with a total count.

    A page past the end is the last one; the page size is kept within 1..200.
    """
    page_size = clamp_page_size(page_size, MAX_PAGE_SIZE)
    condition = product_filter(search)
    counted = select(func.count()).select_from(Product)
    ids_query = select(Product.id).outerjoin(
        IntervalStat, col(IntervalStat.product_id) == col(Product.id)
    )
    if condition is not None:
        counted = counted.where(condition)
        ids_query = ids_query.where(condition)
    total = int(session.exec(counted).one())
    page = clamp_page(page, total, page_size)
    # First the page's ids (sorting needs only the sort columns), then their details: the
    # per-row subqueries then run for the visible rows only, not for every row OFFSET skips.
    page_ids = [
        product_id or 0
        for product_id in session.exec(
            ids_query.order_by(*_sort_order(sort, descending))
            .offset(offset_of(page, page_size))
            .limit(page_size)
        ).all()
    ]
    return Page(_product_rows(session, page_ids), total, page, page_size)


def _product_rows(session: Session, product_ids: list[int]) -> list[ProductRow]:
    """The table rows of these products, in this order."""
    if not product_ids:
        return []
    available = (
        exists()
        .where(col(Variant.product_id) == col(Product.id), col(Variant.available).is_(True))
        .correlate(Product)
    )
    details = session.exec(
        select(Product, IntervalStat, available.label("available"), first_sku().label("sku"))
        .outerjoin(IntervalStat, col(IntervalStat.product_id) == col(Product.id))
        .where(col(Product.id).in_(product_ids))
    ).all()
    by_id = {product.id: (product, stat, bool(sold), sku) for product, stat, sold, sku in details}
    replaced = {product.replacement_product_id for product, *_ in details}
    replacement_titles = _titles(session, {product_id for product_id in replaced if product_id})
    shop = session.exec(select(Shop)).first()
    plans: dict[int, list[str]] = {}
    for product_id, name in session.exec(
        select(SellingPlan.product_id, SellingPlan.name)
        .where(col(SellingPlan.product_id).in_(product_ids))
        .order_by(col(SellingPlan.product_id), col(SellingPlan.position), col(SellingPlan.id))
    ):
        plans.setdefault(product_id, []).append(name)
    return [
        replace(
            _product_row(*by_id[product_id], replacement_titles, shop),
            selling_plans=tuple(plans.get(product_id, ())),
        )
        for product_id in product_ids
        if product_id in by_id
    ]


def _titles(session: Session, product_ids: set[int]) -> dict[int, str]:
    if not product_ids:
        return {}
    rows = session.exec(
        select(Product.id, Product.title).where(col(Product.id).in_(product_ids))
    ).all()
    return {product_id or 0: title for product_id, title in rows}


def _product_row(
    product: Product,
    stat: IntervalStat | None,
    in_stock: bool,
    sku: str | None,
    replacement_titles: dict[int, str],
    shop: Shop | None,
) -> ProductRow:
    product_id = product.id or 0
    stats = (
        IntervalStats(stat.p25, stat.median, stat.p75, stat.mean, stat.n)
        if stat is not None and stat.median is not None
        else None
    )
    days, source = effective_interval(product_id, product.interval_override_days, stats, shop)
    replacement_id = product.replacement_product_id
    return ProductRow(
        id=product_id,
        title=product.title,
        handle=product.handle,
        image_url=product.image_url,
        status=product.status,
        available=in_stock and product.status == PRODUCT_SOLD_STATUS,
        sku=sku,
        p25=stat.p25 if stat else None,
        median=stat.median if stat else None,
        p75=stat.p75 if stat else None,
        mean=stat.mean if stat else None,
        n=int(stat.n or 0) if stat else 0,
        override_days=product.interval_override_days,
        effective_days=days,
        effective_source=source,
        replacement_id=replacement_id,
        replacement_title=replacement_titles.get(replacement_id) if replacement_id else None,
        placeholder=product.shopify_gid.startswith(PLACEHOLDER_PRODUCT_PREFIX),
        subscription_only=product.subscription_only,
    )


def load_product_page(
    search: str = "",
    sort: str = "title",
    descending: bool = False,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Page[ProductRow]:
    """`product_page` in a transaction of its own, for the dashboard."""
    with session_scope() as session:
        return product_page(session, search, sort, descending, page, page_size)


def parse_interval_days(raw: object) -> float:
    """Days from what a merchant typed; a clear message when it is not 1..730 days."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        raise ProductAdminError(f"Enter a number of days. {INTERVAL_RANGE_MESSAGE}")
    try:
        days = float(text)
    except ValueError:
        raise ProductAdminError(
            f"“{text[:40]}” is not a number of days. {INTERVAL_RANGE_MESSAGE}"
        ) from None
    if not math.isfinite(days) or not MIN_INTERVAL_DAYS <= days <= MAX_INTERVAL_DAYS:
        raise ProductAdminError(f"{text[:40]} days is out of range. {INTERVAL_RANGE_MESSAGE}")
    return round(days, 2)


def _product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise ProductAdminError("That product no longer exists; reload the page.")
    return product


def redate_buyers(session: Session, product_ids: Iterable[int], now: datetime) -> None:
    """Give everyone who bought these products new due dates (their interval changed)."""
    ids = sorted(set(product_ids))
    if ids:
        session.flush()
        refresh_due_dates(session, (), now, ids)


def set_override(session: Session, product_id: int, raw_days: object, now: datetime) -> float:
    """Save a validated override and re-date the product's buyers; returns the days saved."""
    days = parse_interval_days(raw_days)
    product = _product(session, product_id)
    product.interval_override_days = days
    session.add(product)
    redate_buyers(session, [product_id], now)
    return days


def clear_override(session: Session, product_id: int, now: datetime) -> None:
    """Back to the learned interval; the buyers are re-dated."""
    product = _product(session, product_id)
    if product.interval_override_days is None:
        return
    product.interval_override_days = None
    session.add(product)
    redate_buyers(session, [product_id], now)


def save_override(product_id: int, raw_days: object, now: datetime | None = None) -> float:
    """`set_override` in a transaction of its own, for the dashboard; returns the days saved."""
    with session_scope() as session:
        return set_override(session, product_id, raw_days, now or utcnow())


def remove_override(product_id: int, now: datetime | None = None) -> None:
    """`clear_override` in a transaction of its own, for the dashboard."""
    with session_scope() as session:
        clear_override(session, product_id, now or utcnow())


# ---- replacement mapping --------------------------------------------------------------------


def set_replacement(
    session: Session, product_id: int, replacement_id: int | None, now: datetime
) -> None:
    """Show `replacement_id` in place of `product_id` on carts (None removes the mapping).

    Refused when it would point at itself or close a loop (A → B → A): a cart could not say
    which product to show. Carts read the mapping when they load, so it shows on the next one.
    """
    product = _product(session, product_id)
    if replacement_id is not None:
        if replacement_id == product_id:
            raise ProductAdminError("A product cannot replace itself; choose a different product.")
        target = session.get(Product, replacement_id)
        if target is None:
            raise ProductAdminError("The replacement product no longer exists; search again.")
        seen = {replacement_id}
        current = target.replacement_product_id
        while current is not None:
            if current == product_id:
                raise ProductAdminError(
                    f"“{target.title}” is already replaced, directly or through others, by "
                    f"“{product.title}”: this mapping would make a loop. Remove that one first."
                )
            if current in seen:
                break
            seen.add(current)
            current = session.exec(
                select(Product.replacement_product_id).where(Product.id == current)
            ).first()
    product.replacement_product_id = replacement_id
    session.add(product)
    session.flush()


def save_replacement(
    product_id: int, replacement_id: int | None, now: datetime | None = None
) -> None:
    """`set_replacement` in a transaction of its own, for the dashboard."""
    with session_scope() as session:
        set_replacement(session, product_id, replacement_id, now or utcnow())
