"""The dashboard's Customers page: search, sort and page through customers in SQL, and one
customer's recent orders, due products, snoozes and cart link.

A store has tens of thousands of customers, so a page costs a fixed handful of statements
whatever its size: a count, the page's ids (filtered, sorted and cut by the database), then the
page's aggregates (orders, due rows, snoozes) grouped over those ids only.

A customer's status follows the cart page's rule (`DueEntry.is_due`: due from `remind_at`,
late from `late_at`), minus what the shopper snoozed, since a snoozed product is not reminded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, case, func, type_coerce
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from services.cart.links import (
    active_link_for,
    cart_url,
    get_or_create_link,
    preview_url,
    rotate_link,
)
from services.core.clock import utcnow
from services.core.db import session_scope
from services.core.money import format_money
from services.core.paging import Page, clamp_page, clamp_page_size, offset_of
from services.core.tables import (
    Customer,
    DueItem,
    Order,
    OrderLine,
    Product,
    Snooze,
    UTCDateTime,
)
from services.customers.search import name_order, search_filter
from services.messaging.phone import readable_phone
from services.settings.effective import effective_settings

SortKey = Literal["name", "next_due", "last_order"]
SORTS: dict[str, str] = {
    "name": "Name",
    "next_due": "Next due date",
    "last_order": "Last order",
}
SORT_KEYS: tuple[SortKey, ...] = ("name", "next_due", "last_order")
DEFAULT_SORT: SortKey = "name"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
RECENT_ORDERS = 10

StatusKind = Literal["late", "due", "snoozed", "upcoming", "nothing"]


class CustomerNotFound(LookupError):
    """The customer asked for does not exist (deleted, or an id a browser made up)."""


@dataclass(frozen=True, slots=True)
class Status:
    """What the merchant reads in the status badge, and the date that goes with it."""

    kind: StatusKind
    at: datetime | None = None

    @property
    def label(self) -> str:
        if self.kind == "late":
            return "Late"
        if self.kind == "due":
            return "Due now"
        if self.kind == "snoozed":
            return f"Snoozed until {format_day(self.at)}"
        if self.kind == "upcoming":
            return f"Upcoming ({format_day(self.at)})"
        return "Nothing due"


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: int
    name: str
    email: str
    phone: str
    orders: int
    last_order_at: datetime | None
    next_due_at: datetime | None
    status: Status


@dataclass(frozen=True, slots=True)
class RecentOrder:
    name: str
    processed_at: datetime
    total: str  # formatted with its currency
    lines: list[str]
    cancelled: bool
    test: bool


@dataclass(frozen=True, slots=True)
class DueProduct:
    product_id: int
    title: str
    due_at: datetime
    remind_at: datetime
    late_at: datetime
    interval_days: float
    interval_source: str
    status: Status


@dataclass(frozen=True, slots=True)
class ActiveSnooze:
    product_id: int | None  # None: the whole cart
    title: str
    until: datetime


@dataclass(frozen=True, slots=True)
class CustomerDetail:
    id: int
    name: str
    email: str
    phone: str
    status: Status
    orders: int
    recent_orders: list[RecentOrder]
    due_products: list[DueProduct]
    snoozes: list[ActiveSnooze]
    link_url: str  # "" while the customer has no live cart link
    link_preview_url: str


@dataclass(frozen=True, slots=True)
class CartLinkUrls:
    url: str
    preview_url: str


# --- the list ------------------------------------------------------------------------------


def normalize_sort(sort: str | None) -> SortKey:
    """The sort asked for, or the default for one this page does not know."""
    return next((key for key in SORT_KEYS if key == sort), DEFAULT_SORT)


def _countable_orders() -> ColumnElement[bool]:
    return col(Order.test).is_(False)


def _last_order_expr() -> Any:
    return (
        select(func.max(Order.processed_at))
        .where(Order.customer_id == Customer.id, _countable_orders())
        .scalar_subquery()
    )


def _next_due_expr() -> Any:
    return (
        select(func.min(DueItem.due_at)).where(DueItem.customer_id == Customer.id).scalar_subquery()
    )


def _order_by(sort: SortKey) -> list[Any]:
    if sort == "next_due":
        return [_next_due_expr().asc().nulls_last(), col(Customer.id)]
    if sort == "last_order":
        return [_last_order_expr().desc().nulls_last(), col(Customer.id)]
    return name_order()


def customer_page(
    session: Session,
    query: str | None,
    sort: str | None,
    page: int,
    page_size: int,
    now: datetime,
) -> Page[CustomerRow]:
    """One page of customers matching `query`, sorted by `sort`, with their totals and status.

    Bad input is made sane rather than refused: an unknown sort sorts by name, a page below 1 is
    the first, a page past the end the last, and the page size is kept within 1..100.
    """
    page_size = clamp_page_size(page_size, MAX_PAGE_SIZE)
    condition = search_filter(query)
    counted = select(func.count()).select_from(Customer)
    ids_query = select(Customer.id)
    if condition is not None:
        counted = counted.where(condition)
        ids_query = ids_query.where(condition)
    total = int(session.exec(counted).one())
    page = clamp_page(page, total, page_size)
    ids_query = ids_query.order_by(*_order_by(normalize_sort(sort)))
    ids_query = ids_query.limit(page_size).offset(offset_of(page, page_size))
    ids = [int(customer_id or 0) for customer_id in session.exec(ids_query).all()]
    return Page(_rows_for(session, ids, now), total, page, page_size)


def load_customer_page(
    query: str | None,
    sort: str | None,
    page: int,
    page_size: int = DEFAULT_PAGE_SIZE,
    now: datetime | None = None,
) -> Page[CustomerRow]:
    """`customer_page` in a transaction of its own, for the Customers page."""
    with session_scope() as session:
        return customer_page(session, query, sort, page, page_size, now or utcnow())


@dataclass(slots=True)
class _DueSummary:
    next_due: datetime | None = None
    unsnoozed_next: datetime | None = None
    late: bool = False
    due: bool = False
    snoozed_due_until: datetime | None = None
    snoozed_until: datetime | None = None


def _due_summaries(session: Session, ids: list[int], now: datetime) -> dict[int, _DueSummary]:
    """Per customer, the figures the status needs: one grouped statement over the page's ids.

    A due row is snoozed when the shopper snoozed its product and the snooze is still running.
    """
    running = and_(
        col(Snooze.customer_id) == col(DueItem.customer_id),
        col(Snooze.product_id) == col(DueItem.product_id),
        col(Snooze.until) > now,
    )
    free = col(Snooze.id).is_(None)
    held = col(Snooze.id).is_not(None)
    utc = UTCDateTime()
    statement = (
        sa_select(
            col(DueItem.customer_id),
            type_coerce(func.min(DueItem.due_at), utc),
            type_coerce(func.min(case((free, DueItem.due_at))), utc),
            func.max(case((and_(free, col(DueItem.late_at) <= now), 1), else_=0)),
            func.max(case((and_(free, col(DueItem.remind_at) <= now), 1), else_=0)),
            type_coerce(
                func.min(case((and_(held, col(DueItem.remind_at) <= now), Snooze.until))), utc
            ),
            type_coerce(func.min(Snooze.until), utc),
        )
        .select_from(DueItem)
        .outerjoin(Snooze, running)
        .where(col(DueItem.customer_id).in_(ids))
        .group_by(col(DueItem.customer_id))
    )
    found: dict[int, _DueSummary] = {}
    for customer_id, next_due, unsnoozed, late, due, snoozed_due, snoozed in session.execute(
        statement
    ):
        found[customer_id] = _DueSummary(
            next_due, unsnoozed, bool(late), bool(due), snoozed_due, snoozed
        )
    return found


def _cart_snoozes(session: Session, ids: list[int], now: datetime) -> dict[int, datetime]:
    rows = session.exec(
        select(Snooze.customer_id, type_coerce(func.max(Snooze.until), UTCDateTime()))
        .where(
            col(Snooze.customer_id).in_(ids),
            col(Snooze.product_id).is_(None),
            Snooze.until > now,
        )
        .group_by(col(Snooze.customer_id))
    )
    return {customer_id: until for customer_id, until in rows}


def status_from(summary: _DueSummary | None, cart_snoozed_until: datetime | None) -> Status:
    """The badge: a whole-cart snooze first, then late, due, a snoozed due product, upcoming."""
    if cart_snoozed_until is not None:
        return Status("snoozed", cart_snoozed_until)
    if summary is None:
        return Status("nothing")
    if summary.late:
        return Status("late")
    if summary.due:
        return Status("due")
    if summary.snoozed_due_until is not None:
        return Status("snoozed", summary.snoozed_due_until)
    if summary.unsnoozed_next is not None:
        return Status("upcoming", summary.unsnoozed_next)
    if summary.snoozed_until is not None:
        return Status("snoozed", summary.snoozed_until)
    return Status("nothing")


def _rows_for(session: Session, ids: list[int], now: datetime) -> list[CustomerRow]:
    if not ids:
        return []
    people = {
        customer.id: customer
        for customer in session.exec(select(Customer).where(col(Customer.id).in_(ids)))
    }
    orders = {
        customer_id: (int(count), last)
        for customer_id, count, last in session.exec(
            select(
                Order.customer_id,
                func.count(),
                type_coerce(func.max(Order.processed_at), UTCDateTime()),
            )
            .where(col(Order.customer_id).in_(ids), _countable_orders())
            .group_by(col(Order.customer_id))
        )
    }
    dues = _due_summaries(session, ids, now)
    cart_snoozes = _cart_snoozes(session, ids, now)
    rows = []
    for customer_id in ids:
        person = people[customer_id]
        count, last_order = orders.get(customer_id, (0, None))
        summary = dues.get(customer_id)
        rows.append(
            CustomerRow(
                id=customer_id,
                name=display_name(person.first_name, person.last_name, person.email),
                email=person.email or "",
                phone=readable_phone(person.phone),
                orders=count,
                last_order_at=last_order,
                next_due_at=summary.next_due if summary else None,
                status=status_from(summary, cart_snoozes.get(customer_id)),
            )
        )
    return rows


def display_name(first: str, last: str, email: str | None) -> str:
    name = f"{first} {last}".strip()
    return name or (email or "") or "Unnamed customer"


# --- one customer ----------------------------------------------------------------------------


def customer_detail(session: Session, customer_id: int, now: datetime) -> CustomerDetail:
    """Everything the detail panel shows. Raises `CustomerNotFound` for an unknown id.

    Reading it never creates a cart link: a link is made only when the merchant copies or
    previews it (`ensure_customer_link`).
    """
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(customer_id)
    order_count = int(
        session.exec(
            select(func.count())
            .select_from(Order)
            .where(Order.customer_id == customer_id, _countable_orders())
        ).one()
    )
    snoozes = _snoozes(session, customer_id, now)
    summaries = _due_summaries(session, [customer_id], now)
    cart_snooze = next((s.until for s in snoozes if s.product_id is None), None)
    link = active_link_for(session, customer_id)
    urls = _urls(session, link.token) if link is not None else CartLinkUrls("", "")
    return CustomerDetail(
        id=customer_id,
        name=display_name(customer.first_name, customer.last_name, customer.email),
        email=customer.email or "",
        phone=readable_phone(customer.phone),
        status=status_from(summaries.get(customer_id), cart_snooze),
        orders=order_count,
        recent_orders=_recent_orders(session, customer_id),
        due_products=_due_products(session, customer_id, now, snoozes),
        snoozes=snoozes,
        link_url=urls.url,
        link_preview_url=urls.preview_url,
    )


def load_customer_detail(customer_id: int, now: datetime | None = None) -> CustomerDetail:
    """`customer_detail` in a transaction of its own, for the Customers page's panel."""
    with session_scope() as session:
        return customer_detail(session, customer_id, now or utcnow())


