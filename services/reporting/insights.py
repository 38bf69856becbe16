"""The dashboard's Insights page: how long customers take to reorder one product, how many
customers come due on each of the next 30 days, and how many reach each Moment.

The distribution is built from exactly the gaps the engine learns from (per-unit, same-day
purchases merged, cancelled/refunded/test orders left out), so its percentiles match the
learned interval shown on the Products page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.core.db import session_scope
from services.core.moments import MOMENT_LABELS, EventKind
from services.core.tables import DueItem, Product
from services.dispatch.cross_sell import primed_between
from services.dispatch.rows import last_purchases
from services.dispatch.subscription import forecast_primed, primed_offers
from services.dispatch.subscription import primed_between as subscription_primed
from services.engine import interval_stats, per_unit_gaps
from services.engine.recompute import load_purchases
from services.products.intervals import product_page
from services.settings.effective import effective_settings

WEEK_DAYS = 7
MAX_BINS = 26
DUE_DAYS = 30


@dataclass(frozen=True, slots=True)
class HistogramBin:
    start_days: int  # inclusive
    end_days: int  # exclusive
    label: str  # "14–20 d"
    gaps: int
    middle: bool = False  # overlaps P25..P75, the middle half of the reorders


@dataclass(frozen=True, slots=True)
class IntervalDistribution:
    product_id: int
    title: str
    bins: list[HistogramBin]
    gaps: int  # reorder gaps counted
    customers: int  # customers who reordered (the learned N)
    p25: float | None
    median: float | None
    p75: float | None
    mean: float | None
    bin_days: int

    def label_of(self, days: float | None) -> str:
        """The bin label a value falls in, so the chart can mark a percentile on a bar."""
        if days is None or not self.bins:
            return ""
        for histogram_bin in self.bins:
            if histogram_bin.start_days <= days < histogram_bin.end_days:
                return histogram_bin.label
        return self.bins[-1].label


def bin_width(largest_gap: float) -> int:
    """Whole weeks, widened until at most MAX_BINS bars: readable on a phone."""
    weeks = max(1, math.ceil((math.floor(largest_gap) + 1) / (WEEK_DAYS * MAX_BINS)))
    return weeks * WEEK_DAYS


def histogram(gaps: list[float], bin_days: int) -> list[HistogramBin]:
    """Counts of gaps per bin from 0 to the largest gap; empty bins kept so the shape is true."""
    if not gaps:
        return []
    count = math.floor(max(gaps) / bin_days) + 1
    counts = [0] * count
    for gap in gaps:
        counts[min(math.floor(gap / bin_days), count - 1)] += 1
    return [
        HistogramBin(
            start_days=index * bin_days,
            end_days=(index + 1) * bin_days,
            label=f"{index * bin_days}–{(index + 1) * bin_days - 1} d",
            gaps=counts[index],
        )
        for index in range(count)
    ]


def _mark_middle(bins: list[HistogramBin], low: float, high: float) -> list[HistogramBin]:
    return [
        HistogramBin(
            b.start_days, b.end_days, b.label, b.gaps, b.start_days <= high and b.end_days > low
        )
        for b in bins
    ]


def interval_distribution(session: Session, product_id: int) -> IntervalDistribution | None:
    """The reorder gaps of one product as a histogram with P25/median/P75; None if no product."""
    product = session.get(Product, product_id)
    if product is None:
        return None
    by_customer = per_unit_gaps(load_purchases(session, product_ids=[product_id])).get(
        product_id, {}
    )
    gaps = [gap for customer_gaps in by_customer.values() for gap in customer_gaps]
    stats = interval_stats(by_customer)
    bin_days = bin_width(max(gaps)) if gaps else WEEK_DAYS
    return IntervalDistribution(
        product_id=product_id,
        title=product.title,
        bins=_mark_middle(histogram(gaps, bin_days), stats.p25, stats.p75) if stats else [],
        gaps=len(gaps),
        customers=stats.n if stats else 0,
        p25=stats.p25 if stats else None,
        median=stats.median if stats else None,
        p75=stats.p75 if stats else None,
        mean=stats.mean if stats else None,
        bin_days=bin_days,
    )


@dataclass(frozen=True, slots=True)
class DueDay:
    day: date
    customers: int


def _window(now: datetime, days: int) -> tuple[date, datetime, datetime]:
    start_day = now.astimezone(UTC).date()
    start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC)
    return start_day, start, start + timedelta(days=days)


def customers_due_within(session: Session, now: datetime, days: int = DUE_DAYS) -> int:
    """Distinct customers with anything coming due from today through the window's last day."""
    _, start, end = _window(now, days)
    return int(
        session.exec(
            select(func.count(func.distinct(DueItem.customer_id))).where(
                col(DueItem.due_at) >= start, col(DueItem.due_at) < end
            )
        ).one()
    )


