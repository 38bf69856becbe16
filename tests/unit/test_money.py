import pytest

from services.core.money import format_money, parse_money


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [
        (1234, "USD", "$12.34"),
        (5, "USD", "$0.05"),
        (123456789, "EUR", "€1,234,567.89"),
        (120000, "JPY", "¥1,200"),
        (-250, "GBP", "-£2.50"),
        (999, "CHF", "9.99 CHF"),
        (None, "USD", ""),
    ],
)
def test_format_money(cents, currency, text):
    assert format_money(cents, currency) == text


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("12.5", 1250),
        ("12.50", 1250),
        ("0.1", 10),
        ("19.99", 1999),
        ("1,000.00", 100000),
        ("7", 700),
        ("-3.25", -325),
        ("2.675", 268),
    ],
)
def test_parse_money_never_uses_float_rounding(amount, cents):
    assert parse_money(amount) == cents
