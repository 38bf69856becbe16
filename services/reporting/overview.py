"""The figures on the dashboard's overview page, each counted by the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import session_scope
from services.core.tables import Customer, DueItem, Order, Shop


@dataclass(frozen=True, slots=True)
class Overview:
    shop_name: str
    shop_domain: str
    customers: int
    orders: int
    due_customers: int


def store_overview(session: Session, now: datetime) -> Overview:
    """Counts of customers, orders (test orders left out) and customers due to be reminded."""
    shop = session.exec(select(Shop)).first()
    customers = session.exec(select(func.count()).select_from(Customer)).one()
    orders = session.exec(
        select(func.count()).select_from(Order).where(col(Order.test).is_(False))
    ).one()
    due = session.exec(
        select(func.count(func.distinct(DueItem.customer_id))).where(col(DueItem.remind_at) <= now)
    ).one()
    return Overview(
        shop_name=(shop.name or shop.shop_domain) if shop else "",
        shop_domain=shop.shop_domain if shop else "",
        customers=int(customers),
        orders=int(orders),
        due_customers=int(due),
    )


def load_overview() -> Overview:
    """`store_overview` now, in a transaction of its own (the dashboard's overview page)."""
    with session_scope() as session:
        return store_overview(session, utcnow())
