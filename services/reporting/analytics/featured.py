"""Featured product links' carts on the Analytics page, by channel, apart from personal carts.

A featured cart belongs to no one: its events carry a visit id (one per page opened) in place of
a cart link, so a **session** here is one visit with a view, and a checkout session one that
also checked out. Counted live from the events (they are few next to personal carts' and the
range's rows are found through the kind and time index); the personal figures leave them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, literal_column, select
from sqlmodel import Session, col

from services.core.tables import CartEvent
from services.reporting.analytics.sql import (
    as_figures,
    channel_expression,
    in_range,
    session_sums,
)


@dataclass(frozen=True, slots=True)
class FeaturedRow:
    channel: str
    views: int  # the fields after the channel in `Figures` order
    checkouts: int
    sessions: int
    checkout_sessions: int

    @property
    def checkout_rate(self) -> float | None:
        return self.checkout_sessions / self.sessions if self.sessions else None


def featured_figures(
    session: Session, start: datetime, end: datetime, channel: str | None = None
) -> list[FeaturedRow]:
    """Views, sessions and checkouts of featured carts in [start, end), per channel (only the
    channels that had any), optionally for one channel."""
    event_channel = channel_expression(col(CartEvent.channel))
    where = [
        col(CartEvent.kind).in_(("view", "checkout")),
        in_range(col(CartEvent.occurred_at), start, end),
        col(CartEvent.featured_visit).is_not(None),
    ]
    if channel is not None:
        where.append(event_channel == channel)
    is_checkout = case((col(CartEvent.kind) == "checkout", 1), else_=0)
    visits = (
        select(
            col(CartEvent.featured_visit).label("visit"),
            event_channel.label("ch"),
            func.count().label("events"),
            func.sum(is_checkout).label("checkouts"),
        )
        .where(*where)
        .group_by(literal_column("visit"), literal_column("ch"))
        .subquery()
    )
    rows = session.execute(
        select(visits.c.ch, *session_sums(visits.c.events, visits.c.checkouts))
        .group_by(visits.c.ch)
        .order_by(visits.c.ch)
    ).all()
    return [FeaturedRow(row[0], *as_figures(*row[1:])) for row in rows]
