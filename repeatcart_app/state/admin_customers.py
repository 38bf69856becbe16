"""The dashboard's Customers page state: the visible page of customers and one customer's panel.

Only the page on screen is held (25 rows of display strings); searching, sorting and paging
ask the database again. Every handler re-checks the session: each is a remote call.
"""

from __future__ import annotations

from typing import TypedDict

import reflex as rx

from repeatcart_app.state.auth import AuthState, require_admin
from repeatcart_app.state.paged_list import PagedList
from services.core.db import session_scope
from services.core.tables import utcnow
from services.customers.directory import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_SORT,
    SORTS,
    CustomerNotFound,
    customer_detail,
    customer_page,
    ensure_customer_link,
    format_day,
    normalise_query,
    normalise_sort,
    rotate_customer_link,
)

GONE = "This customer no longer exists. The list has been refreshed."


class CustomerRowView(TypedDict):
    id: int
    name: str
    email: str
    phone: str
    orders: str
    last_order: str
    next_due: str
    status: str
    status_kind: str


class OrderView(TypedDict):
    name: str
    date: str
    total: str
    lines: str
    note: str


class DueView(TypedDict):
    title: str
    due: str
    source: str
    status: str
    status_kind: str


class SnoozeView(TypedDict):
    title: str
    until: str


SOURCE_LABELS = {
    "override": "merchant override",
    "personal": "their own cadence",
    "product": "product interval",
    "store": "store interval",
    "default": "default interval",
}


def _customer_id(value: object) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class AdminCustomersState(PagedList, AuthState):
    loaded: bool = False
    sort: str = DEFAULT_SORT
    searched: str = ""  # the query the rows answer, for "No customer matches …"
    rows: list[CustomerRowView] = []

    detail_open: bool = False
    detail_loading: bool = False
    detail_id: int = 0
    detail_name: str = ""
    detail_email: str = ""
    detail_phone: str = ""
    detail_status: str = ""
    detail_status_kind: str = ""
    detail_orders: str = ""
    recent_orders: list[OrderView] = []
    due_products: list[DueView] = []
    snoozes: list[SnoozeView] = []
    link_url: str = ""
    link_preview_url: str = ""
    copied: bool = False
    link_notice: str = ""
    detail_error: str = ""

    @rx.var
    def sort_options(self) -> list[list[str]]:
        return [[key, label] for key, label in SORTS.items()]

    def _fetch(self) -> None:
        with session_scope() as session:
            result = customer_page(
                session, self.query, self.sort, self.page, DEFAULT_PAGE_SIZE, utcnow()
            )
        self.query = result.query
        self.sort = result.sort
        self.searched = result.query
        self._show_range(result.total, result.page, result.page_size)
        self.rows = [
            CustomerRowView(
                id=row.id,
                name=row.name,
                email=row.email,
                phone=row.phone,
                orders=f"{row.orders:,}",
                last_order=format_day(row.last_order_at) or "—",
                next_due=format_day(row.next_due_at) or "—",
                status=row.status.label,
                status_kind=row.status.kind,
            )
            for row in result.rows
        ]

    @rx.event
    def load(self):
        denied = require_admin(self)
        if denied is not None:
            self.loaded = False
            return denied
        self.detail_open = False
        self._fetch()
        self.loaded = True
        return None

    @rx.event
    def set_query(self, value: str):
        """Typing in the search box (debounced in the browser): search from the first page."""
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.query = self._clean_query(str(value))
        self._first_page()
        return None

    def _clean_query(self, raw: str) -> str:
        return normalise_query(raw)

    def _apply_sort(self, value: str) -> None:
        self.sort = normalise_sort(value)

    def _load_detail(self, customer_id: int) -> bool:
        """Fill the panel; False (and the list refreshed) when the customer is gone."""
        try:
            with session_scope() as session:
                detail = customer_detail(session, customer_id, utcnow())
        except CustomerNotFound:
            self.detail_open = False
            self._fetch()
            self.detail_error = GONE
            return False
        self.detail_id = detail.id
        self.detail_name = detail.name
        self.detail_email = detail.email
        self.detail_phone = detail.phone
        self.detail_status = detail.status.label
        self.detail_status_kind = detail.status.kind
        self.detail_orders = f"{detail.orders:,} order" + ("" if detail.orders == 1 else "s")
        self.recent_orders = [
            OrderView(
                name=order.name,
                date=format_day(order.processed_at),
                total=order.total,
                lines=", ".join(order.lines) or "No lines",
                note="Test" if order.test else ("Cancelled" if order.cancelled else ""),
            )
            for order in detail.recent_orders
        ]
        self.due_products = [
            DueView(
                title=item.title,
                due=format_day(item.due_at),
                source=(
                    f"every {item.interval_days:.0f} days · "
                    f"{SOURCE_LABELS.get(item.interval_source, item.interval_source)}"
                ),
                # the due date is on the line already
                status="Upcoming" if item.status.kind == "upcoming" else item.status.label,
                status_kind=item.status.kind,
            )
            for item in detail.due_products
        ]
        self.snoozes = [
            SnoozeView(title=snooze.title, until=format_day(snooze.until))
            for snooze in detail.snoozes
        ]
        self.link_url = detail.link_url
        self.link_preview_url = detail.link_preview_url
        return True

    @rx.event
    def open_customer(self, customer_id: int):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.detail_error = ""
        self.copied = False
        self.link_notice = ""
        number = _customer_id(customer_id)
        if number is None:
            self.detail_error = GONE
            return None
        if self._load_detail(number):
            self.detail_open = True
        return None

    @rx.event
    def set_detail_open(self, open_: bool):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.detail_open = bool(open_)
        if not self.detail_open:
            self.copied = False
            self.link_notice = ""
        return None

    def _ensure_link(self) -> bool:
        try:
            with session_scope() as session:
                urls = ensure_customer_link(session, self.detail_id)
        except CustomerNotFound:
            self.detail_open = False
            self._fetch()
            self.detail_error = GONE
            return False
        self.link_url = urls.url
        self.link_preview_url = urls.preview_url
        return True

    @rx.event
    def copy_link(self):
        denied = require_admin(self)
        if denied is not None:
            return denied
        if not self._ensure_link():
            return None
        self.copied = True
        return rx.set_clipboard(self.link_url)

    @rx.event
    def preview_link(self):
        """Preview when the customer had no link yet: make one, then open it in a new tab."""
        denied = require_admin(self)
        if denied is not None:
            return denied
        if not self._ensure_link():
            return None
        return rx.redirect(self.link_preview_url, is_external=True)

    @rx.event
    def rotate_link(self):
        denied = require_admin(self)
        if denied is not None:
            return denied
        try:
            with session_scope() as session:
                self.link_url = rotate_customer_link(session, self.detail_id)
        except CustomerNotFound:
            self.detail_open = False
            self._fetch()
            self.detail_error = GONE
            return None
        self._load_detail(self.detail_id)
        self.copied = False
        self.link_notice = "New link made. The old link now shows the expired page."
        return None
