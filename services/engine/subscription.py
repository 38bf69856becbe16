"""Primed For Subscription: who buys one product at a steady cadence, and which plan fits it.

A customer is primed when they ordered one product on at least `MIN_ORDERS` days and the gaps
between those days vary little (coefficient of variation, population standard deviation over
the mean, at most `MAX_CADENCE_CV`); their cadence is the mean gap. Orders on the same UTC day
are one purchase, as for intervals. The plan offered is the one whose delivery interval is
closest to the cadence (the shop's order breaks ties; a product whose plans have no recurring
interval offers its first plan).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from statistics import fmean, pstdev
from typing import TypeVar

from services.engine.intervals import utc_day

MIN_ORDERS = 3
MAX_CADENCE_CV = 0.25

T = TypeVar("T")


def steady_cadence(
    times: Iterable[datetime], *, min_orders: int = MIN_ORDERS, max_cv: float = MAX_CADENCE_CV
) -> float | None:
    """The mean gap in days between the purchase days, or None when there are fewer than
    `min_orders` of them or the gaps' coefficient of variation exceeds `max_cv`."""
    days = sorted({utc_day(moment) for moment in times})
    if len(days) < min_orders:
        return None
    gaps = [(later - earlier).days for earlier, later in zip(days, days[1:], strict=False)]
    mean = fmean(gaps)
    if mean <= 0 or pstdev(gaps) / mean > max_cv:
        return None
    return mean


def closest_plan(
    plans: Sequence[T], cadence: float, interval_days: Callable[[T], float | None]
) -> T | None:
    """The plan whose interval is nearest the cadence; the first plan when none has one."""
    timed = [plan for plan in plans if interval_days(plan)]
    if not timed:
        return plans[0] if plans else None
    return min(timed, key=lambda plan: abs((interval_days(plan) or 0.0) - cadence))
