"""The Analytics page's figures per Moment: what each Moment's messages brought.

A Moment's event links its cart with `&m=<moment>`; the cart records the Moment on its events
and checks out with it as a cart attribute, which comes back on the order
(`attributed_moment`). Views, sessions and checkouts follow the report's definitions (a session
is a cart and a UTC day with a view); orders are the report's attributed orders that carry a
Moment. Counted live: only visits from a Moment's link carry one, and
`ix_cart_event_moment_time` reads just those of the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, literal_column, select
from sqlmodel import Session, col

from services.core.moments import MOMENT_LABELS, MOMENTS
from services.core.tables import CartEvent, Order
from services.reporting.analytics.sql import (
    NO_FIGURES,
    as_figures,
    channel_expression,
    day_expression,
    in_range,
    session_sums,
)

__all__ = ["MomentRow", "moment_rows"]


@dataclass(frozen=True, slots=True)
class MomentRow:
    kind: str
    label: str
    views: int
    sessions: int
    checkouts: int
    checkout_sessions: int
    attributed_orders: int
    attributed_revenue_cents: int

    @property
    def checkout_rate(self) -> float | None:
        return self.checkout_sessions / self.sessions if self.sessions else None


def moment_rows(
    session: Session, start: datetime, end: datetime, channel: str | None, currency: str
) -> list[MomentRow]:
    """One row per Moment, in the Moments' order, zeros included."""
    events = _event_figures(session, start, end, channel)
    orders = _order_figures(session, start, end, channel, currency)
    rows = []
    for kind in MOMENTS:
        views, checkouts, sessions, checkout_sessions = events.get(kind, NO_FIGURES)
        count, revenue = orders.get(kind, (0, 0))
        rows.append(
            MomentRow(
                kind,
                MOMENT_LABELS[kind],
                views,
                sessions,
                checkouts,
                checkout_sessions,
                count,
                revenue,
            )
        )
    return rows


def _event_figures(
    session: Session, start: datetime, end: datetime, channel: str | None
) -> dict[str, tuple[int, int, int, int]]:
    dialect = session.get_bind().dialect.name
    where = [
        col(CartEvent.moment).in_(MOMENTS),
        in_range(col(CartEvent.occurred_at), start, end),
        col(CartEvent.kind).in_(("view", "checkout")),
    ]
    if channel is not None:
        where.append(channel_expression(col(CartEvent.channel)) == channel)
    is_checkout = case((col(CartEvent.kind) == "checkout", 1), else_=0)
    grain = (
        select(
            col(CartEvent.moment).label("m"),
            col(CartEvent.cart_link_id).label("link"),
            day_expression(col(CartEvent.occurred_at), dialect).label("day"),
            func.count().label("events"),
            func.sum(is_checkout).label("checkouts"),
        )
        .where(*where)
        .group_by(literal_column("m"), literal_column("link"), literal_column("day"))
        .subquery()
    )
    query = select(grain.c.m, *session_sums(grain.c.events, grain.c.checkouts)).group_by(grain.c.m)
    return {kind: as_figures(*sums) for kind, *sums in session.execute(query).all()}


def _order_figures(
    session: Session, start: datetime, end: datetime, channel: str | None, currency: str
) -> dict[str, tuple[int, int]]:
    where = [
        in_range(col(Order.processed_at), start, end),
        col(Order.attributed_moment).in_(MOMENTS),
        col(Order.attributed_cart_id).is_not(None),
        col(Order.test).is_(False),
        col(Order.cancelled_at).is_(None),
        col(Order.currency) == currency,
    ]
    if channel is not None:
        where.append(channel_expression(col(Order.attributed_channel)) == channel)
    query = (
        select(col(Order.attributed_moment), func.count(), func.sum(col(Order.total_cents)))
        .where(*where)
        .group_by(col(Order.attributed_moment))
    )
    return {
        str(kind): (int(count or 0), int(cents or 0))
        for kind, count, cents in session.execute(query).all()
    }
