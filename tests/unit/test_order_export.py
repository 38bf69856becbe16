"""The order export CSV adapter: Shopify's file in, plain records and per-row errors out."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from services.shopify.order_export import (
    EXPORT_COLUMNS,
    OrderExportError,
    RowError,
    open_order_export,
    parse_export_date,
    read_order_export,
)
from services.shopify.records import LineItemRecord, OrderRecord

HEADER = EXPORT_COLUMNS


def export(*rows: dict[str, str], header: list[str] = HEADER, bom: bool = False) -> io.StringIO:
    """An in-memory export: each row a dict of the columns it fills (the rest stay empty)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return io.StringIO(("\ufeff" if bom else "") + out.getvalue())


def head(name: str, created: str = "2025-10-07 09:50:26 +0200", **fields: str) -> dict[str, str]:
    """An order's first row: order-level columns plus its first line item."""
    row = {
        "Name": name,
        "Email": "ava@example.com",
        "Financial Status": "paid",
        "Paid at": created,
        "Currency": "EUR",
        "Total": "25.00",
        "Created at": created,
        "Lineitem quantity": "1",
        "Lineitem name": "Coffee - 1kg",
        "Lineitem price": "12.50",
        "Lineitem sku": "COF-1KG",
        "Billing Name": "Ava Smith",
        "Id": "5001",
    }
    row.update({key.replace("_", " "): value for key, value in fields.items()})
    return row


def line(name: str, **fields: str) -> dict[str, str]:
    """A further line item of an order: only the line columns (and Name) are filled."""
    row = {
        "Name": name,
        "Lineitem quantity": "1",
        "Lineitem name": "Tea",
        "Lineitem price": "4.00",
        "Lineitem sku": "TEA",
    }
    row.update({key.replace("_", " "): value for key, value in fields.items()})
    return row


def read(stream: io.StringIO) -> tuple[list[OrderRecord], list[RowError]]:
    items = list(read_order_export(stream))
    orders = [item for item in items if isinstance(item, OrderRecord)]
    errors = [item for item in items if isinstance(item, RowError)]
    return orders, errors


REALISTIC = (
    "\ufeffName,Email,Financial Status,Paid at,Currency,Total,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem sku,Billing Name,Note Attributes,Cancelled at,Id,"
    "Phone\n"
    "#1001,Ava@Example.com,paid,2025-10-07 09:51:02 +0200,EUR,37.00,2025-10-07 09:50:26 +0200,2,"
    'Coffee - 1kg,12.50,COF-1KG,Ava Smith,"_repeatcart_cart: 42\n_repeatcart_channel: klaviyo\n'
    'gift: yes: wrapped",,5001,\n'
    "#1001,,,,,,,3,Tea,4.00,TEA,,,,,\n"
    "#1002,,refunded,,EUR,8.00,2025-10-08 23:30:00 -0500,1,Soap,8,,Bo Li,,,5002,+15551234567\n"
    '#1003,cy@example.com,Paid,,EUR,"1,004.00",2025-10-09 00:10:00 +0000,1,"Candle, large",'
    "1004.00,,,,2025-10-10 08:00:00 +0200,,\n"
)


def test_a_realistic_export_reads_into_orders():
    orders, errors = read(io.StringIO(REALISTIC))
    assert errors == []
    assert [order.name for order in orders] == ["#1001", "#1002", "#1003"]
    ava, bo, cy = orders
    assert ava == OrderRecord(
        gid="gid://shopify/Order/5001",
        name="#1001",
        processed_at=datetime(2025, 10, 7, 7, 50, 26, tzinfo=UTC),
        updated_at=datetime(2025, 10, 7, 7, 51, 2, tzinfo=UTC),  # paid after it was placed
        cancelled_at=None,
        financial_status="paid",
        test=False,
        email="Ava@Example.com",
        phone=None,
        customer_gid=None,
        first_name="Ava",
        total_cents=3700,
        currency="EUR",
        attributes={
            "_repeatcart_cart": "42",
            "_repeatcart_channel": "klaviyo",
            "gift": "yes: wrapped",
        },
        lines=(
            LineItemRecord("Coffee - 1kg", "COF-1KG", 2, 1250),
            LineItemRecord("Tea", "TEA", 3, 400),
        ),
        lines_carry_plans=False,  # an export names no selling plans
    )
    assert bo.processed_at == datetime(2025, 10, 9, 4, 30, tzinfo=UTC)  # next day in UTC
    assert bo.financial_status == "refunded" and bo.email is None and bo.phone == "+15551234567"
    assert bo.lines == (LineItemRecord("Soap", None, 1, 800),)
    assert cy.financial_status == "paid"  # lowercased
    assert cy.cancelled_at == datetime(2025, 10, 10, 6, tzinfo=UTC)
    assert cy.updated_at == cy.cancelled_at
    assert cy.total_cents == 100400
    assert cy.gid == "csv:#1003"  # no Id: the name stands in
    assert cy.lines[0].title == "Candle, large"


