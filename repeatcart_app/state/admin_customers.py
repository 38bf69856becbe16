"""The dashboard's Customers page state: the visible page of customers and one customer's panel.

Only the page on screen is held (25 rows of display strings); searching, sorting and paging
ask the database again. Every handler re-checks the session: each is a remote call.
"""

from __future__ import annotations

from typing import TypedDict

import reflex as rx

from repeatcart_app.state.auth import AuthState, admin_event
from repeatcart_app.state.paged_list import PagedList
from services.customers.directory import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_SORT,
    SORTS,
    CustomerDetail,
    CustomerNotFound,
    format_day,
    load_customer_detail,
    load_customer_page,
    normalize_sort,
    renew_customer_link,
    share_customer_link,
)
from services.customers.search import normalize_query

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
        shown = load_customer_page(self.query, self.sort, self.page, DEFAULT_PAGE_SIZE)
        self.searched = self.query
        self._show_page(shown)
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
            for row in shown.rows
        ]

    @admin_event
    def load(self):
        self.detail_open = False
        self._fetch()
        self.loaded = True

    @admin_event
    def set_query(self, value: str):
        """Typing in the search box (debounced in the browser): search from the first page."""
        self.query = self._clean_query(str(value))
        self._first_page()

    def _clean_query(self, raw: str) -> str:
        return normalize_query(raw)

    def _apply_sort(self, value: str) -> None:
        self.sort = normalize_sort(value)

    def _customer_gone(self) -> None:
        """The customer was deleted meanwhile: close the panel and show the list as it is."""
        self.detail_open = False
        self._fetch()
        self.detail_error = GONE

    def _show_detail(self, detail: CustomerDetail) -> None:
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

    @admin_event
    def open_customer(self, customer_id: int):
        self.detail_error = ""
        self.copied = False
        self.link_notice = ""
        number = _customer_id(customer_id)
        if number is None:
            self.detail_error = GONE
            return
        try:
            detail = load_customer_detail(number)
        except CustomerNotFound:
            self._customer_gone()
            return
        self._show_detail(detail)
        self.detail_open = True

    @admin_event
    def set_detail_open(self, open_: bool):
        self.detail_open = bool(open_)
        if not self.detail_open:
            self.copied = False
            self.link_notice = ""

    def _ensure_link(self) -> bool:
        try:
            urls = share_customer_link(self.detail_id)
        except CustomerNotFound:
            self._customer_gone()
            return False
        self.link_url = urls.url
        self.link_preview_url = urls.preview_url
        return True

    @admin_event
    def copy_link(self):
        if not self._ensure_link():
            return None
        self.copied = True
        return rx.set_clipboard(self.link_url)

    @admin_event
    def preview_link(self):
        """Preview when the customer had no link yet: make one, then open it in a new tab."""
        if not self._ensure_link():
            return None
        return rx.redirect(self.link_preview_url, is_external=True)

    @admin_event
    def rotate_link(self):
        try:
            detail = renew_customer_link(self.detail_id)
        except CustomerNotFound:
            self._customer_gone()
            return
        self._show_detail(detail)
        self.copied = False
        self.link_notice = "New link made. The old link now shows the expired page."
