"""Phone numbers in E.164, the only form Klaviyo, Postscript and Attentive accept.

Shopify stores whatever the shopper typed ("(415) 555-2671", "07911 123456"); a malformed
number makes the provider refuse the whole event, so numbers that cannot be made valid are
dropped (None) rather than passed on.
"""

from __future__ import annotations

import phonenumbers

__all__ = ["is_e164", "readable_phone", "to_e164"]


def to_e164(raw: str | None, default_region: str = "US") -> str | None:
    """`"(415) 555-2671"` → `"+14155552671"`; None when the number is not a valid one.

    `default_region` applies only to numbers written without a country code.
    """
    if raw is None or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_e164(value: str | None) -> bool:
    """True for a valid number already written in E.164 (what the providers are sent)."""
    if not value:
        return False
    return value.startswith("+") and to_e164(value) == value


def readable_phone(value: str | None) -> str:
    """A stored number as people read it (`"+14155552671"` → `"+1 415-555-2671"`), for the
    dashboard; a number phonenumbers cannot parse is shown as stored."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
