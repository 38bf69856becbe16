"""Closed days' cart events counted once into `cart_event_day`: the analytics' only writes.

A closed UTC day's events no longer change (carts record events as they happen), so each day is
counted once, per channel and in total, and a 12-month Analytics page then reads a row per day
and channel instead of every event. The Analytics page's use case counts the closed days of its
range before reading them; the nightly job counts every day the page can ask for, so the first
view of a day finds them stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from services.core.tables import CartEventDay
from services.reporting.analytics.ranges import MAX_RANGE, closed_days, midnight
from services.reporting.analytics.sql import (
    NO_FIGURES,
    Figures,
    as_figures,
    cart_days,
    per_session,
    session_sums,
)

ALL_CHANNELS = ""
"""The `cart_event_day.channel` of a day's totals row (a cart on two channels is one session)."""


def count_closed_days(session: Session, now: datetime) -> None:
    """Count every closed day the Analytics page can ask for that is not counted yet (the
    nightly job runs it, so the first page view of the day reads only stored days)."""
    today = now.astimezone(UTC).date()
    store_days(session, today - MAX_RANGE, today)


def count_closed_days_of_range(
    session: Session, start: datetime, end: datetime, now: datetime
) -> None:
    """Count the closed days of [start, end) not counted yet, before the report reads them."""
    closed = closed_days(start, end, now)
    if closed is not None:
        store_days(session, *closed)


def store_days(session: Session, first: date, last: date) -> None:
    """Count and store the days of [first, last) that `cart_event_day` lacks (a day with no
    events gets a zero totals row, so it is not counted again). Pass closed days only."""
    missing = missing_days(session, first, last)
    if not missing:
        return
    dialect = session.get_bind().dialect.name
    start, end = midnight(missing[0]), midnight(missing[-1]) + timedelta(days=1)
    grain = cart_days(start, end, None, dialect)
    sessions = per_session(grain)
    query = union_all(
        select(
            literal(ALL_CHANNELS).label("ch"),
            sessions.c.day,
            *session_sums(sessions.c.events, sessions.c.checkouts),
        ).group_by(sessions.c.day),
        select(grain.c.ch, grain.c.day, *session_sums(grain.c.events, grain.c.checkouts)).group_by(
            grain.c.ch, grain.c.day
        ),
    )
    wanted = {day.isoformat() for day in missing}
    rows: dict[tuple[str, str], Figures] = {(day, ALL_CHANNELS): NO_FIGURES for day in wanted}
    for row_channel, day, *sums in session.execute(query).all():
        key = day.isoformat() if isinstance(day, date) else str(day)
        if key in wanted:
            rows[(key, row_channel)] = as_figures(*sums)
    _insert_new(session, rows)


def missing_days(session: Session, first: date, last: date) -> list[date]:
    """The days of [first, last) without a totals row, in order."""
    stored = set(
        session.scalars(
            select(col(CartEventDay.day)).where(
                col(CartEventDay.channel) == ALL_CHANNELS,
                col(CartEventDay.day) >= first.isoformat(),
                col(CartEventDay.day) < last.isoformat(),
            )
        )
    )
    days = (first + timedelta(days=n) for n in range((last - first).days))
    return [day for day in days if day.isoformat() not in stored]


def _insert_new(session: Session, rows: dict[tuple[str, str], Figures]) -> None:
    """Insert the day rows; two pages counting the same day at once store it once."""
    values: list[dict[str, Any]] = [
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
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    statement = dialect.insert(CartEventDay).on_conflict_do_nothing(
        index_elements=[CartEventDay.day, CartEventDay.channel]
    )
    session.execute(statement, values)
    session.flush()
