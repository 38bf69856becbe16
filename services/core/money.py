"""The one money type: integer hundredths ("cents") plus an ISO currency code.

Amounts are always stored ×100, also for currencies without minor units (¥1200 is 120000), so
arithmetic never needs to know the currency; only formatting does.
"""

from __future__ import annotations

_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "€", "GBP": "£", "JPY": "¥", "NZD": "NZ$"}
_ZERO_DECIMAL = {"JPY", "KRW", "VND", "CLP", "ISK"}


def format_money(cents: int | None, currency: str) -> str:
    """`1234, "USD"` → `$12.34`; unknown currencies show their code (`12.34 CHF`)."""
    if cents is None:
        return ""
    currency = (currency or "USD").upper()
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    amount = (
        f"{cents // 100:,}" if currency in _ZERO_DECIMAL else f"{cents // 100:,}.{cents % 100:02d}"
    )
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def parse_money(amount: str) -> int:
    """Shopify's decimal strings (`"12.5"`) to integer cents, without float rounding."""
    text = amount.strip().replace(",", "")
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("+-").partition(".")
    cents = int(whole or "0") * 100 + int((frac + "00")[:2] or "0")
    if len(frac) > 2 and int(frac[2]) >= 5:
        cents += 1
    return -cents if negative else cents
