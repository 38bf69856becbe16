"""The dashboard's Insights page state: one product's reorder-gap distribution and the customers
coming due over the next 30 days, both computed by `services.reporting.insights`."""

from __future__ import annotations

import reflex as rx

from repeatcart_app.state.admin_products import format_days
from repeatcart_app.state.auth import AuthState, require_admin
from repeatcart_app.state.paged_list import search_text
from services.core.db import session_scope
from services.core.tables import utcnow
from services.products import intervals as products_admin
from services.reporting import insights

PICKER_RESULTS = 8


class AdminInsightsState(AuthState):
    loaded: bool = False

    # product picker
    product_search: str = ""
    product_results: list[dict[str, str]] = []
    picker_message: str = ""

    # the chosen product's distribution
    product_id: int = 0
    product_title: str = ""
    bins: list[dict[str, str | int]] = []
    gaps: str = "0"
    customers: str = "0"
    p25: str = "—"
    median: str = "—"
    p75: str = "—"
    mean: str = "—"
    bin_days: int = 7
    median_bin: str = ""

    # customers due per day, next 30 days
    due_days: list[dict[str, str | int]] = []
    due_total: str = "0"
    due_peak: str = ""

    def _load_product(self, product_id: int) -> None:
        with session_scope() as session:
            result = insights.interval_distribution(session, product_id)
        if result is None:
            self.picker_message = "That product no longer exists."
            return
        self.product_id = result.product_id
        self.product_title = result.title
        # two series stacked on one bar, so the middle half (P25..P75) gets its own colour
        self.bins = [
            {
                "label": b.label,
                "middle": b.gaps if b.middle else 0,
                "outer": 0 if b.middle else b.gaps,
            }
            for b in result.bins
        ]
        self.gaps = f"{result.gaps:,}"
        self.customers = f"{result.customers:,}"
        self.p25 = format_days(result.p25)
        self.median = format_days(result.median)
        self.p75 = format_days(result.p75)
        self.mean = format_days(result.mean)
        self.bin_days = result.bin_days
        self.median_bin = result.label_of(result.median)
        self.picker_message = ""

    def _load_due(self) -> None:
        with session_scope() as session:
            now = utcnow()
            days = insights.due_per_day(session, now)
            total = insights.customers_due_within(session, now)
        self.due_days = [
            {"day": day.day.strftime("%b %-d"), "customers": day.customers} for day in days
        ]
        self.due_total = f"{total:,}"
        busiest = max(days, key=lambda day: day.customers, default=None)
        self.due_peak = (
            f"Busiest day: {busiest.day.strftime('%b %-d')} ({busiest.customers:,} customers)"
            if busiest is not None and busiest.customers
            else ""
        )

    @rx.event
    def load(self):
        denied = require_admin(self)
        if denied is not None:
            self.loaded = False
            return denied
        self._load_due()
        if not self.product_id:
            with session_scope() as session:
                top = products_admin.product_page(session, sort="n", descending=True, limit=1)
            if top.rows:
                self._load_product(top.rows[0].id)
        else:
            self._load_product(self.product_id)
        self.loaded = True
        return None

    @rx.event
    def search_products(self, form_data: dict):
        denied = require_admin(self)
        if denied is not None:
            return denied
        self.product_search = search_text(form_data.get("product_search"))
        if not self.product_search:
            self.product_results = []
            self.picker_message = ""
            return None
        with session_scope() as session:
            page = products_admin.product_page(
                session, self.product_search, sort="n", descending=True, limit=PICKER_RESULTS
            )
        self.product_results = [
            {"id": str(row.id), "title": row.title, "n": f"{row.n:,}"} for row in page.rows
        ]
        self.picker_message = "" if page.rows else "No product matches that search."
        return None

    @rx.event
    def choose_product(self, product_id: str):
        denied = require_admin(self)
        if denied is not None:
            return denied
        try:
            chosen = int(product_id)
        except ValueError:
            return None
        self._load_product(chosen)
        self.product_results = []
        return None