def test_rows_are_counted_and_the_reader_streams():
    stream = io.StringIO(REALISTIC)
    reader = read_order_export(stream)
    first = next(reader)
    assert isinstance(first, OrderRecord) and first.name == "#1001"
    assert reader.rows_read == 3  # the first row of the next order ended #1001, no more
    list(reader)
    assert reader.rows_read == 4


def test_order_columns_are_read_from_the_first_row_only():
    stream = export(
        head("#1", Email="first@example.com"),
        line("#1", Email="second@example.com", Created_at="garbage"),
    )
    orders, errors = read(stream)
    assert errors == [] and orders[0].email == "first@example.com" and len(orders[0].lines) == 2


def test_the_bom_is_dropped_from_the_first_column():
    orders, errors = read(export(head("#1"), bom=True))
    assert errors == [] and orders[0].name == "#1"


def test_total_defaults_to_the_sum_of_the_lines_and_currency_may_be_absent():
    stream = export(
        head("#1", Total="", Currency="", Lineitem_quantity="2"), line("#1", Lineitem_price="")
    )
    order = read(stream)[0][0]
    assert order.total_cents == 2500 and order.currency == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-07 09:50:26 +0200", datetime(2025, 10, 7, 7, 50, 26, tzinfo=UTC)),
        ("2025-10-07 09:50:26 -0430", datetime(2025, 10, 7, 14, 20, 26, tzinfo=UTC)),
        ("2025-10-07T09:50:26+02:00", datetime(2025, 10, 7, 7, 50, 26, tzinfo=UTC)),
        ("2025-10-07 09:50:26 UTC", None),
        ("2025-10-07 09:50:26", None),  # no offset: refused rather than guessed
        ("07/10/2025 09:50", None),
        ("", None),
    ],
)
def test_export_dates(text, expected):
    assert parse_export_date(text) == expected


def test_missing_columns_are_fatal_and_named():
    header = [c for c in HEADER if c not in ("Created at", "Lineitem quantity")]
    with pytest.raises(OrderExportError, match="missing columns Created at, Lineitem quantity"):
        read_order_export(export(head("#1"), header=header))


def test_only_the_core_columns_are_required():
    header = ["Name", "Created at", "Lineitem quantity", "Lineitem name"]
    order = read(export(head("#1"), header=header))[0][0]
    assert order.gid == "csv:#1" and order.email is None and order.lines[0].sku is None
    assert order.lines[0].unit_price_cents is None and order.total_cents == 0


def test_an_empty_file_is_fatal():
    with pytest.raises(OrderExportError, match="the file is empty"):
        read_order_export(io.StringIO(""))
    with pytest.raises(OrderExportError, match="the file is empty"):
        read_order_export(io.StringIO("\ufeff\n\n"))


def test_a_header_alone_is_an_export_without_orders():
    assert read(export()) == ([], [])


def test_blank_rows_are_skipped_silently():
    stream = export(head("#1"), {}, line("#1"), {}, head("#2"))
    orders, errors = read(stream)
    assert errors == []
    assert [(order.name, len(order.lines)) for order in orders] == [("#1", 2), ("#2", 1)]
    blank_lines = io.StringIO("Name,Created at,Lineitem quantity,Lineitem name\n\n   \n,,,\n")
    assert read(blank_lines) == ([], [])


def test_bad_line_values_drop_the_line_with_its_exact_line_number():
    stream = export(
        head("#1"),  # line 2
        line("#1", Lineitem_quantity="-1"),  # line 3
        line("#1", Lineitem_quantity="0"),  # line 4
        line("#1", Lineitem_quantity="1.5"),  # line 5
        line("#1", Lineitem_price="12,50 €"),  # line 6
        line("#1", Lineitem_price="-4.00"),  # line 7
        line("#1", Lineitem_name="", Lineitem_sku=""),  # line 8
        line("#1", Lineitem_quantity="4"),  # line 9: fine
    )
    orders, errors = read(stream)
    assert [(e.line, e.order_name, e.reason) for e in errors] == [
        (3, "#1", "quantity must be positive, got -1 in Lineitem quantity"),
        (4, "#1", "quantity must be positive, got 0 in Lineitem quantity"),
        (5, "#1", "bad quantity '1.5' in Lineitem quantity"),
        (6, "#1", "bad price '12,50 €' in Lineitem price"),
        (7, "#1", "negative price '-4.00' in Lineitem price"),
        (8, "#1", "missing Lineitem name"),
    ]
    assert [item.quantity for item in orders[0].lines] == [1, 4]


