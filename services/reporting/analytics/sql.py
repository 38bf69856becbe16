"""The SQL the analytics figures share: UTC days and weeks per dialect, channels, cart sessions.

The report counts live days with it, the rollup counts closed days with the same statements, so
a day reads the same from either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.expression import CTE, ColumnClause
from sqlmodel import col

from services.core.tables import CartEvent
from services.reporting.analytics.ranges import CHANNELS, Granularity

Figures = tuple[int, int, int, int]
"""views, checkouts, sessions, sessions with a checkout"""
NO_FIGURES: Figures = (0, 0, 0, 0)

# Grouped queries group by their output column's name: PostgreSQL would not match two copies of
# an expression whose constants are bound parameters.
GROUP_KEY: ColumnClause[Any] = literal_column("k")


def bucket_expression(column: Any, granularity: Granularity, dialect: str) -> ColumnElement[Any]:
    """The UTC day or week (its Monday) of a timestamp column as 'YYYY-MM-DD' text, per dialect."""
    return bucket_of_day(day_expression(column, dialect), granularity, dialect)


def day_expression(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC day of a timestamp column, cheap enough to compute for every row.

    SQLite keeps UTC timestamps as naive text whose first 10 characters are the day: exact,
    where its date functions round to the millisecond (23:59:59.9999 would be the next day).
    PostgreSQL keeps `timestamptz`: read at UTC (whatever the connection's time zone) as a date.
    """
    if dialect == "postgresql":
        return cast(func.timezone(sql_constant("UTC"), column), Date)
    return func.substr(column, literal_column("1"), literal_column("10"))


def bucket_of_day(day: Any, granularity: Granularity, dialect: str) -> ColumnElement[Any]:
    """A `day_expression` value as its bucket, the day or its week's Monday, 'YYYY-MM-DD' text.

    Applied after grouping by day, so it runs once per day rather than once per row.
    """
    if dialect == "postgresql":
        if granularity == "week":
            # a timestamp without time zone, so the connection's time zone plays no part
            day = func.date_trunc(sql_constant("week"), cast(day, DateTime(timezone=False)))
        return func.to_char(day, sql_constant("YYYY-MM-DD"))
    if granularity == "day":
        return day
    # 'weekday 0' moves forward to Sunday (or stays), -6 days is that week's Monday
    return func.date(day, sql_constant("weekday 0"), sql_constant("-6 days"))


def sql_constant(constant: str) -> ColumnClause[Any]:
    """A constant written into the SQL text (ours, never user input), not a bound parameter."""
    return literal_column(f"'{constant}'")


def channel_expression(column: Any) -> ColumnElement[str]:
    """A stored channel as one of `CHANNELS`: none is 'direct', an unknown one is 'other'."""
    return case(
        (or_(column.is_(None), column == ""), literal("direct")),
        (column.in_(CHANNELS), column),
        else_=literal("other"),
    )


def in_range(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def cart_days(start: datetime, end: datetime, channel: str | None, dialect: str) -> CTE:
    """Personal carts' views and checkouts of [start, end) grouped per (cart, UTC day, channel):
    each row is a session candidate. Only views and checkouts are read, so views = events -
    checkouts."""
    event_channel = channel_expression(col(CartEvent.channel))
    where = [
        col(CartEvent.kind).in_(("view", "checkout")),
        in_range(col(CartEvent.occurred_at), start, end),
        col(CartEvent.cart_link_id).is_not(None),  # personal carts: featured ones count apart
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


def per_session(grain: CTE) -> Subquery:
    """`cart_days` regrouped per (cart, day): one session whatever the channels."""
    return (
        select(
            grain.c.day,
            func.sum(grain.c.events).label("events"),
            func.sum(grain.c.checkouts).label("checkouts"),
        )
        .group_by(grain.c.link, grain.c.day)
        .subquery()
    )


def session_sums(events: Any, checkouts: Any) -> list[ColumnElement[Any]]:
    """views, checkouts, sessions and sessions with a checkout of grouped session candidates."""
    viewed = events > checkouts
    return [
        func.sum(events - checkouts).label("views"),
        func.sum(checkouts).label("checkouts"),
        func.sum(case((viewed, 1), else_=0)).label("sessions"),
        func.sum(case((and_(viewed, checkouts > 0), 1), else_=0)).label("bought"),
    ]


def as_figures(views: Any, checkouts: Any, sessions: Any, bought: Any) -> Figures:
    """A row's four sums as whole numbers (SUM of no rows is NULL)."""
    return int(views or 0), int(checkouts or 0), int(sessions or 0), int(bought or 0)
