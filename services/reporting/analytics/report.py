"""The Analytics page's figures, every one counted by the database; reading them writes nothing.

Definitions (the page's help text says the same):

- **views / checkouts**: cart events of kind ``view`` / ``checkout`` in the range.
- **cart session**: a distinct (cart link, UTC day) with at least one view. A cart opened from
  two channels on one day is one session in the totals and one under each of the two channels.
- **checkout rate**: sessions that also had a checkout (same cart, same day, same channel for
  the per-channel rows) divided by sessions.
- **attributed orders**: orders that are not test orders, not cancelled, carry the cart
  attribute (``attributed_cart_id`` set) and were processed in the range. Only orders in the
  shop's currency (``Shop.currency``) are counted, so revenue is one sum of one currency.
- **attributed revenue**: the sum of their ``total_cents``; **AOV** is revenue / orders, for cart
  orders and for all orders (same rules, attribute or not, never filtered by channel).
- **revenue per cart session**: attributed revenue / sessions.
- **channel**: the cart event's channel for views and checkouts, the order's
  ``attributed_channel`` for orders; anything not in `CHANNELS` is ``other``, none is ``direct``.
- **Moment**: the same figures for the visits and orders a Moment's message brought (`moments`).

Ranges are checked and bucketed by `ranges`. Each query groups in SQL and returns at most a few
hundred numbers, never rows. Closed UTC days are read from `cart_event_day`, where `rollup`
stored them; partial days, today and closed days not stored yet are counted live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    case,
    func,
    literal_column,
    select,
    union_all,
)
from sqlmodel import Session, col

from services.core.db import session_scope
from services.core.tables import CartEventDay, Order, Shop
from services.reporting.analytics.featured import FeaturedRow, featured_figures
from services.reporting.analytics.moments import MomentRow, moment_rows
from services.reporting.analytics.ranges import (
    CHANNELS,
    Granularity,
    buckets,
    closed_days,
    granularity_for,
    midnight,
    validate_range,
)
from services.reporting.analytics.rollup import ALL_CHANNELS, count_closed_days_of_range
from services.reporting.analytics.sql import (
    GROUP_KEY,
    NO_FIGURES,
    Figures,
    as_figures,
    bucket_of_day,
    cart_days,
    channel_expression,
    day_expression,
    in_range,
    per_session,
    session_sums,
    sql_constant,
)

Parts = dict[str, dict[str, Figures]]
"""Cart-event figures by "bucket" (day or week, ISO text) and by "channel"."""
OrderParts = dict[str, dict[str | None, tuple[int, int]]]
"""(orders, cents) by "bucket" and "channel" for cart orders, and under "all" for every order."""


@dataclass(frozen=True, slots=True)
class AnalyticsTotals:
    views: int
    sessions: int
    checkouts: int
    checkout_sessions: int
    attributed_orders: int
    attributed_revenue_cents: int
    all_orders: int
    all_revenue_cents: int

    @property
    def checkout_rate(self) -> float | None:
        """Sessions with a checkout / sessions; None without sessions (not 0%: nothing to rate)."""
        return self.checkout_sessions / self.sessions if self.sessions else None

    @property
    def aov_cart_cents(self) -> int | None:
        return _per(self.attributed_revenue_cents, self.attributed_orders)

    @property
    def aov_all_cents(self) -> int | None:
        return _per(self.all_revenue_cents, self.all_orders)

    @property
    def revenue_per_session_cents(self) -> int | None:
        return _per(self.attributed_revenue_cents, self.sessions)


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel: str
    views: int
    sessions: int
    checkouts: int
    checkout_sessions: int
    attributed_orders: int
    attributed_revenue_cents: int

    @property
    def checkout_rate(self) -> float | None:
        return self.checkout_sessions / self.sessions if self.sessions else None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One day or week; `bucket` is its first day (a Monday for weeks)."""

    bucket: date
    views: int
    sessions: int
    checkouts: int
    attributed_orders: int
    attributed_revenue_cents: int


@dataclass(frozen=True, slots=True)
class AnalyticsReport:
    start: datetime
    end: datetime
    channel: str | None
    currency: str
    granularity: Granularity
    totals: AnalyticsTotals
    channels: list[ChannelRow]
    series: list[SeriesPoint]
    moments: list[MomentRow]
    featured: list[FeaturedRow] = field(default_factory=list)
    """Featured product links' carts by channel, counted apart from the personal ones above."""

    @property
    def empty(self) -> bool:
        """Nothing cart-related happened in the range (all-orders figures do not count)."""
        return (
            self.totals.views == 0
            and self.totals.checkouts == 0
            and (self.totals.attributed_orders == 0)
            and not self.featured
        )


def _per(amount: int, count: int) -> int | None:
    """Whole cents, rounded half up; None when dividing by nothing."""
    return (amount * 2 + count) // (count * 2) if count else None


# --- the use case and the report --------------------------------------------------------------