def test_a_bad_order_field_skips_the_whole_order():
    stream = export(
        head("#1"),  # line 2
        head("#2", created="2025-13-45 09:00:00 +0200"),  # line 3
        line("#2"),  # line 4
        head("#3", Total="twelve"),  # line 5
        head("#4", Id="5.0012E+12"),  # line 6: Excel mangled the id
        head("#5", created=""),  # line 7
        head("#6"),  # line 8
    )
    orders, errors = read(stream)
    assert [order.name for order in orders] == ["#1", "#6"]
    assert [(e.line, e.order_name, e.reason) for e in errors] == [
        (3, "#2", "bad date '2025-13-45 09:00:00 +0200' in Created at; order skipped (2 rows)"),
        (5, "#3", "bad price 'twelve' in Total"),
        (6, "#4", "bad order id '5.0012E+12' in Id"),
        (7, "#5", "missing Created at"),
    ]


def test_line_numbers_count_physical_lines_of_multi_line_fields():
    text = (
        "Name,Created at,Lineitem quantity,Lineitem name,Note Attributes\n"  # line 1
        '#1,2025-10-07 09:50:26 +0200,1,Tea,"a: 1\nb: 2\nc: 3"\n'  # lines 2-4
        "#1,,x,Tea,\n"  # line 5
        "\n"  # line 6
        '#2,2025-10-07 09:50:26 +0200,1,"Soap\nbar",\n'  # lines 7-8
        "#2,,1,Soap,,extra\n"  # line 9
        "#3,yesterday,1,Soap,\n"  # line 10
    )
    orders, errors = read(io.StringIO(text))
    assert [(e.line, e.order_name, e.reason) for e in errors] == [
        (5, "#1", "bad quantity 'x' in Lineitem quantity"),
        (9, "#2", "row has 6 fields, the header has 5"),
        (10, "#3", "bad date 'yesterday' in Created at"),
    ]
    assert orders[0].attributes == {"a": "1", "b": "2", "c": "3"}
    assert orders[1].lines[0].title == "Soap\nbar"


def test_crlf_line_endings_and_a_missing_name():
    text = (
        "Name,Created at,Lineitem quantity,Lineitem name\r\n"
        "#1,2025-10-07 09:50:26 +0200,1,Tea\r\n"
        ",2025-10-07 09:50:26 +0200,1,Tea\r\n"
    )
    orders, errors = read(io.StringIO(text, newline=""))
    assert [order.name for order in orders] == ["#1"]
    assert errors == [RowError(3, None, "missing Name")]


def test_an_order_name_seen_again_later_is_not_merged_silently():
    stream = export(head("#1"), head("#2"), line("#1"))
    orders, errors = read(stream)
    assert [order.name for order in orders] == ["#1", "#2"]
    assert errors == [RowError(4, "#1", "missing Created at")]


def test_a_binary_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4)
    with pytest.raises(OrderExportError, match="not a UTF-8 CSV file"):
        open_order_export(path)


def test_undecodable_bytes_later_in_the_file_are_fatal(tmp_path):
    path = tmp_path / "orders.csv"
    good = "Name,Created at,Lineitem quantity,Lineitem name\n#1,2025-10-07 09:50:26 +0200,1,Tea\n"
    path.write_bytes(good.encode() * 1 + b"#2,2025-10-07 09:50:26 +0200,1,Caf\xe9\n")
    with open_order_export(path) as stream, pytest.raises(OrderExportError, match="not a UTF-8"):
        list(read_order_export(stream))


def test_open_order_export_drops_the_bom_and_keeps_quoted_newlines(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(("\ufeff" + REALISTIC.lstrip("\ufeff")).replace("\n", "\r\n").encode())
    with open_order_export(path) as stream:
        orders, errors = read(stream)
    assert errors == [] and [order.name for order in orders] == ["#1001", "#1002", "#1003"]
    assert orders[0].attributes["_repeatcart_channel"] == "klaviyo"
