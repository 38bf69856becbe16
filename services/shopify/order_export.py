"""Reads Shopify's order export CSV (Admin → Orders → Export) into plain order records.

The export has one row per line item; an order's own columns are filled on its first row only,
so rows are grouped by consecutive `Name`. Files can hold 100k+ rows, so the reader streams: it
keeps one order's rows at a time. A bad row is reported as a `RowError` and the rest is read;
only a file that is not a CSV export at all raises `OrderExportError`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from typing import Any, TextIO

from services.core.money import parse_money
from services.shopify.records import LineItemRecord, OrderRecord

# The columns of a real export, in Shopify's order (most of them are not read).
EXPORT_COLUMNS = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing City",
    "Billing Country",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Refunded Amount",
    "Vendor",
    "Id",
    "Tags",
    "Source",
    "Phone",
]

REQUIRED_COLUMNS = ("Name", "Created at", "Lineitem quantity", "Lineitem name")
"""Without these no order can be read; every other column is used when present."""

_BINARY_PROBE_BYTES = 4096
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
_MONEY = re.compile(r"[+-]?(?:\d+(?:,\d{3})*(?:\.\d*)?|\.\d+)")
_QUANTITY = re.compile(r"[+-]?\d+")
_ORDER_ID = re.compile(r"\d+")
_SHOWN_VALUE_CHARS = 40


class OrderExportError(Exception):
    """The file cannot be read as an order export at all (nothing of it should be imported)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One row that was not imported; `line` is the physical line where the row starts."""

    line: int
    order_name: str | None
    reason: str


def open_order_export(path: str | PathLike[str]) -> TextIO:
    """Open an export for `read_order_export`, refusing binary files before any parsing.

    `utf-8-sig` drops the BOM Shopify writes; `newline=""` lets the csv module see the quoted
    line breaks inside fields (Note Attributes) as they are.
    """
    with open(path, "rb") as raw:
        head = raw.read(_BINARY_PROBE_BYTES)
    if b"\x00" in head:
        raise OrderExportError(
            "not a UTF-8 CSV file (it holds binary data); export the orders from Shopify "
            "(Admin → Orders → Export → CSV) and import that file"
        )
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - the caller closes it


class OrderExportReader:
    """Iterator of `OrderRecord | RowError` over an open export; counts rows as it goes."""

    def __init__(self, stream: TextIO) -> None:
        self._reader = csv.reader(stream)
        self._last_line = 0
        self.rows_read = 0
        """Non-blank data rows read so far (the header is not counted)."""
        header = self._read_header()
        self._index = {name: i for i, name in reversed(list(enumerate(header)))}
        missing = [name for name in REQUIRED_COLUMNS if name not in self._index]
        if missing:
            raise OrderExportError(
                "not a Shopify order export: missing column"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            )
        self._width = len(header)
        self._items = self._read_orders()

    def __iter__(self) -> OrderExportReader:
        return self

    def __next__(self) -> OrderRecord | RowError:
        return next(self._items)

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        """(first physical line, fields) of every row, with decoding and CSV errors made fatal."""
        while True:
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except UnicodeDecodeError as error:
                raise OrderExportError(
                    f"not a UTF-8 CSV file (undecodable bytes after line {self._last_line}); "
                    "save it as 'CSV UTF-8' and try again"
                ) from error
            except csv.Error as error:
                raise OrderExportError(
                    f"malformed CSV after line {self._last_line}: {error}"
                ) from error
            start = self._last_line + 1
            self._last_line = self._reader.line_num
            yield start, row

    def _read_header(self) -> list[str]:
        for _, row in self._rows():
            # a BOM is dropped by utf-8-sig, but a stream opened otherwise may still carry it
            header = [name.replace("\ufeff", "").strip() for name in row]
            if any(header):
                return header
        raise OrderExportError("the file is empty")

    def _read_orders(self) -> Iterator[OrderRecord | RowError]:
        """Rows grouped by consecutive Name; only the current order's line items are held."""
        group: _Group | None = None
        for line, row in self._rows():
            if _is_blank(row):
                continue
            self.rows_read += 1
            name = self._field(row, "Name")
            if group is None or name != group.name:
                if group is not None:
                    yield from self._finish(group)
                group = self._start(line, row, name)
            else:
                group.rows += 1
            if group.fields is None:
                continue
            try:
                self._check_width(row)
                group.lines.append(self._line_item(row))
            except _BadValue as bad:
                yield RowError(line, name, str(bad))
        if group is not None:
            yield from self._finish(group)

    def _field(self, row: list[str], column: str) -> str:
        index = self._index.get(column)
        if index is None or index >= len(row):
            return ""
        return row[index].strip()

    def _start(self, line: int, row: list[str], name: str) -> _Group:
        """An order's first row: its order-level fields, or why the whole order is skipped."""
        try:
            if not name:
                raise _BadValue("missing Name")
            self._check_width(row)
            return _Group(name, line, self._order_fields(row, name))
        except _BadValue as bad:
            return _Group(name, line, None, problem=str(bad))

    @staticmethod
    def _finish(group: _Group) -> Iterator[OrderRecord | RowError]:
        if group.fields is None:
            skipped = f"; order skipped ({group.rows} rows)" if group.rows > 1 else ""
            yield RowError(group.line, group.name or None, f"{group.problem}{skipped}")
            return
        fields = group.fields
        if fields["total_cents"] is None:
            fields["total_cents"] = sum(
                (item.unit_price_cents or 0) * item.quantity for item in group.lines
            )
        yield OrderRecord(**fields, lines=tuple(group.lines), lines_carry_plans=False)

    def _check_width(self, row: list[str]) -> None:
        if len(row) != self._width:
            raise _BadValue(f"row has {len(row)} fields, the header has {self._width}")

    def _order_fields(self, row: list[str], name: str) -> dict[str, Any]:
        created = self._date(row, "Created at", required=True)
        assert created is not None
        paid = self._date(row, "Paid at")
        cancelled = self._date(row, "Cancelled at")
        order_id = self._field(row, "Id")
        if order_id and not _ORDER_ID.fullmatch(order_id):
            raise _BadValue(f"bad order id {_shown(order_id)} in Id")
        total = self._field(row, "Total")
        billing_name = self._field(row, "Billing Name")
        status = self._field(row, "Financial Status").lower()
        return {
            "gid": f"gid://shopify/Order/{order_id}" if order_id else f"csv:{name}",
            "name": name,
            "processed_at": created,
            "updated_at": max(moment for moment in (created, paid, cancelled) if moment),
            "cancelled_at": cancelled,
            "financial_status": status or None,
            "test": False,
            "email": self._field(row, "Email") or None,
            "phone": self._field(row, "Phone") or None,
            "customer_gid": None,
            "first_name": billing_name.split()[0] if billing_name else "",
            "total_cents": _money(total, "Total") if total else None,
            "currency": self._field(row, "Currency").upper(),
            "attributes": _attributes(self._field(row, "Note Attributes")),
        }

    def _line_item(self, row: list[str]) -> LineItemRecord:
        title = self._field(row, "Lineitem name")
        sku = self._field(row, "Lineitem sku") or None
        if not title and not sku:
            raise _BadValue("missing Lineitem name")
        text = self._field(row, "Lineitem quantity")
        if not _QUANTITY.fullmatch(text):
            raise _BadValue(f"bad quantity {_shown(text)} in Lineitem quantity")
        quantity = int(text)
        if quantity <= 0:
            raise _BadValue(f"quantity must be positive, got {quantity} in Lineitem quantity")
        price = self._field(row, "Lineitem price")
        unit_price = _money(price, "Lineitem price") if price else None
        if unit_price is not None and unit_price < 0:
            raise _BadValue(f"negative price {_shown(price)} in Lineitem price")
        return LineItemRecord(title=title, sku=sku, quantity=quantity, unit_price_cents=unit_price)

    def _date(self, row: list[str], column: str, *, required: bool = False) -> datetime | None:
        text = self._field(row, column)
        if not text:
            if required:
                raise _BadValue(f"missing {column}")
            return None
        moment = parse_export_date(text)
        if moment is None:
            raise _BadValue(f"bad date {_shown(text)} in {column}")
        return moment


