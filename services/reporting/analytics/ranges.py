"""The ranges and channels the Analytics page can ask for, checked before anything is counted.

A range is half-open, ``start <= t < end``, so back-to-back ranges never count a moment twice.
Figures are per UTC day for ranges up to 92 days, per ISO week (Monday) beyond.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from services.messaging import PROVIDER_NAMES

# where a cart link was opened from (`?ch=`): a messaging provider's name, or one of these
CHANNELS: tuple[str, ...] = ("direct", "email", "sms", *PROVIDER_NAMES, "qr", "other")
"""`qr`: what featured product links printed as QR codes carry (the Products page's codes)."""
DAILY_UP_TO = timedelta(days=92)
MAX_RANGE = timedelta(days=3 * 365 + 1)
PRESETS: dict[str, int] = {"7d": 7, "30d": 30, "90d": 90, "12m": 365}

Granularity = Literal["day", "week"]


class AnalyticsInputError(ValueError):
    """A range or channel the report cannot be asked for; the message is shown to the merchant."""


def granularity_for(start: datetime, end: datetime) -> Granularity:
    return "day" if end - start <= DAILY_UP_TO else "week"


def validate_range(start: datetime, end: datetime, channel: str | None = None) -> None:
    """Raise `AnalyticsInputError` with a message a merchant understands."""
    if start.tzinfo is None or end.tzinfo is None:
        raise AnalyticsInputError("The range must be given in UTC.")
    if start > end:
        raise AnalyticsInputError("The start date must be on or before the end date.")
    if end - start > MAX_RANGE:
        raise AnalyticsInputError("Choose a range of at most 3 years.")
    if channel is not None and channel not in CHANNELS:
        raise AnalyticsInputError(f"Unknown channel {channel!r}: choose one of the list.")


def midnight(day: date) -> datetime:
    """The first instant of a UTC day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """Whole UTC days `first`..`last` (both included) as the half-open [start, end)."""
    return midnight(first), midnight(last) + timedelta(days=1)


def preset_days(preset: str, today: date) -> tuple[date, date]:
    """'Last N days' ending today (today included): 7d, 30d, 90d or 12m (365 days)."""
    if preset not in PRESETS:
        raise AnalyticsInputError(f"Unknown range {preset!r}.")
    return today - timedelta(days=PRESETS[preset] - 1), today


def parse_days(first: str, last: str) -> tuple[date, date]:
    """The page's two date inputs (YYYY-MM-DD), checked: a bad one is named, not guessed."""
    parsed: list[date] = []
    for label, text in (("start", first), ("end", last)):
        try:
            parsed.append(date.fromisoformat((text or "").strip()))
        except ValueError:
            raise AnalyticsInputError(
                f"The {label} date is not a date: use the picker or YYYY-MM-DD."
            ) from None
    if parsed[0] > parsed[1]:
        raise AnalyticsInputError("The start date must be on or before the end date.")
    validate_range(*day_range(parsed[0], parsed[1]))
    return parsed[0], parsed[1]


def buckets(start: datetime, end: datetime, granularity: Granularity) -> list[date]:
    """Every day (or week's Monday) the range touches, so quiet days show as zero."""
    if end <= start:
        return []
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    if granularity == "week":
        first -= timedelta(days=first.weekday())
    step = timedelta(days=1 if granularity == "day" else 7)
    found = []
    while first <= last:
        found.append(first)
        first += step
    return found


def closed_days(start: datetime, end: datetime, now: datetime) -> tuple[date, date] | None:
    """The whole UTC days inside [start, end) that ended before `now`'s day, as [first, last).

    A closed day's cart events no longer change (carts record events as they happen), so it
    can be counted once and stored; the rest of a range is counted live.
    """
    first = start.astimezone(UTC).date()
    if midnight(first) < start:
        first += timedelta(days=1)
    last = min(end.astimezone(UTC).date(), now.astimezone(UTC).date())
    return (first, last) if first < last else None
