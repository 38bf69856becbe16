"""The dashboard's Products page: the catalog with its learned intervals, and the merchant's
corrections to them (interval overrides, one by one or from a CSV, and replacement mappings).

Stores have thousands of products, so searching, sorting and paging happen in SQL. An override
changes due dates, so saving one re-dates the customers who bought the product at once: the
next cart load and reminder already follow it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import exists, func, or_, update
from sqlmodel import Session, select

from services.core.tables import PRODUCT_SOLD_STATUS, IntervalStat, Product, Shop, Variant
from services.engine import IntervalStats, LearnedIntervals, population_interval
from services.engine.recompute import settings_of
from services.ingest.matching import PLACEHOLDER_PRODUCT_PREFIX
from services.ingest.orders import refresh_due_dates

MIN_INTERVAL_DAYS = 1
MAX_INTERVAL_DAYS = 730
INTERVAL_RANGE_MESSAGE = (
    f"Use a number of days from {MIN_INTERVAL_DAYS} to {MAX_INTERVAL_DAYS} (two years)."
)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_CSV_BYTES = 2_000_000
MAX_CSV_ROWS = 20_000

SortKey = Literal["title", "median", "n", "status"]
SORT_KEYS: tuple[str, ...] = ("title", "median", "n", "status")

_HANDLE_HEADERS = {"handle", "product handle", "product_handle"}
_SKU_HEADERS = {"sku", "variant sku", "variant_sku"}
_DAYS_HEADERS = {"days", "interval", "interval days", "interval_days", "override", "override_days"}
_LOOKUP_CHUNK = 500


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


@dataclass(frozen=True, slots=True)
class ProductPage:
    rows: list[ProductRow]
    total: int
    offset: int
    limit: int


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search_filter(search: str) -> Any:
    """Title, handle or any variant's SKU containing the text, case-insensitively."""
    pattern = _like_pattern(search.strip())
    sku_match = exists().where(
        Variant.product_id == Product.id,
        Variant.sku.ilike(pattern, escape="\\"),  # type: ignore[union-attr]
    )
    return or_(
        Product.title.ilike(pattern, escape="\\"),  # type: ignore[attr-defined]
        Product.handle.ilike(pattern, escape="\\"),  # type: ignore[attr-defined]
        sku_match,
    )


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


