"""The dashboard's Customers page: search, sort and page through customers in SQL, and one
customer's recent orders, due products, snoozes and cart link.

A store has tens of thousands of customers, so a page costs a fixed handful of statements
whatever its size: a count, the page's ids (filtered, sorted and cut by the database), then the
page's aggregates (orders, due rows, snoozes) grouped over those ids only.

A customer's status follows the cart page's rule (`DueEntry.is_due`: due from `remind_at`,
late from `late_at`), minus what the shopper snoozed, since a snoozed product is not reminded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, case, func, literal, or_, type_coerce
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from services.cart.links import (
    active_link_for,
    cart_url,
    get_or_create_link,
    preview_url,
    rotate_link,
)
from services.core.money import format_money
from services.core.tables import (
    Customer,
    DueItem,
    Order,
    OrderLine,
    Product,
    Snooze,
    UTCDateTime,
)
from services.messaging.phone import readable_phone, to_e164
from services.settings.effective import effective_settings

SortKey = Literal["name", "next_due", "last_order"]
SORTS: dict[str, str] = {
    "name": "Name",
    "next_due": "Next due date",
    "last_order": "Last order",
}
DEFAULT_SORT: SortKey = "name"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
MAX_QUERY_LENGTH = 100
RECENT_ORDERS = 10
_MIN_PHONE_DIGITS = 3
_PHONE_TEXT = re.compile(r"[\d\s().+\-/]+")

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
class CustomerPage:
    rows: list[CustomerRow]
    total: int
    page: int  # the page shown: a page past the end shows the last one
    page_size: int
    query: str
    sort: SortKey

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def first(self) -> int:
        return 0 if not self.rows else (self.page - 1) * self.page_size + 1

    @property
    def last(self) -> int:
        return 0 if not self.rows else self.first + len(self.rows) - 1


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


def normalise_query(query: str | None) -> str:
    """Whitespace collapsed and cut to a sane length: a search box is not a place for essays."""
    return " ".join((query or "").split())[:MAX_QUERY_LENGTH]


def normalise_sort(sort: str | None) -> SortKey:
    return sort if sort in SORTS else DEFAULT_SORT  # type: ignore[return-value]


def phone_digits(query: str) -> str | None:
    """The digits of what looks like a phone number ("(415) 555-0142" → "4155550142"), else None.

    Stored phones are E.164 ("+14155550142"), so the digits the merchant typed, in any layout,
    are looked for inside them. A national trunk prefix ("07911 123456" in the UK) is dropped,
    since E.164 leaves it out.
    """
    if not _PHONE_TEXT.fullmatch(query):
        return None
    digits = re.sub(r"\D", "", query).lstrip("0")
    return digits if len(digits) >= _MIN_PHONE_DIGITS else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return column.ilike(f"%{_escape_like(text)}%", escape="\\")


def search_filter(query: str) -> ColumnElement[bool] | None:
    """Email fragment, first/last/full name (case-insensitive), or phone digits in any layout."""
    query = normalise_query(query)
    if not query:
        return None
    full_name = Customer.first_name + literal(" ") + Customer.last_name
    clauses: list[ColumnElement[bool]] = [
        _contains(Customer.email, query),
        _contains(Customer.first_name, query),
        _contains(Customer.last_name, query),
    ]
    if " " in query:
        clauses.append(_contains(full_name, query))
    digits = phone_digits(query)
    if digits is not None:
        e164 = to_e164(query)
        if e164 is not None:
            clauses.append(Customer.phone == e164)
        clauses.append(Customer.phone.like(f"%{digits}%"))  # type: ignore[union-attr]
    return or_(*clauses)


def _countable_orders() -> ColumnElement[bool]:
    return Order.test.is_(False)  # type: ignore[attr-defined]


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
        return [_next_due_expr().asc().nulls_last(), Customer.id]
    if sort == "last_order":
        return [_last_order_expr().desc().nulls_last(), Customer.id]
    no_name = and_(Customer.first_name == "", Customer.last_name == "")
    return [
        case((no_name, 1), else_=0),
        func.lower(Customer.last_name),
        func.lower(Customer.first_name),
        func.lower(func.coalesce(Customer.email, "")),
        Customer.id,
    ]


def customer_page(
    session: Session,
    query: str | None,
    sort: str | None,
    page: int,
    page_size: int,
    now: datetime,
) -> CustomerPage:
    """One page of customers matching `query`, sorted by `sort`, with their totals and status.

    Bad input is made sane rather than refused: an unknown sort sorts by name, a page below 1 is
    the first, a page past the end the last, and the page size is kept within 1..100.
    """
    query = normalise_query(query)
    sort_key = normalise_sort(sort)
    page_size = min(max(int(page_size), 1), MAX_PAGE_SIZE)
    condition = search_filter(query)
    counted = select(func.count()).select_from(Customer)
    if condition is not None:
        counted = counted.where(condition)
    total = int(session.exec(counted).one())
    pages = max(1, -(-total // page_size))
    page = min(max(int(page), 1), pages)
    ids_query = select(Customer.id)
    if condition is not None:
        ids_query = ids_query.where(condition)
    ids_query = ids_query.order_by(*_order_by(sort_key))
    ids_query = ids_query.limit(page_size).offset((page - 1) * page_size)
    ids = [int(customer_id) for customer_id in session.exec(ids_query).all()]
    rows = _rows_for(session, ids, now)
    return CustomerPage(rows, total, page, page_size, query, sort_key)


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
        Snooze.customer_id == DueItem.customer_id,
        Snooze.product_id == DueItem.product_id,
        Snooze.until > now,
    )
    free = Snooze.id.is_(None)  # type: ignore[union-attr]
    held = Snooze.id.is_not(None)  # type: ignore[union-attr]
    utc = UTCDateTime()
    statement = (
        select(
            DueItem.customer_id,
            type_coerce(func.min(DueItem.due_at), utc),
            type_coerce(func.min(case((free, DueItem.due_at))), utc),
            func.max(case((and_(free, DueItem.late_at <= now), 1), else_=0)),
            func.max(case((and_(free, DueItem.remind_at <= now), 1), else_=0)),
            type_coerce(func.min(case((and_(held, DueItem.remind_at <= now), Snooze.until))), utc),
            type_coerce(func.min(Snooze.until), utc),
        )
        .select_from(DueItem)
        .outerjoin(Snooze, running)
        .where(DueItem.customer_id.in_(ids))  # type: ignore[attr-defined]
        .group_by(DueItem.customer_id)
    )
    found: dict[int, _DueSummary] = {}
    for customer_id, next_due, unsnoozed, late, due, snoozed_due, snoozed in session.exec(
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
            Snooze.customer_id.in_(ids),  # type: ignore[attr-defined]
            Snooze.product_id.is_(None),  # type: ignore[union-attr]
            Snooze.until > now,
        )
        .group_by(Snooze.customer_id)
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
        row[0]: row
        for row in session.exec(
            select(
                Customer.id,
                Customer.first_name,
                Customer.last_name,
                Customer.email,
                Customer.phone,
            ).where(Customer.id.in_(ids))  # type: ignore[union-attr]
        )
    }
    orders = {
        customer_id: (int(count), last)
        for customer_id, count, last in session.exec(
            select(
                Order.customer_id,
                func.count(),
                type_coerce(func.max(Order.processed_at), UTCDateTime()),
            )
            .where(Order.customer_id.in_(ids), _countable_orders())  # type: ignore[union-attr]
            .group_by(Order.customer_id)
        )
    }
    dues = _due_summaries(session, ids, now)
    cart_snoozes = _cart_snoozes(session, ids, now)
    rows = []
    for customer_id in ids:
        _, first, last, email, phone = people[customer_id]
        count, last_order = orders.get(customer_id, (0, None))
        summary = dues.get(customer_id)
        rows.append(
            CustomerRow(
                id=customer_id,
                name=display_name(first, last, email),
                email=email or "",
                phone=readable_phone(phone),
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
    recent = session.exec(
        select(
            Order.id,
            Order.name,
            Order.processed_at,
            Order.total_cents,
            Order.currency,
            Order.cancelled_at,
            Order.test,
        )
        .where(Order.customer_id == customer_id)
        .order_by(Order.processed_at.desc(), Order.id.desc())  # type: ignore[attr-defined, union-attr]
        .limit(RECENT_ORDERS)
    ).all()
    lines: dict[int, list[str]] = {order_id: [] for order_id, *_ in recent}
    if lines:
        for order_id, title, quantity in session.exec(
            select(OrderLine.order_id, OrderLine.title, OrderLine.quantity)
            .where(OrderLine.order_id.in_(lines))  # type: ignore[attr-defined]
            .order_by(OrderLine.order_id, OrderLine.id)
        ):
            lines[order_id].append(f"{title} × {quantity}" if quantity != 1 else title)
    recent_orders = [
        RecentOrder(
            name=name or f"Order {order_id}",
            processed_at=processed_at,
            total=format_money(total, currency),
            lines=lines[order_id],
            cancelled=cancelled_at is not None,
            test=bool(test),
        )
        for order_id, name, processed_at, total, currency, cancelled_at, test in recent
    ]
    snoozes = _snoozes(session, customer_id, now)
    snoozed_products = {s.product_id: s.until for s in snoozes if s.product_id is not None}
    due_products = []
    for row in session.exec(
        select(
            DueItem.product_id,
            Product.title,
            DueItem.due_at,
            DueItem.remind_at,
            DueItem.late_at,
            DueItem.interval_days,
            DueItem.interval_source,
        )
        .join(Product, Product.id == DueItem.product_id)
        .where(DueItem.customer_id == customer_id)
        .order_by(DueItem.due_at, DueItem.product_id)
    ):
        product_id, title, due_at, remind_at, late_at, interval, source = row
        due_products.append(
            DueProduct(
                product_id=product_id,
                title=title,
                due_at=due_at,
                remind_at=remind_at,
                late_at=late_at,
                interval_days=float(interval),
                interval_source=source,
                status=_product_status(
                    now, remind_at, late_at, due_at, snoozed_products.get(product_id)
                ),
            )
        )
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
        recent_orders=recent_orders,
        due_products=due_products,
        snoozes=snoozes,
        link_url=urls.url,
        link_preview_url=urls.preview_url,
    )


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
        .outerjoin(Product, Product.id == Snooze.product_id)
        .where(Snooze.customer_id == customer_id, Snooze.until > now)
        .order_by(Snooze.until)
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


def format_day(moment: datetime | None) -> str:
    """`Mar 4, 2026`: dates as a merchant reads them (UTC)."""
    return "" if moment is None else f"{moment:%b} {moment.day}, {moment.year}"