def _recent_orders(session: Session, customer_id: int) -> list[RecentOrder]:
    """The newest orders, test and cancelled ones included (marked as such)."""
    orders = session.exec(
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(col(Order.processed_at).desc(), col(Order.id).desc())
        .limit(RECENT_ORDERS)
    ).all()
    lines: dict[int, list[str]] = {order.id or 0: [] for order in orders}
    if lines:
        for order_id, title, quantity in session.exec(
            select(OrderLine.order_id, OrderLine.title, OrderLine.quantity)
            .where(col(OrderLine.order_id).in_(lines))
            .order_by(col(OrderLine.order_id), col(OrderLine.id))
        ):
            lines[order_id].append(f"{title} × {quantity}" if quantity != 1 else title)
    return [
        RecentOrder(
            name=order.name or f"Order {order.id}",
            processed_at=order.processed_at,
            total=format_money(order.total_cents, order.currency),
            lines=lines[order.id or 0],
            cancelled=order.cancelled_at is not None,
            test=bool(order.test),
        )
        for order in orders
    ]


def _due_products(
    session: Session, customer_id: int, now: datetime, snoozes: list[ActiveSnooze]
) -> list[DueProduct]:
    snoozed_products = {s.product_id: s.until for s in snoozes if s.product_id is not None}
    rows = session.exec(
        select(DueItem, Product.title)
        .join(Product, col(Product.id) == col(DueItem.product_id))
        .where(DueItem.customer_id == customer_id)
        .order_by(col(DueItem.due_at), col(DueItem.product_id))
    )
    return [
        DueProduct(
            product_id=item.product_id,
            title=title,
            due_at=item.due_at,
            remind_at=item.remind_at,
            late_at=item.late_at,
            interval_days=float(item.interval_days),
            interval_source=item.interval_source,
            status=_product_status(
                now,
                item.remind_at,
                item.late_at,
                item.due_at,
                snoozed_products.get(item.product_id),
            ),
        )
        for item, title in rows
    ]