def analytics_for_range(
    start: datetime, end: datetime, channel: str | None = None, *, now: datetime
) -> AnalyticsReport:
    """The Analytics page's figures for [start, end), in a transaction of its own: the range's
    closed days are counted into the rollup first (once; later views read them), then read."""
    validate_range(start, end, channel)
    with session_scope() as session:
        count_closed_days_of_range(session, start, end, now)
        return analytics_report(session, start, end, channel, now=now)


def analytics_report(
    session: Session,
    start: datetime,
    end: datetime,
    channel: str | None = None,
    *,
    now: datetime,
) -> AnalyticsReport:
    """Every figure of the Analytics page for [start, end), optionally for one channel.

    Days before `now`'s UTC day are read from the rollup where it holds them; nothing is written.
    """
    validate_range(start, end, channel)
    granularity = granularity_for(start, end)
    currency = session.execute(select(col(Shop.currency)).limit(1)).scalar() or "USD"
    events = _event_figures(session, start, end, channel, granularity, now)
    orders = _order_figures(session, start, end, channel, currency, granularity)

    events_per_bucket = events["bucket"]
    events_per_channel = (
        events["channel"] if channel is None else {channel: _sum(events_per_bucket.values())}
    )
    channels = []
    for name in CHANNELS if channel is None else (channel,):
        views, checkouts, sessions, checkout_sessions = events_per_channel.get(name, NO_FIGURES)
        count, revenue = orders["channel"].get(name, (0, 0))
        channels.append(
            ChannelRow(name, views, sessions, checkouts, checkout_sessions, count, revenue)
        )
    series = []
    for bucket in buckets(start, end, granularity):
        views, checkouts, sessions, _ = events_per_bucket.get(bucket.isoformat(), NO_FIGURES)
        count, revenue = orders["bucket"].get(bucket.isoformat(), (0, 0))
        series.append(SeriesPoint(bucket, views, sessions, checkouts, count, revenue))
    # sessions are per day, so the buckets' sessions add up; channels' may overlap
    per_bucket = events_per_bucket.values()
    all_orders, all_revenue = orders["all"][None]
    totals = AnalyticsTotals(
        views=sum(row.views for row in channels),
        sessions=sum(figures[2] for figures in per_bucket),
        checkouts=sum(row.checkouts for row in channels),
        checkout_sessions=sum(figures[3] for figures in per_bucket),
        attributed_orders=sum(row.attributed_orders for row in channels),
        attributed_revenue_cents=sum(row.attributed_revenue_cents for row in channels),
        all_orders=all_orders,
        all_revenue_cents=all_revenue,
    )
    moments = moment_rows(session, start, end, channel, currency)
    featured = featured_figures(session, start, end, channel)
    return AnalyticsReport(
        start, end, channel, currency, granularity, totals, channels, series, moments, featured
    )


# --- cart events ------------------------------------------------------------------------------


def _event_figures(
    session: Session,
    start: datetime,
    end: datetime,
    channel: str | None,
    granularity: Granularity,
    now: datetime,
) -> Parts:
    """Cart-event figures per bucket and, for all channels, per channel (one channel's row is
    the totals, so its events are not grouped per channel again)."""
    with_channels = channel is None
    found: Parts = {"bucket": {}, "channel": {}}
    spans = [(start, end)]
    closed = closed_days(start, end, now)
    if closed is not None:  # the live parts: a partial first day, today, a partial last day
        stored, missing = _stored_events(session, *closed, channel, granularity, with_channels)
        _add_figures(found, stored)
        spans = [(start, midnight(closed[0])), *_runs(missing), (midnight(closed[1]), end)]
    for span_start, span_end in spans:
        if span_start < span_end:
            live = _live_events(session, span_start, span_end, channel, granularity, with_channels)
            _add_figures(found, live)
    return found


def _live_events(
    session: Session,
    start: datetime,
    end: datetime,
    channel: str | None,
    granularity: Granularity,
    with_channels: bool,
) -> Parts:
    """The figures of the events of [start, end), per bucket and if asked per channel, in one
    statement.

    The events of the range are read once, grouped per (cart, day, channel): each row is a
    session candidate. Its per-channel sums are the channel rows; regrouped per (cart, day)
    (one session whatever the channels) and then per day they are the time series. Weeks are
    made from days, so SQLite's date functions run per day, not per event.
    """
    dialect = session.get_bind().dialect.name
    grain = cart_days(start, end, channel, dialect)
    sessions = per_session(grain)
    per_day = (
        select(sessions.c.day, *session_sums(sessions.c.events, sessions.c.checkouts))
        .group_by(sessions.c.day)
        .subquery()
    )
    query: Select[Any] | CompoundSelect[Any] = select(
        sql_constant("bucket").label("part"),
        bucket_of_day(per_day.c.day, granularity, dialect).label("k"),
        *(func.sum(per_day.c[name]) for name in ("views", "checkouts", "sessions", "bought")),
    ).group_by(GROUP_KEY)
    if with_channels:
        query = union_all(
            query,
            select(
                sql_constant("channel"),
                grain.c.ch,
                *session_sums(grain.c.events, grain.c.checkouts),
            ).group_by(grain.c.ch),
        )
    found: Parts = {"bucket": {}, "channel": {}}
    for part, key, *sums in session.execute(query).all():
        found[part][key] = as_figures(*sums)
    return found


