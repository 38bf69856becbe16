"""The Cart page's "one code per customer" fields, checked like the rest of the cart settings.

All are `AppSetting`s over `REPEATCART_UNIQUE_CODES`, `_UNIQUE_CODE_KIND`, `_VALUE`, `_PREFIX`
and `_DAYS`. The value is a percentage (1 to 100) for a percentage code and an amount in the
shop's currency (stored in cents) for a fixed one, so it is checked together with the kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from services.core.config import parse_flag

UNIQUE_FIELDS = (
    "unique_codes",
    "unique_code_kind",
    "unique_code_value",
    "unique_code_prefix",
    "unique_code_days",
)
KINDS = ("percentage", "fixed")
PREFIX_MAX = 20
DAYS_RANGE = (1, 365)  # as `Settings.unique_code_days` allows
FIXED_MAX_CENTS = 100_000_00  # as `Settings.unique_code_value` allows
_PREFIX = re.compile(r"^[A-Za-z0-9_-]*$")


def clean_kind(raw: object) -> tuple[str, str | None]:
    kind = str(raw if raw is not None else "").strip().lower()
    if kind not in KINDS:
        return kind, "Pick a percentage or a fixed amount."
    return kind, None


def clean_prefix(raw: object) -> tuple[str, str | None]:
    """Letters, digits, - and _ only: the rest of the code is added to it, and it is typed."""
    prefix = str(raw if raw is not None else "").strip().upper()
    if len(prefix) > PREFIX_MAX:
        return prefix, f"Keep the prefix to {PREFIX_MAX} characters."
    if not _PREFIX.match(prefix):
        return prefix, "Use letters, digits, - and _ only."
    return prefix, None


def clean_days(raw: object) -> tuple[int, str | None]:
    text = str(raw if raw is not None else "").strip()
    message = f"Days valid must be a whole number from {DAYS_RANGE[0]} to {DAYS_RANGE[1]}."
    try:
        days = int(text)
    except ValueError:
        return 0, message
    if not DAYS_RANGE[0] <= days <= DAYS_RANGE[1]:
        return 0, message
    return days, None


def clean_value(raw: object, kind: str) -> tuple[int, str | None]:
    """A percentage (whole, 1 to 100) or an amount like 5 or 4.50 → cents."""
    text = str(raw if raw is not None else "").strip().replace(",", ".")
    if kind == "percentage":
        message = "The percentage must be a whole number from 1 to 100."
        try:
            percent = int(text)
        except ValueError:
            return 0, message
        return (percent, None) if 1 <= percent <= 100 else (0, message)
    message = "The amount must be a number above 0 with at most 2 decimals, like 5 or 4.50."
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return 0, message
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        return 0, message
    cents = int(amount * 100)
    if cents > FIXED_MAX_CENTS:
        return 0, "That amount is too large."
    return cents, None


def value_text(kind: str, value: int) -> str:
    """The stored value as the form shows it: `10` (percent) or `4.50` (an amount)."""
    return str(value) if kind == "percentage" else f"{value // 100}.{value % 100:02d}"


def clean_unique_fields(
    values: Mapping[str, object], saved_kind: str
) -> tuple[dict[str, object], dict[str, str]]:
    """The unique-code fields among `values`, cleaned; and a message per wrong field."""
    cleaned: dict[str, object] = {}
    errors: dict[str, str] = {}
    if "unique_codes" in values:
        cleaned["unique_codes"] = parse_flag(values["unique_codes"])
    kind = saved_kind
    if "unique_code_kind" in values:
        kind, error = clean_kind(values["unique_code_kind"])
        if error:
            errors["unique_code_kind"] = error
        cleaned["unique_code_kind"] = kind
    checks = {
        "unique_code_prefix": clean_prefix,
        "unique_code_days": clean_days,
        "unique_code_value": lambda raw: clean_value(raw, kind),
    }
    for name, check in checks.items():
        if name in values:
            value, error = check(values[name])
            if error:
                errors[name] = error
            cleaned[name] = value
    return cleaned, errors