class _BadValue(ValueError):
    """A value in a row that cannot be read; becomes a RowError."""


@dataclass(slots=True)
class _Group:
    """The order being read: its fields (None when skipped) and its line items so far."""

    name: str
    line: int
    fields: dict[str, Any] | None
    problem: str = ""
    rows: int = 1
    lines: list[LineItemRecord] = field(default_factory=list)


def read_order_export(stream: TextIO) -> OrderExportReader:
    """Stream orders and row errors from an open export, in file order.

    The header is checked at once (missing columns or an empty file raise `OrderExportError`);
    the rows are read lazily, one order at a time.
    """
    return OrderExportReader(stream)


def parse_export_date(text: str) -> datetime | None:
    """`2025-10-07 09:50:26 +0200` (or ISO 8601 with an offset) → aware UTC; None if unreadable.

    A time without an offset is refused: guessing the shop's zone would shift days.
    """
    try:
        moment = datetime.strptime(text, _DATE_FORMAT)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None
    return moment.astimezone(UTC)


def _attributes(text: str) -> dict[str, str]:
    """`key: value` lines (Shopify's rendering of note attributes) to a dict; others ignored."""
    attributes: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            attributes[key.strip()] = value.strip()
    return attributes


def _money(text: str, column: str) -> int:
    if not _MONEY.fullmatch(text):
        raise _BadValue(f"bad price {_shown(text)} in {column}")
    return parse_money(text)


def _is_blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


def _shown(value: str) -> str:
    """A value quoted for a message, cut short so one odd cell cannot flood the report."""
    if len(value) > _SHOWN_VALUE_CHARS:
        value = value[: _SHOWN_VALUE_CHARS - 1] + "…"
    return repr(value)
