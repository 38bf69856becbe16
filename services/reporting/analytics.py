"""The Analytics page's figures, every one counted by the database.

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

A range is half-open, ``start <= t < end``, so back-to-back ranges never count a moment twice.
Over time the figures are per UTC day for ranges up to 92 days, per ISO week (Monday) beyond.
Each query groups in SQL and returns at most a few hundred numbers, never rows. Cart events of
closed UTC days are counted once into `cart_event_day` (lazily, and by the nightly job), so a
12-month page reads a row per day and channel; partial days and today are counted live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlmodel import Session, col

from services.core.db import session_scope
from services.core.tables import CartEvent, CartEventDay, Order, Shop, utcnow

CHANNELS: tuple[str, ...] = (
    "direct",
    "email",
    "sms",
    "klaviyo",
    "postscript",
    "attentive",
    "other",
)
DAILY_UP_TO = timedelta(days=92)
MAX_RANGE = timedelta(days=3 * 365 + 1)
PRESETS: dict[str, int] = {"7d": 7, "30d": 30, "90d": 90, "12m": 365}

Granularity = Literal["day", "week"]
Figures = tuple[int, int, int, int]  # views, checkouts, sessions, sessions with a checkout
ALL_CHANNELS = ""  # the `cart_event_day` row of a day's totals


class AnalyticsInputError(ValueError):
    """A range or channel the report cannot be asked for; the message is shown to the merchant."""


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

    @property
    def empty(self) -> bool:
        """Nothing cart-related happened in the range (all-orders figures do not count)."""
        return (
            self.totals.views == 0
            and self.totals.checkouts == 0
            and (self.totals.attributed_orders == 0)
        )


def _per(amount: int, count: int) -> int | None:
    """Whole cents, rounded half up; None when dividing by nothing."""
    return (amount * 2 + count) // (count * 2) if count else None


# --- ranges -------------------------------------------------------------------------------


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


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """Whole UTC days `first`..`last` (both included) as the half-open [start, end)."""
    start = datetime.combine(first, time.min, tzinfo=UTC)
    return start, datetime.combine(last, time.min, tzinfo=UTC) + timedelta(days=1)


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


# --- SQL expressions ----------------------------------------------------------------------


def bucket_expression(column: Any, granularity: Granularity, dialect: str) -> ColumnElement:
    """The UTC day or week (its Monday) of a timestamp column as 'YYYY-MM-DD' text, per dialect."""
    return bucket_of_day(day_expression(column, dialect), granularity, dialect)


def day_expression(column: Any, dialect: str) -> ColumnElement:
    """The UTC day of a timestamp column, cheap enough to compute for every row.

    SQLite keeps UTC timestamps as naive text whose first 10 characters are the day: exact,
    where its date functions round to the millisecond (23:59:59.9999 would be the next day).
    PostgreSQL keeps `timestamptz`: read at UTC (whatever the connection's time zone) as a date.
    """
    if dialect == "postgresql":
        return cast(func.timezone(_sql("UTC"), column), Date)
    return func.substr(column, literal_column("1"), literal_column("10"))


def bucket_of_day(day: Any, granularity: Granularity, dialect: str) -> ColumnElement:
    """A `day_expression` value as its bucket, the day or its week's Monday, 'YYYY-MM-DD' text.

    Applied after grouping by day, so it runs once per day rather than once per row.
    """
    if dialect == "postgresql":
        if granularity == "week":
            # a timestamp without time zone, so the connection's time zone plays no part
            day = func.date_trunc(_sql("week"), cast(day, DateTime(timezone=False)))
        return func.to_char(day, _sql("YYYY-MM-DD"))
    if granularity == "day":
        return day
    # 'weekday 0' moves forward to Sunday (or stays), -6 days is that week's Monday
    return func.date(day, _sql("weekday 0"), _sql("-6 days"))


def _sql(constant: str) -> ColumnElement:
    """A constant written into the SQL text (ours, never user input), not a bound parameter."""
    return literal_column(f"'{constant}'")


def channel_expression(column: Any) -> ColumnElement:
    """A stored channel as one of `CHANNELS`: none is 'direct', an unknown one is 'other'."""
    return case(
        (or_(column.is_(None), column == ""), literal("direct")),
        (column.in_(CHANNELS), column),
        else_=literal("other"),
    )


# Grouped queries group by their output column's name: PostgreSQL would not match two copies of
# an expression whose constants are bound parameters.
_K = literal_column("k")


def _in_range(column: Any, start: datetime, end: datetime) -> ColumnElement:
    return and_(column >= start, column < end)


# --- the report ---------------------------------------------------------------------------


def analytics_report(
    session: Session, start: datetime, end: datetime, channel: str | None = None
) -> AnalyticsReport:
    """Every figure of the Analytics page for [start, end), optionally for one channel."""
    validate_range(start, end, channel)
    dialect = session.get_bind().dialect.name
    granularity = granularity_for(start, end)
    currency = session.execute(select(Shop.currency).limit(1)).scalar() or "USD"

    order_channel = channel_expression(col(Order.attributed_channel))
    order_filter = [
        _in_range(col(Order.processed_at), start, end),
        col(Order.test).is_(False),
        col(Order.cancelled_at).is_(None),
        col(Order.currency) == currency,
    ]
    cart_order_filter = [col(Order.attributed_cart_id).is_not(None)]
    if channel is not None:
        cart_order_filter.append(order_channel == channel)

    def events_by_part(
        span_start: datetime, span_end: datetime, with_channels: bool
    ) -> dict[str, dict[str, Figures]]:
        """(views, checkouts, sessions, sessions with a checkout) per bucket ("bucket") and, if
        asked, per channel ("channel"), in one statement, for events of [span_start, span_end).

        The events of the range are read once, grouped per (cart, day, channel): each row is a
        session candidate. Its per-channel sums are the channel rows; regrouped per (cart, day)
        (one session whatever the channels) and then per day they are the time series. Weeks
        are made from days, so SQLite's date functions run per day, not per event.
        """
        grain = _cart_days(span_start, span_end, channel, dialect)
        per_session = _per_session(grain)
        per_day = (
            select(per_session.c.day, *_session_sums(per_session.c.events, per_session.c.checkouts))
            .group_by(per_session.c.day)
            .subquery()
        )
        query = select(
            _sql("bucket").label("part"),
            bucket_of_day(per_day.c.day, granularity, dialect).label("k"),
            *(func.sum(per_day.c[name]) for name in ("views", "checkouts", "sessions", "bought")),
        ).group_by(_K)
        if with_channels:
            query = union_all(
                query,
                select(
                    _sql("channel"), grain.c.ch, *_session_sums(grain.c.events, grain.c.checkouts)
                ).group_by(grain.c.ch),
            )
        found: dict[str, dict[str, Figures]] = {"bucket": {}, "channel": {}}
        for part, key, views, checkouts, sessions, bought in session.execute(query).all():
            found[part][key] = (
                int(views or 0),
                int(checkouts or 0),
                int(sessions or 0),
                int(bought or 0),
            )
        return found

    def orders_by_part() -> dict[str, dict[str | None, tuple[int, int]]]:
        """(orders, cents) of cart orders per bucket ("bucket") and per channel ("channel"),
        and of all orders ("all"): one pass over the range's orders, grouped per day first."""
        cart_channel = case((and_(*cart_order_filter), order_channel), else_=None)
        per_day = (
            select(
                day_expression(col(Order.processed_at), dialect).label("day"),
                cart_channel.label("ch"),
                func.count().label("n"),
                func.sum(Order.total_cents).label("cents"),
            )
            .where(*order_filter)
            .group_by(literal_column("day"), literal_column("ch"))
            .cte("order_days")
        )
        bucket = bucket_of_day(per_day.c.day, granularity, dialect).label("k")
        totals = (func.sum(per_day.c.n), func.sum(per_day.c.cents))
        parts = union_all(
            select(_sql("bucket"), bucket, *totals).where(per_day.c.ch.is_not(None)).group_by(_K),
            select(_sql("channel"), per_day.c.ch, *totals)
            .where(per_day.c.ch.is_not(None))
            .group_by(per_day.c.ch),
            select(_sql("all"), literal_column("NULL"), *totals),
        )
        found: dict[str, dict[str | None, tuple[int, int]]] = {"bucket": {}, "channel": {}}
        for part, key, count, cents in session.execute(parts).all():
            found.setdefault(part, {})[key] = (int(count or 0), int(cents or 0))
        return found

    # one channel: its row is the totals, so the events are not grouped per channel again
    with_channels = channel is None
    events: dict[str, dict[str, Figures]] = {"bucket": {}, "channel": {}}
    closed = _closed_days(start, end, utcnow())
    spans = [(start, end)]
    if closed is not None:  # the live parts: a partial first day, today, a partial last day
        spans = [(start, _midnight(closed[0])), (_midnight(closed[1]), end)]
    for span_start, span_end in spans:
        if span_start < span_end:
            _add_figures(events, events_by_part(span_start, span_end, with_channels))
    if closed is not None:
        _add_figures(
            events, _rolled_up_events(session, *closed, channel, granularity, with_channels)
        )
    events_per_bucket = events["bucket"]
    events_per_channel = (
        events["channel"]
        if channel is None
        else {channel: _sum_columns(events_per_bucket.values())}
    )
    order_parts = orders_by_part()
    orders_per_bucket, orders_per_channel = order_parts["bucket"], order_parts["channel"]
    all_orders, all_revenue = order_parts["all"][None]
    no_events = (0, 0, 0, 0)

    channels = []
    for name in CHANNELS if channel is None else (channel,):
        views, checkouts, sessions, checkout_sessions = events_per_channel.get(name, no_events)
        orders, revenue = orders_per_channel.get(name, (0, 0))
        channels.append(
            ChannelRow(name, views, sessions, checkouts, checkout_sessions, orders, revenue)
        )
    series = []
    for bucket in buckets(start, end, granularity):
        views, checkouts, sessions, _ = events_per_bucket.get(bucket.isoformat(), no_events)
        orders, revenue = orders_per_bucket.get(bucket.isoformat(), (0, 0))
        series.append(SeriesPoint(bucket, views, sessions, checkouts, orders, revenue))
    # sessions are per day, so the buckets' sessions add up; channels' may overlap
    per_bucket = events_per_bucket.values()
    totals = AnalyticsTotals(
        views=sum(row.views for row in channels),
        sessions=sum(figures[2] for figures in per_bucket),
        checkouts=sum(row.checkouts for row in channels),
        checkout_sessions=sum(figures[3] for figures in per_bucket),
        attributed_orders=sum(row.attributed_orders for row in channels),
        attributed_revenue_cents=sum(row.attributed_revenue_cents for row in channels),
        all_orders=int(all_orders),
        all_revenue_cents=int(all_revenue),
    )
    return AnalyticsReport(
        start=start,
        end=end,
        channel=channel,
        currency=currency,
        granularity=granularity,
        totals=totals,
        channels=channels,
        series=series,
    )


# --- cart events: the SQL, and the closed days' rollup --------------------------------------


def _cart_days(start: datetime, end: datetime, channel: str | None, dialect: str) -> Any:
    """Views and checkouts of [start, end) grouped per (cart, UTC day, channel): each row is a
    session candidate. Only views and checkouts are read, so views = events - checkouts."""
    event_channel = channel_expression(col(CartEvent.channel))
    where = [
        col(CartEvent.kind).in_(("view", "checkout")),
        _in_range(col(CartEvent.occurred_at), start, end),
    ]
    if channel is not None:
        where.append(event_channel == channel)
    is_checkout = case((col(CartEvent.kind) == "checkout", 1), else_=0)
    return (
        select(
            col(CartEvent.cart_link_id).label("link"),
            day_expression(col(CartEvent.occurred_at), dialect).label("day"),
            event_channel.label("ch"),
            func.count().label("events"),
            func.sum(is_checkout).label("checkouts"),
        )
        .where(*where)
        .group_by(literal_column("link"), literal_column("day"), literal_column("ch"))
        .cte("cart_days")
    )


def _per_session(grain: Any) -> Any:
    """`_cart_days` regrouped per (cart, day): one session whatever the channels."""
    return (
        select(
            grain.c.day,
            func.sum(grain.c.events).label("events"),
            func.sum(grain.c.checkouts).label("checkouts"),
        )
        .group_by(grain.c.link, grain.c.day)
        .subquery()
    )


def _session_sums(events: Any, checkouts: Any) -> list[ColumnElement]:
    viewed = events > checkouts
    return [
        func.sum(events - checkouts).label("views"),
        func.sum(checkouts).label("checkouts"),
        func.sum(case((viewed, 1), else_=0)).label("sessions"),
        func.sum(case((and_(viewed, checkouts > 0), 1), else_=0)).label("bought"),
    ]


def _closed_days(start: datetime, end: datetime, now: datetime) -> tuple[date, date] | None:
    """The whole UTC days inside [start, end) that ended before today, as [first, last)."""
    first = start.astimezone(UTC).date()
    if datetime.combine(first, time.min, tzinfo=UTC) < start:
        first += timedelta(days=1)
    last = min(end.astimezone(UTC).date(), now.astimezone(UTC).date())
    return (first, last) if first < last else None


def count_closed_days(session: Session, now: datetime) -> None:
    """Count every closed day the Analytics page can ask for that is not counted yet (the
    nightly job runs it, so the first page view of the day reads only stored days)."""
    today = now.astimezone(UTC).date()
    _fill_days(session, today - MAX_RANGE, today)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _rolled_up_events(
    session: Session,
    first: date,
    last: date,
    channel: str | None,
    granularity: Granularity,
    with_channels: bool,
) -> dict[str, dict[str, Figures]]:
    """`events_by_part`'s figures for the closed days [first, last), read from
    `cart_event_day`; days not counted yet are counted first and stored.

    A closed day's events no longer change (carts record events as they happen), so each is
    counted once: the page then reads a row per day and channel instead of every event.
    """
    _fill_days(session, first, last)
    rows = session.exec(
        select(
            CartEventDay.channel,
            CartEventDay.day,
            CartEventDay.views,
            CartEventDay.checkouts,
            CartEventDay.sessions,
            CartEventDay.checkout_sessions,
        ).where(
            col(CartEventDay.day) >= first.isoformat(),
            col(CartEventDay.day) < last.isoformat(),
            col(CartEventDay.channel).in_((channel,) if channel else (ALL_CHANNELS, *CHANNELS)),
        )
    )
    found: dict[str, dict[str, Figures]] = {"bucket": {}, "channel": {}}
    for row_channel, day, *figures in rows:
        if (channel is None) == (row_channel == ALL_CHANNELS):
            bucket = date.fromisoformat(day)
            if granularity == "week":
                bucket -= timedelta(days=bucket.weekday())
            _add_to(found["bucket"], bucket.isoformat(), tuple(figures))  # type: ignore[arg-type]
        if with_channels and row_channel != ALL_CHANNELS:
            _add_to(found["channel"], row_channel, tuple(figures))  # type: ignore[arg-type]
    return found


def _fill_days(session: Session, first: date, last: date) -> None:
    """Count and store the closed days of [first, last) that `cart_event_day` lacks (a day
    with no events gets a zero totals row, so it is not counted again)."""
    stored = set(
        session.scalars(
            select(CartEventDay.day).where(
                CartEventDay.channel == ALL_CHANNELS,
                col(CartEventDay.day) >= first.isoformat(),
                col(CartEventDay.day) < last.isoformat(),
            )
        )
    )
    missing = [
        day
        for day in (first + timedelta(days=n) for n in range((last - first).days))
        if day.isoformat() not in stored
    ]
    if not missing:
        return
    dialect = session.get_bind().dialect.name
    start = datetime.combine(missing[0], time.min, tzinfo=UTC)
    end = datetime.combine(missing[-1], time.min, tzinfo=UTC) + timedelta(days=1)
    grain = _cart_days(start, end, None, dialect)
    per_session = _per_session(grain)
    query = union_all(
        select(
            literal(ALL_CHANNELS).label("ch"),
            per_session.c.day,
            *_session_sums(per_session.c.events, per_session.c.checkouts),
        ).group_by(per_session.c.day),
        select(grain.c.ch, grain.c.day, *_session_sums(grain.c.events, grain.c.checkouts)).group_by(
            grain.c.ch, grain.c.day
        ),
    )
    wanted = {day.isoformat() for day in missing}
    rows = {(str(day), ALL_CHANNELS): (0, 0, 0, 0) for day in wanted}  # quiet days are stored too
    for row_channel, day, views, checkouts, sessions, bought in session.execute(query).all():
        key = day.isoformat() if isinstance(day, date) else str(day)
        if key in wanted:
            rows[(key, row_channel)] = (
                int(views or 0),
                int(checkouts or 0),
                int(sessions or 0),
                int(bought or 0),
            )
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    values = [
        {
            "day": day,
            "channel": row_channel,
            "views": figures[0],
            "checkouts": figures[1],
            "sessions": figures[2],
            "checkout_sessions": figures[3],
        }
        for (day, row_channel), figures in rows.items()
    ]
    # two pages counting the same day at once store it once
    statement = insert(CartEventDay.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=["day", "channel"]
    )
    session.execute(statement, values)
    session.flush()


def _add_figures(into: dict[str, dict[str, Figures]], more: dict[str, dict[str, Figures]]) -> None:
    for part, figures in more.items():
        for key, values in figures.items():
            _add_to(into.setdefault(part, {}), key, values)


def _add_to(into: dict[str, Figures], key: str, values: Figures) -> None:
    old = into.get(key, (0, 0, 0, 0))
    into[key] = (old[0] + values[0], old[1] + values[1], old[2] + values[2], old[3] + values[3])


def _sum_columns(rows: Iterable[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    views = checkouts = sessions = checkout_sessions = 0
    for row in rows:
        views, checkouts = views + row[0], checkouts + row[1]
        sessions, checkout_sessions = sessions + row[2], checkout_sessions + row[3]
    return views, checkouts, sessions, checkout_sessions


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


def analytics_for_range(
    start: datetime, end: datetime, channel: str | None = None
) -> AnalyticsReport:
    """`analytics_report` in a transaction of its own, for the Analytics page."""
    with session_scope() as session:
        return analytics_report(session, start, end, channel)