def _product_status(
    now: datetime,
    remind_at: datetime,
    late_at: datetime,
    due_at: datetime,
    snoozed_until: datetime | None,
) -> Status:
    if snoozed_until is not None:
        return Status("snoozed", snoozed_until)
    if now >= late_at:
        return Status("late")
    if now >= remind_at:
        return Status("due")
    return Status("upcoming", due_at)


def _snoozes(session: Session, customer_id: int, now: datetime) -> list[ActiveSnooze]:
    rows = session.exec(
        select(Snooze.product_id, Product.title, Snooze.until)
        .outerjoin(Product, col(Product.id) == col(Snooze.product_id))
        .where(Snooze.customer_id == customer_id, Snooze.until > now)
        .order_by(col(Snooze.until))
    ).all()
    return [
        ActiveSnooze(product_id, "Whole cart" if product_id is None else title or "", until)
        for product_id, title, until in rows
    ]


# --- the cart link ---------------------------------------------------------------------------


def _urls(session: Session, token: str) -> CartLinkUrls:
    public_url = effective_settings(session).public_url
    return CartLinkUrls(cart_url(token, public_url), preview_url(token, public_url))


def _require_customer(session: Session, customer_id: int) -> None:
    if session.get(Customer, customer_id) is None:
        raise CustomerNotFound(customer_id)


def ensure_customer_link(session: Session, customer_id: int) -> CartLinkUrls:
    """The customer's live cart link, made now if they have none (to copy or preview it)."""
    _require_customer(session, customer_id)
    return _urls(session, get_or_create_link(session, customer_id).token)


def rotate_customer_link(session: Session, customer_id: int) -> str:
    """Revoke the current link (it shows the expired page from now on); returns the new URL."""
    _require_customer(session, customer_id)
    return _urls(session, rotate_link(session, customer_id).token).url


def share_customer_link(customer_id: int) -> CartLinkUrls:
    """`ensure_customer_link` in a transaction of its own: the link to copy or preview."""
    with session_scope() as session:
        return ensure_customer_link(session, customer_id)


def renew_customer_link(customer_id: int, now: datetime | None = None) -> CustomerDetail:
    """Rotate the customer's link and read the panel again, in one transaction."""
    with session_scope() as session:
        rotate_customer_link(session, customer_id)
        return customer_detail(session, customer_id, now or utcnow())


def format_day(moment: datetime | None) -> str:
    """`Mar 4, 2026`: dates as a merchant reads them (UTC)."""
    return "" if moment is None else f"{moment:%b} {moment.day}, {moment.year}"
