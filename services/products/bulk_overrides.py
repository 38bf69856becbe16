"""Interval overrides from a CSV the merchant uploads: every good row is applied, every bad row
reported by its line, and a file that cannot be read changes nothing.

Spreadsheets save CSVs in several encodings and layouts, so the reader is lenient about those
(BOMs, UTF-16, header spellings, blank lines) and strict about the values.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import session_scope
from services.core.tables import Product, Variant
from services.products.intervals import ProductAdminError, parse_interval_days, redate_buyers

MAX_CSV_BYTES = 2_000_000
MAX_CSV_ROWS = 20_000

_HANDLE_HEADERS = {"handle", "product handle", "product_handle"}
_SKU_HEADERS = {"sku", "variant sku", "variant_sku"}
_DAYS_HEADERS = {"days", "interval", "interval days", "interval_days", "override", "override_days"}
_LOOKUP_CHUNK = 500


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


class _Wanted(NamedTuple):
    """A CSV row that names a product and a valid number of days."""

    line: int
    kind: str  # handle | sku
    key: str  # lower-cased, as looked up
    shown: str  # as written
    days: float


def _csv_rows(data: bytes | str) -> tuple[list[tuple[int, list[str]]], tuple[int | None, ...]]:
    """The numbered non-blank data rows and the (handle, sku, days) columns; a
    `ProductAdminError` says why the whole file is refused."""
    if len(data.encode() if isinstance(data, str) else data) > MAX_CSV_BYTES:
        raise ProductAdminError(
            f"The file is larger than {MAX_CSV_BYTES // 1_000_000} MB; split it. "
            "Nothing was changed."
        )
    text = decode_csv(data)
    if "\x00" in text:
        raise ProductAdminError(
            "The file is not a text CSV (it holds binary data). Nothing was changed."
        )
    try:
        lines = [
            (number, row)
            for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
            if any(cell.strip() for cell in row)
        ]
    except csv.Error as error:
        raise ProductAdminError(
            f"The file could not be read as CSV ({error}). Nothing was changed."
        ) from error
    if not lines:
        raise ProductAdminError(
            "The file is empty. Upload a CSV whose first row is “handle,days” (or “sku,days”)."
        )
    columns = _header_columns(lines[0][1])
    if len(lines) == 1:
        raise ProductAdminError(
            "The file has a header row but no products under it. Nothing was changed."
        )
    if len(lines) - 1 > MAX_CSV_ROWS:
        raise ProductAdminError(
            f"The file has more than {MAX_CSV_ROWS:,} rows; split it. Nothing was changed."
        )
    return lines[1:], columns


def _wanted_rows(
    rows: list[tuple[int, list[str]]],
    columns: tuple[int | None, ...],
    problems: list[BulkRowProblem],
) -> list[_Wanted]:
    """The rows that name a product and valid days; the others are reported in `problems`."""
    handle_col, sku_col, days_col = columns
    wanted = []
    for number, row in rows:
        handle, sku = _cell(row, handle_col), _cell(row, sku_col)
        kind, key = ("handle", handle) if handle else ("sku", sku)
        if not key:
            problems.append(BulkRowProblem(number, "", "No handle or SKU in this row."))
            continue
        raw_days = _cell(row, days_col)
        if not raw_days:
            problems.append(BulkRowProblem(number, key, "No days in this row."))
            continue
        try:
            days = parse_interval_days(raw_days)
        except ProductAdminError as error:
            problems.append(BulkRowProblem(number, key, str(error)))
            continue
        wanted.append(_Wanted(number, kind, key.lower(), key, days))
    return wanted


def _choose_products(
    session: Session, wanted: list[_Wanted], problems: list[BulkRowProblem]
) -> dict[int, tuple[int, float]]:
    """Product id -> (line, days) for the rows naming exactly one product, first row first."""
    found = {
        kind: _lookup(session, kind, {row.key for row in wanted if row.kind == kind})
        for kind in ("handle", "sku")
    }
    chosen: dict[int, tuple[int, float]] = {}
    for row in wanted:
        matches = found[row.kind].get(row.key, set())
        label = "handle" if row.kind == "handle" else "SKU"
        if len(matches) != 1:
            message = (
                f"No product has the {label} “{row.shown}”."
                if not matches
                else f"The {label} “{row.shown}” belongs to several products; use the handle."
            )
            problems.append(BulkRowProblem(row.line, row.shown, message))
            continue
        product_id = next(iter(matches))
        if product_id in chosen:
            first_line, first_days = chosen[product_id]
            message = (
                f"Duplicate of row {first_line}; ignored."
                if first_days == row.days
                else f"Same product as row {first_line}, which was applied ({first_days:g} days); "
                "this row was ignored."
            )
            problems.append(BulkRowProblem(row.line, row.shown, message))
            continue
        chosen[product_id] = (row.line, row.days)
    return chosen


def _write_overrides(session: Session, chosen: dict[int, tuple[int, float]]) -> None:
    """One UPDATE per distinct number of days (in chunks), not one per product."""
    by_days: dict[float, list[int]] = {}
    for product_id, (_, days) in chosen.items():
        by_days.setdefault(days, []).append(product_id)
    for days, product_ids in by_days.items():
        for start in range(0, len(product_ids), _LOOKUP_CHUNK):
            session.exec(
                update(Product)
                .where(col(Product.id).in_(product_ids[start : start + _LOOKUP_CHUNK]))
                .values(interval_override_days=days)
            )


def bulk_override(session: Session, data: bytes | str, now: datetime) -> BulkReport:
    """Apply a CSV of overrides: every good row is applied, every bad row reported by line.

    Columns (header names case-insensitive): `handle` or `sku` (either per row), and `days`.
    The good rows are written together and the affected customers re-dated once. A product
    named twice keeps its first row; the later one is reported.
    """
    report = BulkReport()
    try:
        rows, columns = _csv_rows(data)
    except ProductAdminError as error:
        report.file_error = str(error)
        return report
    report.rows = len(rows)
    chosen = _choose_products(
        session, _wanted_rows(rows, columns, report.problems), report.problems
    )
    _write_overrides(session, chosen)
    redate_buyers(session, chosen, now)
    session.expire_all()
    report.applied = len(chosen)
    report.problems.sort(key=lambda problem: problem.row)
    return report


def import_overrides(data: bytes | str, now: datetime | None = None) -> BulkReport:
    """`bulk_override` in a transaction of its own, for the dashboard's upload."""
    with session_scope() as session:
        return bulk_override(session, data, now or utcnow())