def due_per_day(session: Session, now: datetime, days: int = DUE_DAYS) -> list[DueDay]:
    """Distinct customers with a product coming due on each UTC day from today, zeros included.

    A customer due for two products on different days counts on both days. Counted by the
    database (GROUP BY the UTC date of `due_at`), never by loading the due rows.
    """
    start_day, start, end = _window(now, days)
    bind = session.get_bind()
    due_at = col(DueItem.due_at)
    if bind.dialect.name == "postgresql":
        day_expression = func.date(func.timezone("UTC", due_at))
    else:  # SQLite keeps UTC text without an offset
        day_expression = func.date(due_at)
    rows = session.exec(
        select(day_expression, func.count(func.distinct(DueItem.customer_id)))
        .where(due_at >= start, due_at < end)
        .group_by(day_expression)
    ).all()
    counts: dict[date, int] = {}
    for day, customers in rows:
        key = day if isinstance(day, date) else date.fromisoformat(str(day))
        counts[key] = int(customers)
    return [
        DueDay(
            day=start_day + timedelta(days=offset),
            customers=counts.get(start_day + timedelta(days=offset), 0),
        )
        for offset in range(days)
    ]


@dataclass(frozen=True, slots=True)
class MomentCount:
    kind: str
    label: str
    today: int  # distinct customers reaching the Moment today (UTC)
    upcoming: int  # ... from today through the window's last day


# When each Moment is sent: the reminder date (due date less the lead days), the late point
# (P75 × quantity) and the lapse point the recompute stores. All three columns are indexed.
MOMENT_POINTS: dict[EventKind, Any] = {
    "due": col(DueItem.remind_at),
    "late": col(DueItem.late_at),
    "lapse": col(DueItem.lapse_at),
}


def moment_outlook(
    session: Session, now: datetime, days: int = DUE_DAYS, cross_sell_days: int = 7
) -> list[MomentCount]:
    """How many customers reach each Moment today and over the next `days` days: a forecast
    from the stored due rows (a customer who reorders first is never sent it), index range
    counts. Primed For Cross-sell counts who is primed (last order `cross_sell_days` ago);
    only those with a product to offer are sent it."""
    _, start, end = _window(now, days)
    tomorrow = start + timedelta(days=1)

    def customers(point: Any, until: datetime) -> int:
        query = select(func.count(func.distinct(DueItem.customer_id))).where(
            point >= start, point < until
        )
        return int(session.exec(query).one())

    counts = [
        MomentCount(kind, MOMENT_LABELS[kind], customers(point, tomorrow), customers(point, end))
        for kind, point in MOMENT_POINTS.items()
    ]
    primed = [
        len(primed_between(session, start, until, cross_sell_days)) for until in (tomorrow, end)
    ]
    counts.append(MomentCount("cross_sell", MOMENT_LABELS["cross_sell"], *primed))
    counts.append(_subscription_count(session, now, start, tomorrow, end))
    return counts


def _subscription_count(
    session: Session, now: datetime, start: datetime, tomorrow: datetime, end: datetime
) -> MomentCount:
    """Primed For Subscription follows an order: today, who today's orders primed (and who
    would be if they reorder on their due date later today); ahead, who would be primed by
    reordering on their due date within the window."""
    ids = subscription_primed(session, start, now)
    today = sum(
        len(primed_offers(session, last_purchases(session, ids[at : at + 500])))
        for at in range(0, len(ids), 500)
    )
    later_today = forecast_primed(session, now, tomorrow) if now < tomorrow else 0
    upcoming = today + forecast_primed(session, now, end)
    return MomentCount("subscription", MOMENT_LABELS["subscription"], today + later_today, upcoming)


# --- the page's use cases: each in a transaction of its own ----------------------------------


@dataclass(frozen=True, slots=True)
class DueOutlook:
    days: list[DueDay]
    customers: int  # distinct customers due over the whole window


@dataclass(frozen=True, slots=True)
class InsightsPage:
    due: DueOutlook
    moments: list[MomentCount]
    distribution: IntervalDistribution | None
    """The product asked for, else the most reordered one; None when there is none (any more)."""


def insights_page(product_id: int, now: datetime) -> InsightsPage:
    """The Insights page as it opens: who comes due when, and the distribution of `product_id`,
    or of the product the most customers reordered when no product is chosen (0)."""
    with session_scope() as session:
        due = DueOutlook(due_per_day(session, now), customers_due_within(session, now))
        settings = effective_settings(session)
        moments = moment_outlook(session, now, cross_sell_days=settings.cross_sell_days)
        if not product_id:
            top = product_page(session, sort="n", descending=True, page_size=1).rows
            product_id = top[0].id if top else 0
        distribution = interval_distribution(session, product_id) if product_id else None
    return InsightsPage(due, moments, distribution)


def product_distribution(product_id: int) -> IntervalDistribution | None:
    """`interval_distribution` in a transaction of its own: the product picked on the page."""
    with session_scope() as session:
        return interval_distribution(session, product_id)