def _stored_events(
    session: Session,
    first: date,
    last: date,
    channel: str | None,
    granularity: Granularity,
    with_channels: bool,
) -> tuple[Parts, list[date]]:
    """The figures of the closed days [first, last) the rollup holds, and the days it lacks
    (which the caller counts live). One read, so both agree with each other."""
    channels = (ALL_CHANNELS, channel) if channel else (ALL_CHANNELS, *CHANNELS)
    rows = session.execute(
        select(
            col(CartEventDay.channel),
            col(CartEventDay.day),
            col(CartEventDay.views),
            col(CartEventDay.checkouts),
            col(CartEventDay.sessions),
            col(CartEventDay.checkout_sessions),
        ).where(
            col(CartEventDay.day) >= first.isoformat(),
            col(CartEventDay.day) < last.isoformat(),
            col(CartEventDay.channel).in_(channels),
        )
    ).all()
    stored = {day for row_channel, day, *_ in rows if row_channel == ALL_CHANNELS}
    found: Parts = {"bucket": {}, "channel": {}}
    for row_channel, day, *sums in rows:
        if day not in stored:
            continue
        figures = as_figures(*sums)
        if (channel is None) == (row_channel == ALL_CHANNELS):
            bucket = date.fromisoformat(day)
            if granularity == "week":
                bucket -= timedelta(days=bucket.weekday())
            _add_to(found["bucket"], bucket.isoformat(), figures)
        if with_channels and row_channel != ALL_CHANNELS:
            _add_to(found["channel"], row_channel, figures)
    days = (first + timedelta(days=n) for n in range((last - first).days))
    return found, [day for day in days if day.isoformat() not in stored]


def _runs(days: list[date]) -> list[tuple[datetime, datetime]]:
    """Ascending days as spans [start, end) of consecutive days."""
    spans: list[tuple[datetime, datetime]] = []
    for day in days:
        start, end = midnight(day), midnight(day) + timedelta(days=1)
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def _add_figures(into: Parts, more: Parts) -> None:
    for part, figures in more.items():
        for key, values in figures.items():
            _add_to(into.setdefault(part, {}), key, values)


def _add_to(into: dict[str, Figures], key: str, values: Figures) -> None:
    old = into.get(key, NO_FIGURES)
    into[key] = (old[0] + values[0], old[1] + values[1], old[2] + values[2], old[3] + values[3])


def _sum(rows: Iterable[Figures]) -> Figures:
    total = NO_FIGURES
    for row in rows:
        total = (total[0] + row[0], total[1] + row[1], total[2] + row[2], total[3] + row[3])
    return total


# --- orders -----------------------------------------------------------------------------------


def _order_figures(
    session: Session,
    start: datetime,
    end: datetime,
    channel: str | None,
    currency: str,
    granularity: Granularity,
) -> OrderParts:
    """(orders, cents) of cart orders per bucket and per channel, and of all orders: one pass
    over the range's orders, grouped per day first."""
    dialect = session.get_bind().dialect.name
    order_channel = channel_expression(col(Order.attributed_channel))
    cart_order: list[ColumnElement[bool]] = [col(Order.attributed_cart_id).is_not(None)]
    if channel is not None:
        cart_order.append(order_channel == channel)
    cart_channel = case((and_(*cart_order), order_channel), else_=None)
    per_day = (
        select(
            day_expression(col(Order.processed_at), dialect).label("day"),
            cart_channel.label("ch"),
            func.count().label("n"),
            func.sum(col(Order.total_cents)).label("cents"),
        )
        .where(
            in_range(col(Order.processed_at), start, end),
            col(Order.test).is_(False),
            col(Order.cancelled_at).is_(None),
            col(Order.currency) == currency,
        )
        .group_by(literal_column("day"), literal_column("ch"))
        .cte("order_days")
    )
    bucket = bucket_of_day(per_day.c.day, granularity, dialect).label("k")
    totals = (func.sum(per_day.c.n), func.sum(per_day.c.cents))
    parts = union_all(
        select(sql_constant("bucket"), bucket, *totals)
        .where(per_day.c.ch.is_not(None))
        .group_by(GROUP_KEY),
        select(sql_constant("channel"), per_day.c.ch, *totals)
        .where(per_day.c.ch.is_not(None))
        .group_by(per_day.c.ch),
        select(sql_constant("all"), literal_column("NULL"), *totals),
    )
    found: OrderParts = {"bucket": {}, "channel": {}}
    for part, key, count, cents in session.execute(parts).all():
        found.setdefault(part, {})[key] = (int(count or 0), int(cents or 0))
    return found
