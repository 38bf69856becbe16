"""Interval overrides from an uploaded CSV: good rows applied and their customers re-dated, bad
rows reported by line, and a file that cannot be read refused whole."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from services.core.tables import Product
from services.products.bulk_overrides import bulk_override
from tests.integration.test_product_intervals import (
    NOW,
    Store,
    _ava_coffee_due,
    _coffee_store,
    _due_titles,
)


def _overrides(session: Session) -> dict[str, float | None]:
    session.expire_all()
    return {p.handle: p.interval_override_days for p in session.exec(select(Product)).all()}


def test_bulk_csv_applies_good_rows_and_reports_each_bad_one(session: Session):
    _, ava, link, products = _coffee_store(session)
    csv_text = (
        "\ufeffHandle,SKU,Days\n"  # Excel's BOM and capitalised headers
        "coffee,,12\n"
        ",TEA-1,45\n"  # by SKU when the handle is empty
        "no-such-thing,,30\n"
        ",NOPE-9,30\n"
        "soap,,thirty\n"
        "soap,,0\n"
        "soap,,9999\n"
        "\n"  # a blank line is skipped, not an error
        "coffee,,12\n"  # duplicate
        "COFFEE,,14\n"  # same product, other value: first row wins
        "soap\n"  # the days column is missing from this row
        ",,5\n"
    )
    report = bulk_override(session, csv_text.encode("utf-8"), NOW)
    session.commit()
    assert report.file_error == ""
    assert report.applied == 2 and report.rows == 11
    problems = {problem.row: problem for problem in report.problems}
    assert sorted(problems) == [4, 5, 6, 7, 8, 10, 11, 12, 13]
    assert "No product has the handle “no-such-thing”" in problems[4].message
    assert "SKU “NOPE-9”" in problems[5].message
    assert "not a number" in problems[6].message and "1 to 730" in problems[6].message
    assert "1 to 730" in problems[7].message and "1 to 730" in problems[8].message
    assert "Duplicate of row 2" in problems[10].message
    assert "row 2" in problems[11].message and "12 days" in problems[11].message
    assert "No days" in problems[12].message
    assert "No handle or SKU" in problems[13].message
    assert problems[6].key == "soap"
    assert _overrides(session) == {"coffee": 12.0, "tea": 45.0, "soap": None}
    # the affected customers were re-dated in the same call
    assert _ava_coffee_due(session, ava, products["coffee"]) == NOW - timedelta(days=8)
    assert "Coffee" in _due_titles(session, link.token)


def test_bulk_csv_by_sku_only_header_and_utf16(session: Session):
    _coffee_store(session)
    report = bulk_override(session, "sku;days\nCOF-1;20\n".replace(";", ","), NOW)
    assert report.applied == 1 and not report.problems
    utf16 = "handle,days\r\ntea,21\r\n".encode("utf-16")  # BOM-marked, as Excel's "Unicode"
    report = bulk_override(session, utf16, NOW)
    session.commit()
    assert report.applied == 1 and not report.problems
    assert _overrides(session) == {"coffee": 20.0, "tea": 21.0, "soap": None}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"\n\n  \n", "The file is empty"),
        (b"\xef\xbb\xbf", "The file is empty"),
        (b"handle,days\n", "no products under it"),
        (b"handle,interval_weeks\ncoffee,4\n", "must name the columns"),
        (b"title,days\nCoffee,4\n", "must name the columns"),
        ("handle,days\ncaf\u00e9,4\ncoffee,9\n".encode("latin-1"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not"),
    ],
)
def test_a_bad_file_is_refused_whole_and_changes_nothing(session: Session, data, message):
    _coffee_store(session)
    report = bulk_override(session, data, NOW)
    session.commit()
    assert message in report.file_error
    assert report.applied == 0
    assert set(_overrides(session).values()) == {None}


def test_a_sku_shared_by_two_products_is_ambiguous(session: Session):
    store = Store(session)
    store.product("Red Mug", sku="MUG")
    store.product("Blue Mug", sku="mug")
    session.commit()
    report = bulk_override(session, "sku,days\nmug,30\n", NOW)
    assert report.applied == 0
    assert "several products" in report.problems[0].message