def product_page(
    session: Session,
    search: str = "",
    sort: str = "title",
    descending: bool = False,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> ProductPage:
    """One page of products (search, sort and paging in SQL) with a total count."""
    limit = min(max(int(limit), 1), MAX_PAGE_SIZE)
    offset = max(int(offset), 0)
    if sort not in SORT_KEYS:
        sort = "title"
    filters = [_search_filter(search)] if search.strip() else []

    total = session.exec(select(func.count()).select_from(Product).where(*filters)).one()

    available = (
        exists()
        .where(Variant.product_id == Product.id, Variant.available.is_(True))  # type: ignore[attr-defined]
        .correlate(Product)
    )
    first_sku = (
        select(Variant.sku)
        .where(Variant.product_id == Product.id, Variant.sku.is_not(None))  # type: ignore[union-attr]
        .order_by(Variant.position, Variant.id)
        .limit(1)
        .correlate(Product)
        .scalar_subquery()
    )
    title_key = func.lower(Product.title)
    sort_columns: dict[str, Any] = {
        "title": title_key,
        "median": IntervalStat.median,
        "n": func.coalesce(IntervalStat.n, 0),
        "status": Product.status,
    }
    primary = sort_columns[sort]
    primary = primary.desc() if descending else primary.asc()
    if sort == "median":
        primary = primary.nulls_last()
    # First the page's ids (sorting needs only the sort columns), then their details: the
    # per-row subqueries then run for the visible rows only, not for every row OFFSET skips.
    page_ids = session.exec(
        select(Product.id)
        .outerjoin(IntervalStat, IntervalStat.product_id == Product.id)
        .where(*filters)
        .order_by(primary, title_key, Product.id)
        .offset(offset)
        .limit(limit)
    ).all()
    raw = []
    if page_ids:
        details = session.exec(
            select(  # type: ignore[call-overload]
                Product.id,
                Product.title,
                Product.handle,
                Product.image_url,
                Product.status,
                available.label("available"),
                first_sku.label("sku"),
                IntervalStat.p25,
                IntervalStat.median,
                IntervalStat.p75,
                IntervalStat.mean,
                IntervalStat.n,
                Product.interval_override_days,
                Product.replacement_product_id,
                Product.shopify_gid,
            )
            .outerjoin(IntervalStat, IntervalStat.product_id == Product.id)
            .where(Product.id.in_(page_ids))  # type: ignore[union-attr]
        ).all()
        by_id = {row.id: row for row in details}
        raw = [by_id[product_id] for product_id in page_ids if product_id in by_id]
    replacement_ids = {row.replacement_product_id for row in raw if row.replacement_product_id}
    replacement_titles: dict[int, str] = {}
    if replacement_ids:
        replacement_titles = dict(
            session.exec(
                select(Product.id, Product.title).where(Product.id.in_(replacement_ids))  # type: ignore[union-attr]
            ).all()
        )
    shop = session.exec(select(Shop)).first()
    rows = []
    for row in raw:
        stats = (
            IntervalStats(row.p25, row.median, row.p75, row.mean, row.n)
            if row.median is not None
            else None
        )
        days, source = effective_interval(row.id, row.interval_override_days, stats, shop)
        rows.append(
            ProductRow(
                id=row.id,
                title=row.title,
                handle=row.handle,
                image_url=row.image_url,
                status=row.status,
                available=bool(row.available) and row.status == PRODUCT_SOLD_STATUS,
                sku=row.sku,
                p25=row.p25,
                median=row.median,
                p75=row.p75,
                mean=row.mean,
                n=int(row.n or 0),
                override_days=row.interval_override_days,
                effective_days=days,
                effective_source=source,
                replacement_id=row.replacement_product_id,
                replacement_title=replacement_titles.get(row.replacement_product_id)
                if row.replacement_product_id
                else None,
                placeholder=row.shopify_gid.startswith(PLACEHOLDER_PRODUCT_PREFIX),
            )
        )
    return ProductPage(rows=rows, total=int(total), offset=offset, limit=limit)


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


# ---- bulk override from a CSV ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkRowProblem:
    row: int  # the line number in the file; the header is row 1
    key: str  # the handle or SKU the row named (as written)
    message: str


@dataclass(slots=True)
class BulkReport:
    applied: int = 0
    rows: int = 0  # data rows read (blank lines not counted)
    problems: list[BulkRowProblem] = field(default_factory=list)
    file_error: str = ""  # the whole file was refused; nothing applied


def decode_csv(data: bytes | str) -> str:
    """Text of an uploaded CSV: UTF-8 (with or without Excel's BOM) or BOM-marked UTF-16."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    else:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
    raise ProductAdminError(
        "The file is not UTF-8 text. In your spreadsheet choose “CSV UTF-8” when saving, "
        "then upload it again. Nothing was changed."
    )


def _header_columns(header: Sequence[str]) -> tuple[int | None, int | None, int]:
    names = [name.strip().lower() for name in header]
    handle = next((i for i, name in enumerate(names) if name in _HANDLE_HEADERS), None)
    sku = next((i for i, name in enumerate(names) if name in _SKU_HEADERS), None)
    days = next((i for i, name in enumerate(names) if name in _DAYS_HEADERS), None)
    if days is None or (handle is None and sku is None):
        found = ", ".join(f"“{h.strip()}”" for h in header if h.strip()) or "nothing"
        raise ProductAdminError(
            "The first row must name the columns: “handle” or “sku”, and “days” "
            f"(found {found}). Nothing was changed."
        )
    return handle, sku, days


def _cell(row: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _lookup(session: Session, kind: str, keys: set[str]) -> dict[str, set[int]]:
    """Lower-cased handle or SKU -> product ids, in chunks (handles and SKUs ignore case)."""
    key_column: Any = Product.handle if kind == "handle" else Variant.sku
    id_column: Any = Product.id if kind == "handle" else Variant.product_id
    found: dict[str, set[int]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        chunk = ordered[start : start + _LOOKUP_CHUNK]
        rows = session.exec(
            select(func.lower(key_column), id_column).where(func.lower(key_column).in_(chunk))
        ).all()
        for key, product_id in rows:
            found.setdefault(key, set()).add(product_id)
    return found


def bulk_override(session: Session, data: bytes | str, now: datetime) -> BulkReport:
    """Apply a CSV of overrides: every good row is applied, every bad row reported by line.

    Columns (header names case-insensitive): `handle` or `sku` (either per row), and `days`.
    The good rows are written together and the affected customers re-dated once. A product
    named twice keeps its first row; the later one is reported.
    """
    report = BulkReport()
    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_CSV_BYTES:
        report.file_error = (
            f"The file is larger than {MAX_CSV_BYTES // 1_000_000} MB; split it. "
            "Nothing was changed."
        )
        return report
    try:
        text = decode_csv(data)
        if "\x00" in text:
            raise ProductAdminError(
                "The file is not a text CSV (it holds binary data). Nothing was changed."
            )
        lines = [
            (number, row)
            for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
            if any(cell.strip() for cell in row)
        ]
        if not lines:
            raise ProductAdminError(
                "The file is empty. Upload a CSV whose first row is “handle,days” (or “sku,days”)."
            )
        handle_col, sku_col, days_col = _header_columns(lines[0][1])
    except ProductAdminError as error:
        report.file_error = str(error)
        return report
    except csv.Error as error:
        report.file_error = f"The file could not be read as CSV ({error}). Nothing was changed."
        return report
    data_rows = lines[1:]
    if not data_rows:
        report.file_error = (
            "The file has a header row but no products under it. Nothing was changed."
        )
        return report
    if len(data_rows) > MAX_CSV_ROWS:
        report.file_error = (
            f"The file has more than {MAX_CSV_ROWS:,} rows; split it. Nothing was changed."
        )
        return report
    report.rows = len(data_rows)

    parsed: list[tuple[int, str, str, str, float]] = []  # line, kind, key, shown key, days
    for number, row in data_rows:
        handle, sku = _cell(row, handle_col), _cell(row, sku_col)
        kind, key = ("handle", handle) if handle else ("sku", sku)
        if not key:
            report.problems.append(BulkRowProblem(number, "", "No handle or SKU in this row."))
            continue
        raw_days = _cell(row, days_col)
        if not raw_days:
            report.problems.append(BulkRowProblem(number, key, "No days in this row."))
            continue
        try:
            days = parse_interval_days(raw_days)
        except ProductAdminError as error:
            report.problems.append(BulkRowProblem(number, key, str(error)))
            continue
        parsed.append((number, kind, key.lower(), key, days))

    handles = _lookup(session, "handle", {k for _, kind, k, _, _ in parsed if kind == "handle"})
    skus = _lookup(session, "sku", {k for _, kind, k, _, _ in parsed if kind == "sku"})
    chosen: dict[int, tuple[int, float]] = {}  # product id -> (line, days)
    for number, kind, key, shown, days in parsed:
        matches = (handles if kind == "handle" else skus).get(key, set())
        label = "handle" if kind == "handle" else "SKU"
        if not matches:
            report.problems.append(
                BulkRowProblem(number, shown, f"No product has the {label} “{shown}”.")
            )
            continue
        if len(matches) > 1:
            report.problems.append(
                BulkRowProblem(
                    number,
                    shown,
                    f"The {label} “{shown}” belongs to several products; use the handle.",
                )
            )
            continue
        product_id = next(iter(matches))
        if product_id in chosen:
            first_line, first_days = chosen[product_id]
            message = (
                f"Duplicate of row {first_line}; ignored."
                if first_days == days
                else f"Same product as row {first_line}, which was applied ({first_days:g} days); "
                "this row was ignored."
            )
            report.problems.append(BulkRowProblem(number, shown, message))
            continue
        chosen[product_id] = (number, days)

    by_days: dict[float, list[int]] = {}
    for product_id, (_, days) in chosen.items():
        by_days.setdefault(days, []).append(product_id)
    for days, product_ids in by_days.items():
        for start in range(0, len(product_ids), _LOOKUP_CHUNK):
            session.execute(
                update(Product)
                .where(Product.id.in_(product_ids[start : start + _LOOKUP_CHUNK]))  # type: ignore[union-attr]
                .values(interval_override_days=days)
            )
    redate_buyers(session, chosen, now)
    session.expire_all()
    report.applied = len(chosen)
    report.problems.sort(key=lambda problem: problem.row)
    return report


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
