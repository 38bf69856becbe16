"""A shopper's "Remind me later": one product, or the whole cart, left out of reminders for a while.

A snooze only silences messages (the due scan and delivery read `active_snoozes`); the cart page
still shows the product. Only 1, 2 or 4 weeks are offered, so a stray request cannot silence a
customer for years. A new snooze of the same target (a product, or the whole cart when
`product_id` is None) replaces the old one instead of piling up rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.tables import Snooze

SNOOZE_WEEKS = (1, 2, 4)
# built once: delivery asks for every message it sends
_RUNNING = select(Snooze.product_id, Snooze.until).where(
    Snooze.customer_id == bindparam("customer_id"), Snooze.until > bindparam("now")
)


def snooze(
    session: Session,
    customer_id: int,
    product_id: int | None,
    weeks: int,
    now: datetime | None = None,
) -> Snooze:
    """Snooze one product (or the whole cart when `product_id` is None) for 1, 2 or 4 weeks."""
    if weeks not in SNOOZE_WEEKS:
        raise ValueError(f"a snooze lasts 1, 2 or 4 weeks, not {weeks!r}")
    now = now or utcnow()
    _delete_target(session, customer_id, product_id)
    row = Snooze(
        customer_id=customer_id,
        product_id=product_id,
        until=now + timedelta(weeks=weeks),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def active_snoozes(
    session: Session, customer_id: int, now: datetime | None = None
) -> dict[int | None, datetime]:
    """The customer's snoozes still running: product id (None = whole cart) -> until."""
    now = now or utcnow()
    rows = session.connection().execute(_RUNNING, {"customer_id": customer_id, "now": now})
    return _fold(rows.all())


def active_snoozes_for(
    session: Session, customer_ids: Iterable[int], now: datetime | None = None
) -> dict[int, dict[int | None, datetime]]:
    """`active_snoozes` for many customers in one query (the due scan works in batches)."""
    now = now or utcnow()
    ids = list(dict.fromkeys(customer_ids))
    found: dict[int, list[tuple[int | None, datetime]]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.exec(
            select(Snooze.customer_id, Snooze.product_id, Snooze.until).where(
                col(Snooze.customer_id).in_(chunk),
                Snooze.until > now,
            )
        ).all()
        for customer_id, product_id, until in rows:
            found.setdefault(customer_id, []).append((product_id, until))
    return {customer_id: _fold(rows) for customer_id, rows in found.items()}


def clear_snooze(
    session: Session, customer_id: int, product_id: int | None, now: datetime | None = None
) -> bool:
    """End a running snooze now (the shopper changed their mind). True when one was running.

    The row is ended rather than deleted: the due scan looks again at customers whose snooze
    ended recently, so a reminder held back by it still goes out.
    """
    now = now or utcnow()
    result = session.exec(
        update(Snooze)
        .where(col(Snooze.customer_id) == customer_id, _target(product_id), col(Snooze.until) > now)
        .values(until=now)
    )
    session.flush()
    return int(result.rowcount or 0) > 0


def is_snoozed(snoozes: dict[int | None, datetime], product_id: int) -> bool:
    """True when the product, or the whole cart, is snoozed in an `active_snoozes` result."""
    return None in snoozes or product_id in snoozes


def _target(product_id: int | None) -> Any:
    if product_id is None:
        return col(Snooze.product_id).is_(None)
    return Snooze.product_id == product_id


def _delete_target(session: Session, customer_id: int, product_id: int | None) -> None:
    session.exec(delete(Snooze).where(col(Snooze.customer_id) == customer_id, _target(product_id)))
    session.flush()


def _fold(rows: Iterable[tuple[int | None, datetime]]) -> dict[int | None, datetime]:
    folded: dict[int | None, datetime] = {}
    for product_id, until in rows:
        if product_id not in folded or until > folded[product_id]:
            folded[product_id] = until
    return folded
